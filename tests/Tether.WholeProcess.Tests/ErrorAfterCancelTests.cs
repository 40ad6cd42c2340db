using System.Diagnostics;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Timeouts;

/// <summary>TIMEOUT-11. Process alone: it forces a GC to surface unobserved task exceptions and listens to the
/// process-wide TaskScheduler.UnobservedTaskException, which would also see (and be failed by) the abandoned tasks of
/// tests running beside it.</summary>
[Collection(CensusCollection.Name)]
public sealed class ErrorAfterCancelTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    [Trait("Spec", "TIMEOUT-11")]
    public async Task TIMEOUT_11_error_arriving_after_cancel_is_swallowed_without_unobserved_exceptions()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.ResetMidBody, new HostileServerOptions { ResetDelay = TimeSpan.FromMilliseconds(300) });
        var check = LeakCheck.Start(server, hostile.Port);
        var unobserved = new List<Exception>();
        EventHandler<UnobservedTaskExceptionEventArgs> handler = (_, e) => { lock (unobserved) { unobserved.Add(e.Exception); } };
        TaskScheduler.UnobservedTaskException += handler;
        try
        {
            await using (var client = new AsyncHttpClient())
            {
                for (var i = 0; i < 5; i++)
                {
                    using var cts = new CancellationTokenSource(100);
                    await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.FetchAsync(hostile.Url("/").ToString(), cts.Token));
                }

                // Wait for the condition the old 400 ms sleep hoped for: the server has sent its resets and closed
                // every connection, and no client socket towards it is left open (bounded; unloaded it takes the
                // 300 ms reset delay). Not "accepted 5": under load a 100 ms cancel can land before a fetch has
                // connected at all (a run at load 45 saw 4 accepted); such a fetch has no late error to swallow.
                var hostilePort = new HashSet<int> { hostile.Port };
                // The server resets each connection 300 ms after accepting it; 10 s is the margin for a loaded 2-core
                // machine.
                var waited = Stopwatch.StartNew();
                while (hostile.AcceptedConnections < 1 || hostile.OpenConnections > 0 || OwnTcpSockets.AnyOpenTowards(hostilePort))
                {
                    Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10),
                        $"the hostile server did not reset its connections within 10 s (accepted {hostile.AcceptedConnections}, open {hostile.OpenConnections}, client sockets open {OwnTcpSockets.AnyOpenTowards(hostilePort)})");
                    await Task.Delay(10);
                }
            }

            // Finalizers are what report unobserved task exceptions, so only here is a collection forced.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            Assert.Empty(unobserved);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= handler;
        }

        await check.AssertCleanAsync();
    }
}
