using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tether.Diagnostics;
using Tether.Tests.Support;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Core;

/// <summary>CORE-06 (issue 16, items "_hostSlots, _transports, the leak tracker's site and churn tables never shrink;
/// a rotated proxy password or per-request MaxHeaderSize adds a handler per value"): per-key state is bounded.</summary>
/// <remarks>In the census collection (not parallel) because it compares the process's managed heap before and after.</remarks>
[Collection(CensusCollection.Name)]
public sealed class CoreNetBoundedTablesTests
{
    private const int Keys = 10_000;
    private const int Batch = 500;

    [Fact]
    [Trait("Spec", "CORE-06")]
    [Trait("Category", "Timing")]
    public async Task CORE_06_ten_thousand_distinct_host_port_keys_leave_bounded_tables_and_heap_after_idle_timeout()
    {
        var idle = TimeSpan.FromSeconds(1);
        await using var client = new AsyncHttpClient(new AsyncHttpClientOptions
        {
            MaxClients = 64,
            PoolOptions = new ConnectionPoolOptions { IdleTimeout = idle },
        });
        // Warm-up: every code path has run at the test's concurrency (the runtime's own per-concurrency structures:
        // thread-pool queues, socket engine, timers) and the pool's tables have drained, before the heap baseline.
        await FetchDistinctKeys(client, 0, 1000);
        var pool = client.Pool!; // the client's private pool exists from its first fetch
        await WaitForBoundedTables(pool, TimeSpan.FromSeconds(30));
        var heapBefore = await SettledHeap();
        var threadsBefore = ThreadPool.ThreadCount;

        var started = Stopwatch.GetTimestamp();
        var peakHostKeys = 0;
        for (var first = 0; first < Keys; first += Batch)
        {
            await FetchDistinctKeys(client, first, Batch);
            peakHostKeys = Math.Max(peakHostKeys, pool.TableSizes().HostKeys);
        }

        var fetchTime = Stopwatch.GetElapsedTime(started);

        // The per-key tables did grow while the fetches ran (so the bound below is the eviction's doing).
        Assert.True(peakHostKeys > 100, $"peak per-host table size {peakHostKeys}");

        // After IdleTimeout (1 s) the reaper, the handler's stale-pool scavenger (every IdleTimeout/4, min 1 s, two
        // rounds) and the leak tracker's sweep (every 2 s) have run. Bound 30 s: a wide margin on a loaded machine.
        var sizes = await WaitForBoundedTables(pool, TimeSpan.FromSeconds(30));
        // The burst makes the runtime add thread-pool workers (measured: 3-4 -> 11-14), each with managed state of its
        // own (~8 KB); they retire after ~20 s idle. Wait for that (bounded 60 s) so the heap compares Tether's state,
        // not the thread pool's size.
        var threadWait = Stopwatch.GetTimestamp();
        while (ThreadPool.ThreadCount > threadsBefore + 1 && Stopwatch.GetElapsedTime(threadWait) < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(250);
        }

        var heapAfter = await SettledHeap();
        var leak = LeakTracker.TableSizes();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"CORE-06: {Keys} keys in {fetchTime}, peak per-host table {peakHostKeys}, heap {heapBefore:N0} B -> {heapAfter:N0} B, pool threads {threadsBefore} -> {ThreadPool.ThreadCount}");
        Assert.True(heapAfter <= heapBefore * 1.10,
            $"managed heap {heapAfter:N0} B after {Keys} keys vs {heapBefore:N0} B before (limit +10%); tables {sizes}, leak tracker {leak}, fetches took {fetchTime}");
        Assert.Empty(pool.Snapshot());
        Assert.DoesNotContain(SocketLedger.Snapshot(), e => e.Pool == pool.Name);
    }

    [Fact]
    [Trait("Spec", "CORE-06")]
    public async Task CORE_06_a_rotated_proxy_password_and_per_request_max_header_sizes_do_not_add_a_handler_per_value()
    {
        await using var server = await KestrelTestServer.StartAsync();
        await using var proxy = ProxyServer.Start(new ProxyServerOptions { UserName = "user", Password = "current" });
        await using var pool = new ConnectionPool();
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool }))
        {
            // Old passwords are refused by the proxy (407), the current one passes: each request's own password is
            // the one sent, on one handler.
            for (var i = 0; i < 5; i++)
            {
                var stale = await client.FetchAsync(new FetchRequest(server.Url("/hello"))
                {
                    Proxy = proxy.BaseUri, ProxyUsername = "user", ProxyPassword = $"old-{i}", RaiseOnError = false,
                });
                Assert.Equal(407, stale.Code);
                var ok = await client.FetchAsync(new FetchRequest(server.Url("/hello"))
                {
                    Proxy = proxy.BaseUri, ProxyUsername = "user", ProxyPassword = "current",
                });
                Assert.Equal(KestrelTestServer.HelloText, ok.Text);
            }

            Assert.Equal(1, pool.TableSizes().Transports);

            // 60 distinct MaxHeaderSize values from 1 KiB to 60 KiB: handlers per power-of-two KiB bucket (1, 2, 4,
            // 8, 16, 32, 64), not per value; the proxy handler above is the eighth.
            for (var kib = 1; kib <= 60; kib++)
            {
                var r = await client.FetchAsync(new FetchRequest(server.Url("/hello")) { MaxHeaderSize = kib * 1024 + 7 });
                Assert.Equal(200, r.Code);
            }

            Assert.InRange(pool.TableSizes().Transports, 2, 8);
            Assert.Equal(1, TransportKey.HeaderLimitKiB(1024));
            Assert.Equal(2, TransportKey.HeaderLimitKiB(1025));
            Assert.Equal(64, TransportKey.HeaderLimitKiB(64 * 1024));
            Assert.Equal(128, TransportKey.HeaderLimitKiB(64 * 1024 + 1));
            Assert.Equal(1 << 21, TransportKey.HeaderLimitKiB(int.MaxValue));
        }

        await pool.CloseAsync();
        Assert.Empty(pool.Snapshot());
        Assert.DoesNotContain(SocketCensus.Take().TcpSockets, s => (s.Remote.Port == server.Port || s.Remote.Port == proxy.Port)
            && s.Remote.Address.Equals(IPAddress.Loopback) && s.State is TcpState.Established or TcpState.CloseWait);
    }

    private static async Task<(int HostKeys, int Transports)> WaitForBoundedTables(ConnectionPool pool, TimeSpan limit)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var sizes = pool.TableSizes();
            // "A small constant": no host left in the pool (every key is idle), at most the one handler of this transport
            // key (the handler scavenges its own per-host pools), and none of this test's keys left in the leak
            // tracker's tables. Other tests running in this process add entries of their own (their churn windows stay
            // a minute after a warning), so the tracker's total is not this test's to bound.
            var (sites, churnHosts) = LeakTracker.TableKeys();
            var ours = churnHosts.Count(IsOurHost) + sites.Count(static s => s.Contains(nameof(CoreNetBoundedTablesTests), StringComparison.Ordinal));
            if (sizes.HostKeys == 0 && sizes.Transports <= 1 && ours == 0 && pool.Count == 0)
            {
                return sizes;
            }

            if (Stopwatch.GetElapsedTime(started) > limit)
            {
                Assert.Fail($"Waited {limit} for the per-key tables to shrink: pool {sizes}, {pool.Count} sockets, " +
                    $"{ours} leak-tracker entries of this test (of {sites.Length} sites, {churnHosts.Length} churn windows)");
            }

            await Task.Delay(100);
        }
    }

    // The hosts FetchDistinctKeys uses: 127.0.0.10 ... 127.0.0.249 (every other test uses 127.0.0.1).
    private static bool IsOurHost(string hostKey) =>
        hostKey.StartsWith("http://127.0.0.", StringComparison.Ordinal) && !hostKey.StartsWith("http://127.0.0.1:", StringComparison.Ordinal);

    /// <summary>The managed heap after full collections, once two in a row agree within 1% (bounded: 20 rounds).</summary>
    private static async Task<long> SettledHeap()
    {
        var last = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < 20; i++)
        {
            await Task.Delay(100);
            GC.WaitForPendingFinalizers();
            var now = GC.GetTotalMemory(forceFullCollection: true);
            if (Math.Abs(now - last) <= last / 100)
            {
                return now;
            }

            last = now;
        }

        return last;
    }

    /// <summary>Fetches one URL on each of <paramref name="count"/> distinct keys: loopback aliases 127.0.0.10 to
    /// 127.0.0.249, each with listeners on fresh ports (port 0), all closed before this returns.</summary>
    private static async Task FetchDistinctKeys(AsyncHttpClient client, int first, int count)
    {
        var listeners = new List<OneShotHttpListener>(count);
        try
        {
            for (var i = first; i < first + count; i++)
            {
                listeners.Add(OneShotHttpListener.Start(IPAddress.Parse($"127.0.0.{10 + (i % 240)}"))); // fresh port: a new key
            }

            using var gate = new SemaphoreSlim(32);
            var fetches = listeners.Select(async listener =>
            {
                await gate.WaitAsync();
                try
                {
                    var r = await client.FetchAsync(new FetchRequest(new Uri($"http://{listener.EndPoint}/k"))
                    {
                        ConnectTimeout = TimeSpan.FromSeconds(20), RequestTimeout = TimeSpan.FromSeconds(30),
                    });
                    Assert.Equal("ok", r.Text);
                }
                finally
                {
                    gate.Release();
                }
            });
            await Task.WhenAll(fetches);
        }
        finally
        {
            foreach (var listener in listeners)
            {
                await listener.DisposeAsync();
            }
        }
    }

    /// <summary>A raw listener that answers each request with a 2-byte body and <c>Connection: close</c>, waits for the
    /// client's close and resets its end, so that no TIME_WAIT is left on either end.</summary>
    private sealed class OneShotHttpListener : IAsyncDisposable
    {
        private static readonly byte[] s_response = Encoding.ASCII.GetBytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");

        private readonly Socket _socket;
        private readonly Task _loop;

        private OneShotHttpListener(Socket socket)
        {
            _socket = socket;
            EndPoint = (IPEndPoint)socket.LocalEndPoint!;
            _loop = AcceptAsync();
        }

        public IPEndPoint EndPoint { get; }

        public static OneShotHttpListener Start(IPAddress address)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(address, 0));
                socket.Listen(8);
                return new OneShotHttpListener(socket);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            _socket.Dispose();
            await _loop;
        }

        private async Task AcceptAsync()
        {
            while (true)
            {
                Socket accepted;
                try
                {
                    accepted = await _socket.AcceptAsync();
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    return;
                }

                using (accepted)
                {
                    try
                    {
                        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                        var buffer = new byte[4096];
                        var total = 0;
                        while (total < buffer.Length)
                        {
                            var read = await accepted.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None, deadline.Token);
                            if (read == 0)
                            {
                                break;
                            }

                            total += read;
                            if (buffer.AsSpan(0, total).IndexOf("\r\n\r\n"u8) >= 0)
                            {
                                // Answer, then wait for the client to close first (it must: Connection: close), then
                                // reset. Neither end keeps a TIME_WAIT: 11,000 of them would stay a minute in the
                                // network namespace that every census of the tests running beside this one reads.
                                await accepted.SendAsync(s_response, SocketFlags.None, deadline.Token);
                                while (await accepted.ReceiveAsync(buffer, SocketFlags.None, deadline.Token) > 0)
                                {
                                }

                                accepted.LingerState = new LingerOption(true, 0);
                                break;
                            }
                        }
                    }
                    catch (Exception ex) when (ex is SocketException or OperationCanceledException)
                    {
                        // The client went away; the next accept goes on.
                    }
                }
            }
        }
    }
}
