using System.Diagnostics;
using Tether.Diagnostics;
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

                // Wait for the condition the old 400 ms sleep hoped for: the server has reset and closed every
                // connection that carried a request, and no client socket towards it is open beyond the connections
                // that never carried one (bounded; unloaded it takes the 300 ms reset delay). Neither "accepted 5" nor
                // "nothing open": under load a 100 ms cancel can land before a fetch has connected (a run at load 45
                // saw 4 accepted), and the connection attempt is the pool's, not the fetch's (CORE-02), so it can
                // complete after the cancel and wait idle in the pool with no request sent. Such a connection has no
                // late error to swallow; the client's disposal closes it, and LeakCheck below proves that.
                // The server resets each connection 300 ms after its request; 10 s is the margin for a loaded 2-core
                // machine.
                var waited = Stopwatch.StartNew();
                while (!AllRequestedConnectionsReset(hostile, out var state))
                {
                    Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10),
                        $"the hostile server did not reset its connections within 10 s ({state})");
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

    // True when at least one request reached the server, every connection that carried one is closed on both ends, and
    // what is still open (server ends, and client ends towards the server) is at most the connections that carried none.
    private static bool AllRequestedConnectionsReset(HostileServer hostile, out string state)
    {
        var perConnection = hostile.RequestsOnConnection;
        var requested = perConnection.Count(n => n > 0);
        var unused = perConnection.Count - requested;
        var open = hostile.OpenConnections;
        var clientEnds = OwnTcpSockets.Snapshot().Count(s =>
            s.RemotePort == hostile.Port && s.State is TcpState.Established or TcpState.CloseWait);
        state = $"accepted {perConnection.Count}, with a request {requested}, server ends open {open}, client ends open {clientEnds}";
        return requested >= 1 && open <= unused && clientEnds <= unused;
    }
}
