using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Tether.Diagnostics;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Core;

/// <summary>CORE-11 (issue 16, item "an HTTP/2 server that goes silent keeps receiving new requests until each times
/// out (no PING health check)"; golang/go#59690): HTTP/2 over TLS (ALPN h2) to Kestrel through a relay that can go
/// silent with the sockets open.</summary>
public sealed class CoreNetHealthCheckTests
{
    [Fact]
    [Trait("Spec", "CORE-11")]
    [Trait("Category", "Timing")]
    public async Task CORE_11_a_silent_http2_connection_is_retired_by_ping_and_the_next_request_uses_a_new_one()
    {
        await using var server = await KestrelTestServer.StartAsync(new KestrelTestServerOptions { Https = true });
        await using var relay = CoreNetSilentRelay.Start(server.HttpsBaseUri!.Port);
        await using var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            // The smallest values the handler accepts; the policy is the default (Always: idle connections too).
            KeepAlivePingDelay = TimeSpan.FromSeconds(1),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(1),
        });
        Assert.Equal(HttpKeepAlivePingPolicy.Always, pool.Options.KeepAlivePingPolicy);
        var url = new Uri($"https://127.0.0.1:{relay.Port}/hello");
        FetchRequest Request() => new(url)
        {
            HttpVersion = new Version(2, 0),
            CaCertificates = new X509Certificate2Collection(server.CaCertificate),
            RequestTimeout = TimeSpan.FromSeconds(10),
        };

        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool }))
        {
            // The handler sends a PING KeepAlivePingDelay after the last frame it received and gives up on the
            // connection KeepAlivePingTimeout after that PING: at least 2 s after a frame that can only have arrived
            // after this point (timing from the silencing instead can fail under load: a PING sent just before it whose
            // ACK the silence then swallows times out less than 1 s after the silencing).
            var firstBegan = Stopwatch.GetTimestamp();
            var first = await client.FetchAsync(Request());
            Assert.Equal((200, new Version(2, 0)), (first.Code, first.Version));
            var dead = Assert.Single(pool.Snapshot());
            Assert.Equal(1, relay.Accepted);

            // The server goes silent: the socket stays open, no frame (no PING ACK) comes back.
            relay.SilenceExisting();
            // Expected after KeepAlivePingDelay + KeepAlivePingTimeout + the handler's ~1 s heartbeat, about 3 s. Bound
            // 20 s: a wide margin for a loaded 2-core machine, and still far below what no health check gives (the
            // connection would stay for the whole IdleTimeout of 60 s).
            await WaitUntil(() => pool.Snapshot().All(e => e.Id != dead.Id), TimeSpan.FromSeconds(20),
                () => $"the silent connection {dead.Id} to be retired; ledger: {string.Join("; ", pool.Snapshot())}");
            var retiredAfter = Stopwatch.GetElapsedTime(firstBegan);
            // 2 s less 100 ms for the handler's millisecond clock (Environment.TickCount64) against the stopwatch.
            Assert.True(retiredAfter >= TimeSpan.FromMilliseconds(1900),
                $"retired {retiredAfter} after the first fetch began, before a PING could have been due and timed out");
            // The socket closes as the connection is retired (milliseconds unloaded); 5 s for a loaded 2-core machine.
            await WaitUntil(() => relay.ClosedByClient == 1, TimeSpan.FromSeconds(5), () => "the client to close the silent connection's socket");

            var started = Stopwatch.GetTimestamp();
            var second = await client.FetchAsync(Request());
            var elapsed = Stopwatch.GetElapsedTime(started);
            Assert.Equal((200, new Version(2, 0)), (second.Code, second.Version));
            Assert.Equal(KestrelTestServer.HelloText, second.Text);
            Assert.Equal(2, relay.Accepted); // a new connection, not the dead one
            // A fresh TLS connection on loopback takes milliseconds; 5 s (half the request timeout) is the loaded-machine
            // margin, and a request sent on the dead connection would only end at the 10 s request timeout.
            Assert.True(elapsed < TimeSpan.FromSeconds(5), $"the next request took {elapsed}");
            Assert.DoesNotContain(pool.Snapshot(), e => e.Id == dead.Id);
        }

        await pool.CloseAsync();
        Assert.Empty(pool.Snapshot());
        Assert.DoesNotContain(SocketLedger.Snapshot(), e => e.Pool == pool.Name);
        Assert.DoesNotContain(SocketCensus.Take().TcpSockets, s => s.Remote.Port == relay.Port
            && s.Remote.Address.Equals(IPAddress.Loopback) && s.State is TcpState.Established or TcpState.CloseWait);
    }

    [Fact]
    [Trait("Spec", "CORE-11")]
    public void CORE_11_ping_options_have_documented_defaults_and_are_validated()
    {
        var defaults = new ConnectionPoolOptions();
        Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(15), HttpKeepAlivePingPolicy.Always),
            (defaults.KeepAlivePingDelay, defaults.KeepAlivePingTimeout, defaults.KeepAlivePingPolicy));
        var bad = new ConnectionPoolOptions
        {
            KeepAlivePingDelay = TimeSpan.FromMilliseconds(500),
            KeepAlivePingTimeout = TimeSpan.Zero,
            ConnectAttemptDelay = TimeSpan.FromSeconds(5),
        };
        var problems = bad.Validate().ToList();
        Assert.Contains(problems, p => p.StartsWith("KeepAlivePingDelay = 00:00:00.5000000", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("KeepAlivePingTimeout = 00:00:00", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ConnectAttemptDelay = 00:00:05", StringComparison.Ordinal));
        Assert.Empty(new ConnectionPoolOptions { KeepAlivePingDelay = Timeout.InfiniteTimeSpan }.Validate());
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan limit, Func<string> what)
    {
        var started = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(started) > limit)
            {
                Assert.Fail($"Waited {limit} for {what()}");
            }

            await Task.Delay(20);
        }
    }
}
