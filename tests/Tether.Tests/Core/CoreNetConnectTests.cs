using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Tether.Diagnostics;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Core;

/// <summary>CORE-12 (issue 16, item "a host name whose first address drops SYNs silently spends the whole
/// ConnectTimeout on it"; urllib3 #2055; RFC 8305): the addresses of a name are raced.</summary>
/// <remarks>The silently dropping address is made with sockets only: a listener on 127.0.0.2 with a backlog of 0
/// whose accept queue is filled by one connection that is never accepted. Linux then drops every further SYN to it
/// (the client retransmits and waits), which is what a firewall that drops SYNs looks like from the client.</remarks>
public sealed class CoreNetConnectTests
{
    private static readonly IPAddress s_blackholeAddress = IPAddress.Parse("127.0.0.2");

    [Theory]
    [Trait("Spec", "CORE-12")]
    [Trait("Category", "Timing")]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CORE_12_first_address_dropping_syns_costs_one_attempt_delay_not_the_connect_timeout(bool http2)
    {
        await using var server = await KestrelTestServer.StartAsync(new KestrelTestServerOptions { Https = http2 });
        var baseUri = http2 ? server.HttpsBaseUri! : server.BaseUri;
        var port = baseUri.Port;
        using var blackhole = SynDroppingListener.Start(s_blackholeAddress, port);

        var resolved = 0;
        await using var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            // The name resolves to the dropping address first, then to the server (127.0.0.1, same port).
            HostResolver = (host, _, _) =>
            {
                Interlocked.Increment(ref resolved);
                return Task.FromResult(host == "localhost"
                    ? new[] { s_blackholeAddress, IPAddress.Loopback }
                    : throw new SocketException((int)SocketError.HostNotFound));
            },
        });
        var connectTimeout = TimeSpan.FromSeconds(10);
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool }))
        {
            var started = Stopwatch.GetTimestamp();
            var response = await client.FetchAsync(new FetchRequest(new Uri($"{baseUri.Scheme}://localhost:{port}/hello"))
            {
                ConnectTimeout = connectTimeout,
                RequestTimeout = TimeSpan.FromSeconds(20),
                HttpVersion = http2 ? new Version(2, 0) : null,
                CaCertificates = http2 ? new X509Certificate2Collection(server.CaCertificate) : null,
            });
            var elapsed = Stopwatch.GetElapsedTime(started);

            Assert.Equal(200, response.Code);
            Assert.Equal(KestrelTestServer.HelloText, response.Text);
            Assert.Equal(http2 ? new Version(2, 0) : new Version(1, 1), response.Version);
            Assert.Equal(1, Volatile.Read(ref resolved));
            // Expected ~250 ms (one ConnectAttemptDelay) plus the request. Without racing the first address would take
            // all of ConnectTimeout (10 s). Bound: half of it, a 4.75 s margin for a loaded 2-core machine.
            Assert.True(elapsed < connectTimeout / 2, $"the fetch took {elapsed}; the race should end after ~250 ms");
            Assert.True(elapsed >= TimeSpan.FromMilliseconds(200),
                $"the fetch took {elapsed}: the first address cannot have been tried for a whole attempt delay first");

            var entry = Assert.Single(pool.Snapshot());
            Assert.Equal(new IPEndPoint(IPAddress.Loopback, port), entry.RemoteEndPoint);
            // The losing attempt's socket is closed before the connect returns: nothing of ours is left in SYN_SENT
            // towards the dropping address (the only socket towards it is the test's own queue filler).
            var towardsBlackhole = SocketCensus.Take().TcpSockets
                .Where(s => s.Remote.Address.Equals(s_blackholeAddress) && s.Remote.Port == port).ToList();
            Assert.DoesNotContain(towardsBlackhole, s => s.State == TcpState.SynSent);
            Assert.Equal(blackhole.FillerCount, towardsBlackhole.Count);
        }

        await pool.CloseAsync();
        Assert.Empty(pool.Snapshot());
        Assert.DoesNotContain(SocketLedger.Snapshot(), e => e.Pool == pool.Name);
        Assert.DoesNotContain(SocketCensus.Take().TcpSockets,
            s => s.Remote.Port == port && s.Remote.Address.Equals(IPAddress.Loopback) && s.State is TcpState.Established or TcpState.CloseWait);
    }

    [Fact]
    [Trait("Spec", "CORE-12")]
    [Trait("Category", "Timing")]
    public async Task CORE_12_every_address_dropping_syns_ends_at_the_connect_timeout_with_every_attempt_closed()
    {
        await using var server = await KestrelTestServer.StartAsync();
        var port = server.Port;
        var second = IPAddress.Parse("127.0.0.3");
        using var blackhole1 = SynDroppingListener.Start(s_blackholeAddress, port);
        using var blackhole2 = SynDroppingListener.Start(second, port);
        await using var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            HostResolver = (_, _, _) => Task.FromResult(new[] { s_blackholeAddress, second }),
        });
        var connectTimeout = TimeSpan.FromSeconds(1);
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool }))
        {
            var started = Stopwatch.GetTimestamp();
            var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(
                new FetchRequest(new Uri($"http://localhost:{port}/hello")) { ConnectTimeout = connectTimeout }));
            var elapsed = Stopwatch.GetElapsedTime(started);

            Assert.Equal((599, FetchErrorKind.ConnectTimeout), (error.Code, error.Kind));
            // "Within T" (spec Timing rule): no earlier than 1 s, no later than 1 s + max(250 ms, 500 ms); the upper
            // bound is widened to +2 s for a loaded 2-core machine running the suite in parallel.
            // The lower bound allows the runtime timer's granularity: .NET timers run on a coarse millisecond clock
            // (CLOCK_MONOTONIC_COARSE on Linux, a few ms per tick) while this test reads Stopwatch, so a 1 s timer was
            // seen to fire at 0.9993 s by Stopwatch in a full-suite run. 10 ms covers the coarse tick.
            Assert.True(elapsed >= connectTimeout - TimeSpan.FromMilliseconds(10), $"failed after {elapsed}, before the connect timeout");
            Assert.True(elapsed < connectTimeout + TimeSpan.FromSeconds(2), $"failed after {elapsed}");

            // Both attempts (one per address) were closed by the deadline: no socket of ours is in SYN_SENT to either.
            var pending = SocketCensus.Take().TcpSockets.Where(s => s.Remote.Port == port && s.State == TcpState.SynSent).ToList();
            Assert.True(pending.Count == 0, "sockets still connecting: " + string.Join(", ", pending));
            Assert.Empty(pool.Snapshot());
        }
    }

    [Fact]
    [Trait("Spec", "CORE-12")]
    [Trait("Category", "Timing")]
    public async Task CORE_12_a_refused_address_starts_the_next_attempt_at_once_and_all_refused_is_a_refused_599()
    {
        // A port nobody listens on (bound, then closed): every address refuses at once.
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        await using var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            ConnectAttemptDelay = TimeSpan.FromSeconds(2), // the largest allowed: waiting for it would show
            HostResolver = (_, _, _) => Task.FromResult(new[] { s_blackholeAddress, IPAddress.Parse("127.0.0.3"), IPAddress.Loopback }),
        });
        await using var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool });
        var started = Stopwatch.GetTimestamp();
        var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(
            new FetchRequest(new Uri($"http://localhost:{port}/")) { ConnectTimeout = TimeSpan.FromSeconds(10) }));
        var elapsed = Stopwatch.GetElapsedTime(started);

        Assert.Equal((599, FetchErrorKind.ConnectionRefused), (error.Code, error.Kind));
        // Three refusals take milliseconds; waiting one attempt delay (2 s) per address would take 4 s. Bound 1.5 s:
        // the margin for a loaded machine, still below one delay.
        Assert.True(elapsed < TimeSpan.FromMilliseconds(1500), $"three refused addresses took {elapsed}");
        Assert.Empty(pool.Snapshot());
        Assert.DoesNotContain(SocketCensus.Take().TcpSockets, s => s.Remote.Port == port);
    }

    [Fact]
    [Trait("Spec", "CORE-12")]
    public void CORE_12_addresses_are_tried_in_rfc8305_order_alternating_families()
    {
        var v6a = IPAddress.Parse("::1");
        var v6b = IPAddress.Parse("fe80::1");
        var v6c = IPAddress.Parse("fe80::2");
        var v4a = IPAddress.Parse("127.0.0.1");
        var v4b = IPAddress.Parse("127.0.0.2");
        Assert.Equal([v6a, v4a, v6b, v4b, v6c], AddressConnector.Interleave([v6a, v6b, v6c, v4a, v4b]));
        Assert.Equal([v4a, v6a, v4b, v6b], AddressConnector.Interleave([v4a, v4b, v6a, v6b]));
        Assert.Equal([v4a, v4b], AddressConnector.Interleave([v4a, v4b]));
    }

    /// <summary>A listener whose accept queue is full (backlog 0, one connection never accepted): Linux drops every
    /// further SYN to it silently. Checked at start: a probe connect must not complete.</summary>
    internal sealed class SynDroppingListener : IDisposable
    {
        private readonly Socket _listener;
        private readonly List<Socket> _fillers = [];

        private SynDroppingListener(Socket listener) => _listener = listener;

        public int FillerCount => _fillers.Count;

        /// <summary>The port it listens on (the one asked for, or the one the kernel chose for port 0).</summary>
        public int Port { get; private set; }

        public static SynDroppingListener Start(IPAddress address, int port)
        {
            var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var result = new SynDroppingListener(listener);
            try
            {
                listener.Bind(new IPEndPoint(address, port));
                port = ((IPEndPoint)listener.LocalEndPoint!).Port;
                result.Port = port;
                listener.Listen(0);
                // Fill the queue: connect until a connect no longer completes (bounded: 4 tries of at most 500 ms).
                // Each try is a blocking connect(2) bounded by SO_SNDTIMEO, as TimeoutTests.FillAcceptQueueAsync does
                // (issue 13's audit): on loopback the handshake completes inside that call while the queue has room,
                // so "full" is the kernel's answer. The earlier form cancelled an async connect after 300 ms, and on a
                // loaded machine a completed connect whose continuation ran late read as "full" too early.
                for (var i = 0; i < 4; i++)
                {
                    var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { SendTimeout = 500 };
                    try
                    {
                        filler.Connect(new IPEndPoint(address, port));
                        result._fillers.Add(filler);
                    }
                    // AlreadyInProgress (EALREADY): a signal (the runtime suspends threads with one) interrupted connect(2) and the
                    // runtime's retry found the first handshake still pending, which on loopback also means no answer came.
                    catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.InProgress or SocketError.WouldBlock
                        or SocketError.AlreadyInProgress)
                    {
                        filler.Dispose();
                        return result; // this SYN was dropped: the queue is full
                    }
                    catch
                    {
                        filler.Dispose();
                        throw;
                    }
                }

                throw new InvalidOperationException($"{address}:{port} kept accepting handshakes: cannot simulate a SYN drop here.");
            }
            catch
            {
                result.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            foreach (var filler in _fillers)
            {
                filler.Dispose();
            }

            _listener.Dispose();
        }
    }
}
