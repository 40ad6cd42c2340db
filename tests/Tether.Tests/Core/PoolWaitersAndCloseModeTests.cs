using System.Collections.Concurrent;
using Tether.Diagnostics;
using Tether.TestServer;
using Xunit;
using static Tether.Tests.Core.CoreTestSupport;

namespace Tether.Tests.Core;

/// <summary>Issue 16 (core redesign): pool waiters (CORE-05) and the idle-close mode (CORE-09). Each test starts its
/// own server and pool.</summary>
public sealed class PoolWaitersAndCloseModeTests
{
    // Regression for issue 16: the socket-slot wait re-queued at the back every 50 ms (not FIFO, a timer and a token
    // source per round).
    [Theory]
    [InlineData("h1")]
    [InlineData("h2")]
    [Trait("Spec", "CORE-05")]
    public async Task CORE_05_fifty_waiters_on_one_slot_are_served_in_arrival_order(string protocol)
    {
        await using var server = await StartAsync();
        var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            MaxConnectionsPerHost = 1,
            PoolWaitTimeout = Timeout.InfiniteTimeSpan,
        });
        var options = new AsyncHttpClientOptions { Pool = pool, MaxClients = 64 };
        Configure(options.Defaults, server, protocol);
        var client = new AsyncHttpClient(options);

        var holder = await client.FetchStreamAsync(Url(server, protocol, "/stream/2?stallAfter=1"), TestContext.Current.CancellationToken);
        var served = new ConcurrentQueue<int>();
        // FetchAsync queues on the pool slot before it returns (nothing before that wait yields), so call order is
        // arrival order; the slot serialises the 50, so the order the heads arrive is the order they were served.
        var waiters = Enumerable.Range(0, 50).Select(i => client.FetchAsync(new FetchRequest(Url(server, protocol, "/hello"))
        {
            HeaderCallback = line =>
            {
                if (line.StartsWith("HTTP/", StringComparison.Ordinal))
                {
                    served.Enqueue(i);
                }
            },
        })).ToArray();
        Assert.All(waiters, w => Assert.False(w.IsCompleted));

        await holder.DisposeAsync(); // the release wakes the first waiter; each completion wakes the next
        // 50 loopback /hello fetches one after another: well under a second unloaded; 30 s is the margin for a loaded
        // 2-core machine (a lost wake-up leaves a waiter queued for ever, so this fails instead of hanging).
        await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(Enumerable.Range(0, 50), served.ToArray());

        client.Close();
        await pool.CloseAsync(TestContext.Current.CancellationToken);
        await AssertCleanAsync(pool, ServerPort(server, protocol));
    }

    [Fact]
    [Trait("Spec", "CORE-05")]
    public async Task CORE_05_a_waiter_with_no_timeout_allocates_no_timer_and_is_woken_by_release()
    {
        var slots = new AsyncFifoSemaphore(1);
        Assert.True(slots.TryTake());
        // Timer.ActiveCount counts every timer of the process; other tests may add theirs meanwhile, so the check is
        // that 50 infinite waiters add fewer than 50 (each would add one with a per-wait timeout).
        var timersBefore = Timer.ActiveCount;
        var waits = Enumerable.Range(0, 50).Select(_ => slots.WaitAsync(Timeout.InfiniteTimeSpan, CancellationToken.None).AsTask()).ToArray();
        var timersWhileWaiting = Timer.ActiveCount;
        Assert.True(timersWhileWaiting - timersBefore < 50, $"{timersWhileWaiting - timersBefore} timers for 50 waiters");
        Assert.Equal(50, slots.Waiting);

        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(i, waits.Count(w => w.IsCompleted));
            slots.Release();
            // The release completes the first waiter's task (microseconds); 5 s only bounds a lost wake-up.
            await waits[i].WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.True(await waits[i]);
        }

        Assert.Equal(0, slots.Waiting);
    }

    [Fact]
    [Trait("Spec", "CORE-05")]
    public async Task CORE_05_per_origin_tables_and_handlers_are_dropped_once_unused()
    {
        await using var server = await StartAsync();
        var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            IdleTimeout = TimeSpan.FromMilliseconds(200),
            ReaperInterval = TimeSpan.FromMilliseconds(20),
        });
        var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool });
        await client.FetchAsync(server.Url("/hello").ToString(), TestContext.Current.CancellationToken);
        await client.FetchAsync(new FetchRequest(server.Url("/hello")) { ValidateCertificate = false }, TestContext.Current.CancellationToken);
        Assert.Equal((1, 2), pool.TableSizes()); // one origin, two handlers (two trust settings)
        // Idle timeout 200 ms closes the connections, another 200 ms drops the origin's table and the handlers;
        // 3 s for a loaded machine.
        await WaitForAsync(() => pool.Count == 0 && pool.TableSizes() == (0, 0), TimeSpan.FromSeconds(3),
            "the origin's slot table and the handlers to be dropped");
        Assert.Equal(200, (await client.FetchAsync(server.Url("/hello").ToString(), TestContext.Current.CancellationToken)).Code);

        client.Close();
        await pool.CloseAsync(TestContext.Current.CancellationToken);
        await AssertCleanAsync(pool, server.Port);
    }

    [Theory]
    [InlineData(IdleCloseMode.Graceful)]
    [InlineData(IdleCloseMode.Abortive)]
    [Trait("Spec", "CORE-09")]
    public async Task CORE_09_idle_close_mode_decides_fin_or_rst_and_a_pool_close_leaves_no_server_end(IdleCloseMode mode)
    {
        Assert.Equal(IdleCloseMode.Graceful, new ConnectionPoolOptions().IdleCloseMode); // the documented default
        await using var server = await StartAsync();
        var pool = new ConnectionPool(new ConnectionPoolOptions { IdleCloseMode = mode });
        var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool });
        await client.FetchAsync(server.Url("/hello").ToString(), TestContext.Current.CancellationToken);

        // Both ends live in this process: the server's end shows what the server saw.
        IEnumerable<CensusSocket> ServerEnds() =>
            SocketCensus.Take().TcpSockets.Where(s => s.Local.Port == server.Port && s.State != TcpState.Listen);
        string Census() => string.Join("; ", SocketCensus.Take().TcpSockets.Where(s => s.Remote.Port == server.Port || s.Local.Port == server.Port));

        // The connection's own endpoints: its TIME_WAIT entry, if any, is counted exactly (not by the server's port,
        // which a parallel test's earlier server may have used).
        var entry = Assert.Single(pool.Snapshot());
        var local = entry.LocalEndPoint!;
        var remote = entry.RemoteEndPoint!;
        Assert.Equal(1, pool.CloseIdleConnections());
        if (mode == IdleCloseMode.Graceful)
        {
            // A FIN: the server's end is half-closed (CLOSE_WAIT until Kestrel closes it), or the client's end is in
            // FIN_WAIT2/TIME_WAIT, which only an orderly close produces.
            // TIME_WAIT entries have no fd: CountTimeWait reads them from the namespace's table. Kernel state, set as
            // the FIN arrives (milliseconds unloaded): 3 s is the margin for a loaded 2-core machine.
            await WaitForAsync(() => ServerEnds().Any(s => s.State == TcpState.CloseWait)
                    || SocketCensus.Take().CountTimeWait(server.Port) > 0,
                TimeSpan.FromSeconds(3), "the server to see a FIN (client TIME_WAIT or server CLOSE_WAIT)");
        }
        else
        {
            // An RST: the server's end is gone at once (kernel state; 3 s is the margin for a loaded 2-core machine)
            // and nothing is left in TIME_WAIT on the client.
            await WaitForAsync(() => !ServerEnds().Any(), TimeSpan.FromSeconds(3), "the reset to remove the server's end; census: " + Census());
            Assert.Equal(0, TimeWaitRows.Count(local, remote));
        }

        // Closing the pool: its idle connection takes the idle-close path too (issue 16, CORE-09; PoolCloseModeTests
        // counts the server's resets exactly), an in-flight one is aborted; either way no server end stays open
        // (kernel state, changed as the FIN or RST arrives: 3 s is the margin for a loaded 2-core machine).
        await client.FetchAsync(server.Url("/hello").ToString(), TestContext.Current.CancellationToken);
        client.Close();
        await pool.CloseAsync(TestContext.Current.CancellationToken);
        await WaitForAsync(() => !ServerEnds().Any(s => s.State == TcpState.Established), TimeSpan.FromSeconds(3),
            "the pool's abort to reset the server's end; census: " + Census());
        await AssertCleanAsync(pool, server.Port);
    }
}
