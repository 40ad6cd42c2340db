using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Tether.Tests.Replay;
using Xunit;

namespace Tether.Tests.Http;

/// <summary>CLIENT-19: the runtime facts that TimeInfo's docs give for reporting Connect and Tls as zero, checked on a
/// plain <see cref="HttpClient"/> (no Tether code), so that a runtime that starts linking a waiting request to the
/// connection it gets fails here and the decision is looked at again.</summary>
/// <remarks>An <see cref="ActivityListener"/> is process-wide and other tests run beside this one: the listener samples
/// only activities started in this test's own flow (an <see cref="AsyncLocal{T}"/> set here, which the listener's
/// callbacks see because they run in the starting code's context), so other tests' requests get no activity and no
/// trace header.</remarks>
public sealed class TimeInfoSignalTests
{
    private const string ConnectionsSource = "Experimental.System.Net.Http.Connections";
    private const string RequestSource = "System.Net.Http";
    private static readonly AsyncLocal<bool> s_mine = new();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    [Trait("Spec", "CLIENT-19")]
    public async Task CLIENT_19_the_runtime_links_a_request_to_its_connection_only_through_its_own_sampled_request_activity()
    {
        await using var server = ScriptServer.Start(async (c, ct) =>
        {
            while (await c.ReadRequestAsync(ct) is not null)
            {
                await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", ct);
            }
        });
        var stopped = new ConcurrentQueue<Activity>();
        var connectRanIn = new ConcurrentQueue<string?>();
        ActivityListener Listen(string source) => new()
        {
            ShouldListenTo = s => s.Name == source,
            // PropagationData, not AllData: the most a timing signal would need.
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => s_mine.Value ? ActivitySamplingResult.PropagationData : ActivitySamplingResult.None,
            ActivityStopped = a =>
            {
                if (s_mine.Value)
                {
                    stopped.Enqueue(a);
                }
            },
        };
        HttpClient NewClient() => new(new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                connectRanIn.Enqueue(Activity.Current?.OperationName);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        });

        s_mine.Value = true;
        using (var connections = Listen(ConnectionsSource))
        {
            ActivitySource.AddActivityListener(connections);

            // 1. The connection source alone: the connect callback runs inside "HTTP connection_setup"; whatever else
            // it records for the request that waited (a wait activity exists only while the handler's telemetry is on,
            // which another test's meter listener may do) carries no link to the connection.
            using (var client = NewClient())
            {
                Assert.Equal("ok", await client.GetStringAsync(server.Url("/a"), Ct));
            }

            Assert.Equal([ConnectionsSource + ".ConnectionSetup"], connectRanIn);
            Assert.All(stopped, a => Assert.Empty(a.Links));
            var setups = stopped.Where(a => a.OperationName.EndsWith(".ConnectionSetup", StringComparison.Ordinal)).ToList();
            Assert.Single(setups);
            stopped.Clear();

            // 2. With the request source sampled too: the first request waits for a new connection, the second reuses
            // it, and both request activities carry the same link to that connection's setup (the link does not tell a
            // reused connection from a new one); the wait activity has no link; and the handler now sends a traceparent
            // header, which a request not sampled (another flow) does not get.
            using var requests = Listen(RequestSource);
            ActivitySource.AddActivityListener(requests);
            using (var client = NewClient())
            {
                Assert.Equal("ok", await client.GetStringAsync(server.Url("/first"), Ct));
                Assert.Equal("ok", await client.GetStringAsync(server.Url("/second"), Ct));
                Assert.Equal("ok", await UnsampledGetAsync(client, server.Url("/unsampled")));
            }

            var setup = Assert.Single(stopped, a => a.OperationName.EndsWith(".ConnectionSetup", StringComparison.Ordinal));
            var wait = Assert.Single(stopped, a => a.OperationName.EndsWith(".WaitForConnection", StringComparison.Ordinal));
            Assert.Empty(wait.Links);
            var sent = stopped.Where(a => a.Source.Name == RequestSource).ToList();
            Assert.Equal(2, sent.Count);
            Assert.All(sent, a => Assert.Equal([setup.SpanId], a.Links.Select(l => l.Context.SpanId)));
        }

        Assert.Equal(2, server.AcceptedConnections);
        var received = server.Requests.ToDictionary(r => r.Target, r => r.Header("traceparent"));
        Assert.Null(received["/a"]);
        Assert.NotNull(received["/first"]);
        Assert.NotNull(received["/second"]);
        Assert.Null(received["/unsampled"]);
    }

    private static async Task<string> UnsampledGetAsync(HttpClient client, string url)
    {
        s_mine.Value = false; // this flow only: an async method's change does not reach its caller
        return await client.GetStringAsync(url, Ct);
    }
}
