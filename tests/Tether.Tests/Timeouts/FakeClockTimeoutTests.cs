using System.Net;
using System.Net.Sockets;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;
using static Tether.Tests.Timeouts.FakeClockAssert;

namespace Tether.Tests.Timeouts;

/// <summary>
/// Issue 13: the logic of Tether's own timers on a fake clock (<see cref="DeadlineClock"/>, a
/// <c>FakeTimeProvider</c>): the client's queue, request and body deadlines (<see cref="AsyncHttpClientOptions.TimeProvider"/>),
/// the pool's slot wait, reaper and connect deadline (<see cref="ConnectionPoolOptions.TimeProvider"/>). The sockets are
/// real (each test starts its own server); only time is fake, so "not a millisecond early" and "at the deadline" are
/// exact: each test waits until the deadline under test is armed, moves the clock to 1 ms before it and checks that the
/// timer has not fired and the fetch is still pending, then moves it the last millisecond and checks the typed 599.
/// The same timeouts on real time against real stalled sockets: <see cref="TimeoutTests"/> and the Pool tests.
/// </summary>
public sealed class FakeClockTimeoutTests
{
    private static readonly TimeSpan T = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    [Fact]
    [Trait("Spec", "TIMEOUT-02")]
    public async Task TIMEOUT_02_request_timeout_fires_exactly_at_its_deadline_on_a_fake_clock_and_the_server_sees_the_close()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(hostile.Port);
        var clock = new DeadlineClock();
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { TimeProvider = clock }))
        {
            var fetch = client.FetchAsync(new FetchRequest(hostile.Url("/").ToString()) { RequestTimeout = T });
            var deadline = await clock.WaitArmedAsync(T, "the request timeout");
            await WaitUntil(() => hostile.RequestHeads.Count == 1, "the server to receive the request");

            clock.Advance(T - Ms);
            AssertPending(deadline, fetch, "the request timeout");

            clock.Advance(Ms);
            var e = await FailsWithin<FetchException>(fetch, "the fetch to fail after its request timeout");
            Assert.Equal((599, FetchErrorKind.RequestTimeout), (e.Code, e.Kind));
            Assert.IsType<TimeoutException>(e.InnerException);
            await WaitUntil(() => hostile.OpenConnections == 0, "the server to see the connection closed");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-03")]
    public async Task TIMEOUT_03_queue_timeout_fires_exactly_at_its_deadline_on_a_fake_clock()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(hostile.Port);
        var clock = new DeadlineClock();
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 1, TimeProvider = clock }))
        {
            var hung = client.FetchAsync(Hung(hostile));
            await WaitUntil(() => hostile.RequestHeads.Count == 1, "the first fetch's request to reach the server");
            var queued = client.FetchAsync(new FetchRequest(hostile.Url("/").ToString())
            {
                QueueTimeout = T, RequestTimeout = Timeout.InfiniteTimeSpan,
            });
            var deadline = await clock.WaitArmedAsync(T, "the queue timeout");

            clock.Advance(T - Ms);
            AssertPending(deadline, queued, "the queue timeout");

            clock.Advance(Ms);
            var e = await FailsWithin<FetchException>(queued, "the queued fetch to fail after its queue timeout");
            Assert.Equal((599, FetchErrorKind.QueueTimeout), (e.Code, e.Kind));
            Assert.IsType<TimeoutException>(e.InnerException);
            Assert.False(hung.IsCompleted, "the fetch holding the slot must be untouched by the queued one's timeout");
            Assert.Equal(1, hostile.AcceptedConnections); // the timed-out fetch never connected
            client.Close();
            await FailsWithin<FetchException>(hung, "the hung fetch to fail when its client closes");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-04")]
    public async Task TIMEOUT_04_queue_timeout_of_a_client_built_outside_the_loop_that_awaits_it_fires_on_its_own_clock()
    {
        // The client is built outside any loop and awaited inside one: its queue timer is the fetch's own (on the
        // client's clock), not a timer of the loop, so it fires at the deadline, not when the first fetch completes.
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(hostile.Port);
        var clock = new DeadlineClock();
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 1, TimeProvider = clock }))
        {
            var queuedFetch = new TaskCompletionSource<Task<FetchResponse>>(TaskCreationOptions.RunContinuationsAsynchronously);
            Task<FetchResponse>? hung = null;
            var loopThread = Task.Run(() => EventLoop.Run(async () =>
            {
                hung = client.FetchAsync(Hung(hostile));
                var queued = client.FetchAsync(new FetchRequest(hostile.Url("/").ToString())
                {
                    QueueTimeout = T, RequestTimeout = Timeout.InfiniteTimeSpan,
                });
                queuedFetch.SetResult(queued);
                var e = await Assert.ThrowsAsync<FetchException>(() => queued); // awaited on the loop
                Assert.Equal((599, FetchErrorKind.QueueTimeout), (e.Code, e.Kind));
            }));

            var queued = await queuedFetch.Task.WaitAsync(DeadlineClock.RealBound);
            var deadline = await clock.WaitArmedAsync(T, "the queue timeout");
            clock.Advance(T - Ms);
            AssertPending(deadline, queued, "the queue timeout");
            clock.Advance(Ms);
            await loopThread.WaitAsync(DeadlineClock.RealBound); // the loop's main ends once the queued fetch failed
            Assert.False(hung!.IsCompleted, "the first fetch still holds the slot: the queue timeout did not wait for it");
            client.Close();
            await FailsWithin<FetchException>(hung, "the hung fetch to fail when its client closes");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-03")]
    public async Task TIMEOUT_03_a_client_owned_by_a_fake_clock_loop_runs_its_queue_timeout_on_the_loops_clock()
    {
        // The default of AsyncHttpClientOptions.TimeProvider: a client owned by a loop takes that loop's clock.
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(hostile.Port);
        var clock = new DeadlineClock();
        var queuedFetch = new TaskCompletionSource<Task<FetchResponse>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var loopThread = Task.Run(() => EventLoop.Run(async () =>
        {
            var client = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 1 });
            var hung = client.FetchAsync(Hung(hostile));
            var queued = client.FetchAsync(new FetchRequest(hostile.Url("/").ToString())
            {
                QueueTimeout = T, RequestTimeout = Timeout.InfiniteTimeSpan,
            });
            queuedFetch.SetResult(queued);
            var e = await Assert.ThrowsAsync<FetchException>(() => queued);
            Assert.Equal((599, FetchErrorKind.QueueTimeout), (e.Code, e.Kind));
            Assert.False(hung.IsCompleted);
        }, clock));

        var queued = await queuedFetch.Task.WaitAsync(DeadlineClock.RealBound);
        var deadline = await clock.WaitArmedAsync(T, "the queue timeout of the loop's client");
        clock.Advance(T - Ms);
        AssertPending(deadline, queued, "the queue timeout");
        clock.Advance(Ms);
        // The loop's main ends once the queued fetch failed; the loop then closes the client (and the hung fetch).
        await loopThread.WaitAsync(DeadlineClock.RealBound);
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-05")]
    public async Task TIMEOUT_05_time_spent_queued_counts_against_the_request_timeout_on_a_fake_clock()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(hostile.Port);
        var clock = new DeadlineClock();
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 1, TimeProvider = clock }))
        {
            using var cancelFirst = new CancellationTokenSource();
            var first = client.FetchAsync(Hung(hostile), cancelFirst.Token);
            await WaitUntil(() => hostile.RequestHeads.Count == 1, "the first fetch's request to reach the server");
            var second = client.FetchAsync(new FetchRequest(hostile.Url("/").ToString())
            {
                QueueTimeout = Timeout.InfiniteTimeSpan, RequestTimeout = T,
            });
            var deadline = await clock.WaitArmedAsync(T, "the second fetch's request timeout (armed at the call)");

            clock.Advance(TimeSpan.FromMilliseconds(800)); // 0.8 s of the 1 s budget spent in the queue
            AssertPending(deadline, second, "the request timeout while queued");
            cancelFirst.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
            await WaitUntil(() => hostile.RequestHeads.Count == 2, "the second fetch's request to reach the server");

            clock.Advance(TimeSpan.FromMilliseconds(199));
            AssertPending(deadline, second, "the request timeout after the queue");
            clock.Advance(Ms); // 0.2 s after it left the queue, not 1 s
            var e = await FailsWithin<FetchException>(second, "the second fetch to fail after its request timeout");
            Assert.Equal((599, FetchErrorKind.RequestTimeout), (e.Code, e.Kind));
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-07")]
    public async Task TIMEOUT_07_body_timeout_bounds_each_read_on_a_fake_clock()
    {
        await using var server = await KestrelTestServer.StartAsync();
        var check = LeakCheck.Start(server);
        var clock = new DeadlineClock();
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { TimeProvider = clock }))
        {
            long received = 0;
            var fetch = client.FetchAsync(new FetchRequest(server.Url("/stream/5?stallAfter=2").ToString())
            {
                BodyTimeout = T, RequestTimeout = Timeout.InfiniteTimeSpan,
                StreamingCallback = chunk => Interlocked.Add(ref received, chunk.Length),
            });
            // "chunk 0\n" and "chunk 1\n", then the server stalls; the read after them is the one that must time out.
            await WaitUntil(() => Interlocked.Read(ref received) == 16, "the two chunks before the stall");
            var deadline = await clock.WaitArmedAsync(T, "the body timeout of the stalled read");

            clock.Advance(T - Ms);
            AssertPending(deadline, fetch, "the body timeout");

            clock.Advance(Ms);
            var e = await FailsWithin<FetchException>(fetch, "the fetch to fail after its body timeout");
            Assert.Equal((599, FetchErrorKind.BodyTimeout), (e.Code, e.Kind));
            Assert.IsType<TimeoutException>(e.InnerException);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "HTTP-06")]
    public async Task HTTP_06_a_streamed_read_waits_only_what_is_left_of_RequestTimeout_on_a_fake_clock()
    {
        // RequestTimeout runs from the call, also for a body read after FetchStreamAsync returned: 600 ms of the 1 s
        // pass before the read, so the read that stalls may wait 400 ms (the fetch's elapsed time is on the fake clock).
        await using var server = await KestrelTestServer.StartAsync();
        var check = LeakCheck.Start(server);
        var clock = new DeadlineClock();
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { TimeProvider = clock }))
        {
            await using var response = await client.FetchStreamAsync(new FetchRequest(server.Url("/stream/5?stallAfter=1").ToString())
            {
                RequestTimeout = T, BodyTimeout = Timeout.InfiniteTimeSpan,
            }).WaitAsync(DeadlineClock.RealBound);
            var first = new byte["chunk 0\n".Length];
            await response.BodyStream.ReadExactlyAsync(first).AsTask().WaitAsync(DeadlineClock.RealBound); // then the server stalls
            clock.Advance(TimeSpan.FromMilliseconds(600));
            var left = TimeSpan.FromMilliseconds(400);
            var read = response.BodyStream.ReadAsync(new byte[64]).AsTask();
            var deadline = await clock.WaitArmedAsync(left, "the read's share of the request timeout");

            clock.Advance(left - Ms);
            AssertPending(deadline, read, "the rest of the request timeout");

            clock.Advance(Ms);
            var e = await FailsWithin<FetchException>(read, "the streamed read to fail at the request deadline");
            Assert.Equal((599, FetchErrorKind.RequestTimeout), (e.Code, e.Kind));
            Assert.IsType<TimeoutException>(e.InnerException);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-08")]
    public async Task TIMEOUT_08_bytes_trickling_in_do_not_extend_the_request_timeout_on_a_fake_clock()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.TrickleOneBytePerSecond,
            new HostileServerOptions { TrickleInterval = TimeSpan.FromMilliseconds(20), BodySize = 100_000 });
        var check = LeakCheck.Start(hostile.Port);
        var clock = new DeadlineClock();
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { TimeProvider = clock }))
        {
            long received = 0;
            var fetch = client.FetchAsync(new FetchRequest(hostile.Url("/").ToString())
            {
                RequestTimeout = T, BodyTimeout = TimeSpan.FromMilliseconds(400),
                StreamingCallback = chunk => Interlocked.Add(ref received, chunk.Length),
            });
            var deadline = await clock.WaitArmedAsync(T, "the request timeout");
            for (var step = 0; step < 3; step++)
            {
                // A byte arrives, then 300 ms pass: each read finishes well inside the 400 ms body timeout.
                var before = Interlocked.Read(ref received);
                await WaitUntil(() => Interlocked.Read(ref received) > before, "the next trickled byte");
                clock.Advance(TimeSpan.FromMilliseconds(300));
                AssertPending(deadline, fetch, "the request timeout while bytes arrive");
            }

            var atLast = Interlocked.Read(ref received);
            await WaitUntil(() => Interlocked.Read(ref received) > atLast, "one more trickled byte");
            clock.Advance(TimeSpan.FromMilliseconds(99));
            AssertPending(deadline, fetch, "the request timeout");
            clock.Advance(Ms);
            var e = await FailsWithin<FetchException>(fetch, "the fetch to be cut off by its request timeout");
            Assert.Equal((599, FetchErrorKind.RequestTimeout), (e.Code, e.Kind));
            Assert.True(Interlocked.Read(ref received) >= 4, "bytes kept arriving until the deadline");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "HTTP-05")]
    public async Task HTTP_05_a_stalled_redirect_body_is_dropped_at_the_discard_limit_on_a_fake_clock()
    {
        // Default options: BodyTimeout infinite, so the drain of the discarded 302 body is bounded by DiscardTimeout
        // (2 s, SocketsHttpHandler's ResponseDrainTimeout default); then its connection is closed and the redirect followed.
        var log = new Conformance.RequestLog();
        await using var server = Conformance.RecordingServer.Start("A", log, r => r.Target == "/stall"
            ? Conformance.Reply.Bytes(System.Text.Encoding.Latin1.GetBytes(
                "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 100\r\n\r\nabc"), hold: true)
            : Conformance.Reply.Text("ok"));
        var check = LeakCheck.Start(server.Port);
        var clock = new DeadlineClock();
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { TimeProvider = clock }))
        {
            var fetch = client.FetchAsync(server.Url("/stall"));
            var limit = await clock.WaitArmedAsync(AsyncHttpClient.DiscardTimeout, "the drain limit of the 302 body");

            clock.Advance(AsyncHttpClient.DiscardTimeout - Ms);
            AssertPending(limit, fetch, "the drain limit");
            Assert.Equal(0, server.ClosedConnections);

            clock.Advance(Ms);
            var finished = await Task.WhenAny(fetch, Task.Delay(DeadlineClock.RealBound));
            Assert.True(ReferenceEquals(finished, fetch), "waited for the redirect to be followed after the drain limit");
            Assert.Equal("ok", (await fetch).Text);
            await WaitUntil(() => server.ClosedConnections >= 1, "the stalled connection to be closed");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-01")]
    public async Task TIMEOUT_01_connect_timeout_fires_exactly_at_its_deadline_on_the_pools_fake_clock()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.NeverAccept);
        var check = LeakCheck.Start(hostile.Port);
        var fillers = await TimeoutTests.FillAcceptQueueAsync(hostile.Port);
        try
        {
            var clock = new DeadlineClock();
            // The client's private pool takes the client's clock (ConnectionPoolOptions.TimeProvider unset).
            await using var client = new AsyncHttpClient(new AsyncHttpClientOptions { TimeProvider = clock });
            var fetch = client.FetchAsync(new FetchRequest(hostile.Url("/").ToString())
            {
                ConnectTimeout = T, RequestTimeout = TimeSpan.FromHours(1),
            });
            var deadline = await clock.WaitArmedAsync(T, "the connect attempt's deadline");

            clock.Advance(T - Ms);
            AssertPending(deadline, fetch, "the connect timeout");

            clock.Advance(Ms);
            var e = await FailsWithin<FetchException>(fetch, "the fetch to fail after its connect timeout");
            Assert.Equal((599, FetchErrorKind.ConnectTimeout), (e.Code, e.Kind));
            Assert.Contains($"127.0.0.1:{hostile.Port}", e.Message);
        }
        finally
        {
            fillers.ForEach(s => s.Dispose());
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-01")]
    [Trait("Spec", "CORE-04")]
    public async Task TIMEOUT_01_CORE_04_TLS_handshake_deadline_fires_exactly_at_ConnectTimeout_on_the_pools_fake_clock()
    {
        await using var tls = TlsHostileServer.Start(TlsHostileBehavior.NeverHandshake);
        var check = LeakCheck.Start(tls.Port);
        var clock = new DeadlineClock();
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { TimeProvider = clock }))
        {
            var fetch = client.FetchAsync(new FetchRequest(tls.Url("/").ToString())
            {
                ConnectTimeout = T, RequestTimeout = TimeSpan.FromHours(1), CaCertificates = [tls.CaCertificate],
            });
            // The attempt's own one-shot timer for the handshake (armed once TCP connected; no fake time has passed,
            // so all of ConnectTimeout is left).
            var deadline = await clock.WaitArmedAsync(T, "the TLS handshake deadline", static s => s is TrackedConnection);

            clock.Advance(T - Ms);
            AssertPending(deadline, fetch, "the TLS handshake deadline");

            clock.Advance(Ms);
            var e = await FailsWithin<FetchException>(fetch, "the fetch to fail after its connect timeout");
            Assert.Equal(599, e.Code);
            // Regression (issue 13, found on this fake clock): a deadline that aborts the socket before the ClientHello
            // is written used to surface as a TLS failure from the write; it is the connect timeout.
            Assert.True(e.Kind == FetchErrorKind.ConnectTimeout, $"expected a connect timeout, got {e}");
            Assert.Contains("TLS handshake", e.Message);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "POOL-03")]
    public async Task POOL_03_pool_wait_timeout_fires_exactly_at_its_deadline_on_the_pools_fake_clock()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(hostile.Port);
        var clock = new DeadlineClock();
        await using var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            MaxConnectionsPerHost = 1, PoolWaitTimeout = T, TimeProvider = clock,
        });
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool, Ownership = ClientOwnership.Caller }))
        {
            var hung = client.FetchAsync(Hung(hostile));
            await WaitUntil(() => hostile.RequestHeads.Count == 1, "the first fetch's request to reach the server");
            var waiting = client.FetchAsync(Hung(hostile));
            var deadline = await clock.WaitArmedAsync(T, "the pool-wait timeout");

            clock.Advance(T - Ms);
            AssertPending(deadline, waiting, "the pool-wait timeout");

            clock.Advance(Ms);
            var e = await FailsWithin<FetchException>(waiting, "the waiting fetch to fail after the pool-wait timeout");
            Assert.Equal((599, FetchErrorKind.PoolWaitTimeout), (e.Code, e.Kind));
            Assert.Contains("MaxConnectionsPerHost = 1", e.Message);
            Assert.False(hung.IsCompleted);
            client.Close();
            await FailsWithin<FetchException>(hung, "the hung fetch to fail when its client closes");
        }

        await pool.CloseAsync();
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "POOL-04")]
    public async Task POOL_04_the_reaper_closes_an_idle_connection_at_the_first_tick_past_IdleTimeout_on_a_fake_clock()
    {
        // 60 s on the fake clock: the handler's own PooledConnectionIdleTimeout (the same value, on real time) cannot
        // close the connection during the test.
        var idle = TimeSpan.FromSeconds(60);
        var tick = TimeSpan.FromSeconds(1);
        await using var server = await KestrelTestServer.StartAsync();
        var check = LeakCheck.Start(server);
        var clock = new DeadlineClock();
        await using var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            IdleTimeout = idle, MaxLifetime = Timeout.InfiniteTimeSpan, ReaperInterval = tick, TimeProvider = clock,
        });
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool, Ownership = ClientOwnership.Caller }))
        {
            Assert.Equal(200, (await client.FetchAsync(server.Url("/hello").ToString())).Code);
            Assert.Equal(Tether.Diagnostics.ConnectionState.Idle, Assert.Single(pool.Snapshot()).State);

            // The reaper ticks inside Advance (synchronously), once per second of fake time.
            clock.Advance(idle);
            Assert.Single(pool.Snapshot()); // idle for exactly IdleTimeout: not past it yet
            clock.Advance(tick);
            await WaitUntil(() => pool.Count == 0, "the reaper to close the connection idle past IdleTimeout");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "POOL-05")]
    public async Task POOL_05_a_connection_past_MaxLifetime_is_closed_by_the_reaper_on_a_fake_clock()
    {
        var lifetime = TimeSpan.FromSeconds(60);
        var tick = TimeSpan.FromSeconds(1);
        await using var server = await KestrelTestServer.StartAsync();
        var check = LeakCheck.Start(server);
        var clock = new DeadlineClock();
        await using var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            IdleTimeout = Timeout.InfiniteTimeSpan, MaxLifetime = lifetime, LifetimeJitter = 0, ReaperInterval = tick,
            TimeProvider = clock,
        });
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool, Ownership = ClientOwnership.Caller }))
        {
            Assert.Equal(200, (await client.FetchAsync(server.Url("/hello").ToString())).Code);
            var id = Assert.Single(pool.Snapshot()).Id;

            clock.Advance(lifetime - tick);
            Assert.Equal(id, Assert.Single(pool.Snapshot()).Id); // 1 s before its lifetime: still serving
            Assert.Equal(200, (await client.FetchAsync(server.Url("/hello").ToString())).Code);
            Assert.Equal(id, Assert.Single(pool.Snapshot()).Id); // and reused

            clock.Advance(tick);
            await WaitUntil(() => pool.Count == 0, "the reaper to close the connection past MaxLifetime");
        }

        await check.AssertCleanAsync();
    }

    /// <summary>A request to a server that never answers, with no timeout of its own.</summary>
    private static FetchRequest Hung(HostileServer hostile) => new(hostile.Url("/").ToString())
    {
        RequestTimeout = Timeout.InfiniteTimeSpan, QueueTimeout = Timeout.InfiniteTimeSpan,
    };
}
