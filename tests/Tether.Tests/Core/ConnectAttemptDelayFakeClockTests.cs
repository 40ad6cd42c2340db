using System.Net;
using System.Net.Sockets;
using Tether.Diagnostics;
using Tether.TestServer;
using Tether.Tests.Timeouts;
using Xunit;
using static Tether.Tests.Timeouts.FakeClockAssert;

namespace Tether.Tests.Core;

/// <summary>
/// Issue 16 review finding 5: CORE-12's address race (<c>AddressConnector</c>, RFC 8305) on a fake clock. The pool's
/// <see cref="ConnectionPoolOptions.ConnectAttemptDelay"/> and the attempt's <c>ConnectTimeout</c> run on the pool's
/// <see cref="ConnectionPoolOptions.TimeProvider"/> (a <see cref="DeadlineClock"/>), so "the next address is not tried
/// 1 ms before the delay, and is tried at it" and "the race ends exactly at the connect deadline" are exact. The sockets
/// are real: the name resolves (test hook <c>HostResolver</c>) to addresses on the loopback network 127.0.0.0/8 on one
/// port, those that must stay silent being <see cref="CoreNetConnectTests.SynDroppingListener"/>s (a full accept
/// queue: Linux drops further SYNs without answering, as a firewall does). The real-time versions are in
/// <see cref="CoreNetConnectTests"/>.
/// </summary>
public sealed class ConnectAttemptDelayFakeClockTests
{
    private static readonly IPAddress s_silent1 = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress s_silent2 = IPAddress.Parse("127.0.0.3");
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Issue 16 review finding: CORE-12 had no test of the attempt delay's logic on a fake clock.
    [Fact]
    [Trait("Spec", "CORE-12")]
    public async Task CORE_12_the_next_address_is_tried_exactly_at_the_connect_attempt_delay_on_the_pools_clock()
    {
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: Ct);
        var port = server.Port;
        using var silent = CoreNetConnectTests.SynDroppingListener.Start(s_silent1, port);
        var clock = new DeadlineClock();
        await using var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            TimeProvider = clock,
            HostResolver = (_, _, _) => Task.FromResult(new[] { s_silent1, IPAddress.Loopback }),
        });
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool, TimeProvider = clock }))
        {
            var accepted = server.AcceptedConnections;
            var fetch = client.FetchAsync(new FetchRequest(new Uri($"http://localhost:{port}/hello"))
            {
                ConnectTimeout = TimeSpan.FromSeconds(10), RequestTimeout = Timeout.InfiniteTimeSpan,
            }, Ct);
            var delay = await clock.WaitArmedAsync(Delay, "the connection attempt delay");
            await WaitUntil(() => SynSentTowards(s_silent1, port) == 1, "the first attempt's SYN towards the silent address");

            clock.Advance(Delay - Ms);
            Assert.False(delay.HasFired, "the attempt delay fired before its time");
            // Real time passes meanwhile: the second address must still be untried (the first attempt gets its delay).
            // A negative check needs a window, and this delay is it (part of the scenario, not a wait for a result):
            // an attempt delay that was skipped or had already ended starts the loopback attempt at once, and within
            // these 200 ms (milliseconds unloaded) the server accepts and the fetch ends, failing the checks below.
            // Load can only make the window catch less, never fail a correct pool.
            await Task.Delay(200, Ct);
            Assert.False(fetch.IsCompleted, $"the fetch ended before the attempt delay: {fetch.Exception?.InnerException?.Message ?? fetch.Status.ToString()}");
            Assert.Equal(accepted, server.AcceptedConnections);

            clock.Advance(Ms);
            var finished = await Task.WhenAny(fetch, Task.Delay(DeadlineClock.RealBound, Ct));
            Assert.True(ReferenceEquals(finished, fetch), $"waited {DeadlineClock.RealBound.TotalSeconds:0} s for the fetch after the attempt delay");
            var response = await fetch;
            Assert.Equal((200, KestrelTestServer.HelloText), (response.Code, response.Text));
            Assert.Equal(accepted + 1, server.AcceptedConnections);
            var entry = Assert.Single(pool.Snapshot());
            Assert.Equal(new IPEndPoint(IPAddress.Loopback, port), entry.RemoteEndPoint);
            Assert.Equal(0, SynSentTowards(s_silent1, port)); // the losing attempt was closed when the race ended
        }

        await pool.CloseAsync();
        Assert.Empty(pool.Snapshot());
        Assert.DoesNotContain(SocketCensus.Take().TcpSockets, s => s.Remote.Port == port
            && s.Remote.Address.Equals(IPAddress.Loopback) && s.State is TcpState.Established or TcpState.CloseWait);
    }

    // Issue 16 review finding: there is no per-address deadline; the pool's ConnectTimeout bounds the whole race, on the
    // pool's clock, whatever the number of addresses.
    [Fact]
    [Trait("Spec", "CORE-12")]
    public async Task CORE_12_when_every_address_is_silent_the_race_ends_exactly_at_the_connect_timeout_on_the_pools_clock()
    {
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: Ct); // holds the port on 127.0.0.1
        var port = server.Port;
        using var silent1 = CoreNetConnectTests.SynDroppingListener.Start(s_silent1, port);
        using var silent2 = CoreNetConnectTests.SynDroppingListener.Start(s_silent2, port);
        var clock = new DeadlineClock();
        var connectTimeout = TimeSpan.FromSeconds(2);
        await using var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            TimeProvider = clock,
            HostResolver = (_, _, _) => Task.FromResult(new[] { s_silent1, s_silent2 }),
        });
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool, TimeProvider = clock }))
        {
            var fetch = client.FetchAsync(new FetchRequest(new Uri($"http://localhost:{port}/hello"))
            {
                ConnectTimeout = connectTimeout, RequestTimeout = Timeout.InfiniteTimeSpan,
            }, Ct);
            var deadline = await clock.WaitArmedAsync(connectTimeout, "the connect attempt's deadline");
            await clock.WaitArmedAsync(Delay, "the connection attempt delay");
            await WaitUntil(() => SynSentTowards(s_silent1, port) == 1, "the first attempt's SYN");
            Assert.Equal(0, SynSentTowards(s_silent2, port));

            clock.Advance(Delay);
            await WaitUntil(() => SynSentTowards(s_silent2, port) == 1, "the second attempt's SYN, started at the attempt delay");
            Assert.Equal(1, SynSentTowards(s_silent1, port)); // the first attempt keeps running (RFC 8305 §5)

            clock.Advance(connectTimeout - Delay - Ms);
            Assert.False(deadline.HasFired, "the connect deadline fired early");
            Assert.False(fetch.IsCompleted, $"the fetch ended before its connect timeout: {fetch.Exception?.InnerException?.Message ?? fetch.Status.ToString()}");

            clock.Advance(Ms);
            var finished = await Task.WhenAny(fetch, Task.Delay(DeadlineClock.RealBound, Ct));
            Assert.True(ReferenceEquals(finished, fetch), $"waited {DeadlineClock.RealBound.TotalSeconds:0} s for the connect timeout");
            var e = await Assert.ThrowsAsync<FetchException>(() => fetch);
            Assert.Equal((599, FetchErrorKind.ConnectTimeout), (e.Code, e.Kind));
            // Both attempts were closed by the deadline.
            Assert.Equal((0, 0), (SynSentTowards(s_silent1, port), SynSentTowards(s_silent2, port)));
            Assert.Empty(pool.Snapshot());
        }
    }

    private static int SynSentTowards(IPAddress address, int port) =>
        SocketCensus.Take().TcpSockets.Count(s => s.State == TcpState.SynSent && s.Remote.Port == port && s.Remote.Address.Equals(address));
}
