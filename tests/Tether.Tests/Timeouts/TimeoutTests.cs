using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;
using static Tether.Tests.Http.HttpTestHelpers;

namespace Tether.Tests.Timeouts;

/// <summary>TIMEOUT-01 … TIMEOUT-03 here, TIMEOUT-04 … TIMEOUT-13 in the two classes below (TIMEOUT-11 in
/// ErrorAfterCancelTests): timeouts, cancellation and the MaxClients queue on real time against real stalled sockets.
/// Every test ends with the leak check (no ledger entry and nothing ESTABLISHED/CLOSE_WAIT towards the test's servers). Timer logic on a fake clock: FakeClockTimeoutTests, Loop/FakeClockTests.</summary>
public sealed class TimeoutTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    /// <summary>The timeout under test on real time. 1 s (not the spec examples' 0.5 s) so that the Timing rule's
    /// slack, max(250 ms, T/2) = 500 ms, covers scheduling delay on a loaded 2-core machine running the suite in
    /// parallel. These are the real-time tests against real stalled sockets; the same deadlines' logic is tested on a
    /// fake clock in <see cref="FakeClockTimeoutTests"/> (and the loop's timers in Loop/FakeClockTests).</summary>
    private static readonly TimeSpan T = TimeSpan.FromSeconds(1);
    private string Url(string path) => server.Url(path).ToString();

    /// <summary>Fills the accept queue of a never-accepting listener (backlog 1) so the next connect hangs in SYN_SENT,
    /// and fails if it cannot show that the queue is full.</summary>
    /// <remarks>Each filler connects with a blocking <c>connect(2)</c> bounded by <c>SO_SNDTIMEO</c> (Linux honours it
    /// for connect): on loopback the handshake completes inside that call while the queue has room, so "full" is the
    /// kernel's answer, not a thread-pool continuation that missed a 200 ms cancellation on a loaded machine. That earlier
    /// form stopped filling too soon under load; the client's connect then succeeded and the test waited for its one-hour
    /// request timeout. The filler that times out stays in SYN_SENT and is disposed with the others. Runs on a thread of its
    /// own so the blocking waits (at most one 500 ms timeout) do not hold a thread-pool thread.</remarks>
    internal static Task<List<Socket>> FillAcceptQueueAsync(int port) => Task.Factory.StartNew(
        () =>
        {
            var fillers = new List<Socket>();
            for (var i = 0; i < 16; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { SendTimeout = 500 };
                fillers.Add(s);
                try
                {
                    s.Connect(new IPEndPoint(IPAddress.Loopback, port));
                }
                // AlreadyInProgress (EALREADY): a signal (the runtime suspends threads with one) interrupted connect(2) and the
                // runtime's retry found the first handshake still pending, which on loopback also means no answer came.
                catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.InProgress or SocketError.WouldBlock
                    or SocketError.AlreadyInProgress)
                {
                    return fillers;
                }
            }

            fillers.ForEach(f => f.Dispose());
            throw new InvalidOperationException(
                $"16 connects to the never-accepting listener on port {port} all completed: its accept queue never filled, so a connect to it would not hang");
        },
        CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-01")]
    public async Task TIMEOUT_01_connect_that_cannot_complete_fails_with_connect_timeout_despite_an_hour_request_timeout()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.NeverAccept);
        var check = LeakCheck.Start(server, hostile.Port);
        var fillers = await FillAcceptQueueAsync(hostile.Port);
        try
        {
            await using var client = new AsyncHttpClient();
            var (e, elapsed) = await FailsWith<FetchException>(() => client.FetchAsync(new FetchRequest(hostile.Url("/").ToString())
            {
                ConnectTimeout = T, RequestTimeout = TimeSpan.FromHours(1),
            }));
            Assert.Equal((599, FetchErrorKind.ConnectTimeout), (e.Code, e.Kind));
            Assert.Contains($"127.0.0.1:{hostile.Port}", e.Message);
            AssertWithin(T, elapsed, "connect timeout");
        }
        finally
        {
            fillers.ForEach(s => s.Dispose());
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-01")]
    public async Task TIMEOUT_01_a_TLS_listener_that_never_finishes_the_handshake_fails_with_connect_timeout()
    {
        await using var tls = TlsHostileServer.Start(TlsHostileBehavior.NeverHandshake);
        var check = LeakCheck.Start(server, tls.Port);
        await using (var client = new AsyncHttpClient())
        {
            var (e, elapsed) = await FailsWith<FetchException>(() => client.FetchAsync(new FetchRequest(tls.Url("/").ToString())
            {
                ConnectTimeout = T, RequestTimeout = TimeSpan.FromHours(1), CaCertificates = [tls.CaCertificate],
            }));
            Assert.Equal((599, FetchErrorKind.ConnectTimeout), (e.Code, e.Kind));
            Assert.Contains("TLS handshake", e.Message);
            Assert.IsType<TimeoutException>(e.InnerException);
            AssertWithin(T, elapsed, "connect timeout during the TLS handshake");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-02")]
    public async Task TIMEOUT_02_server_that_never_answers_gives_request_timeout_and_sees_the_close()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(server, hostile.Port);
        await using (var client = new AsyncHttpClient())
        {
            var (e, elapsed) = await FailsWith<FetchException>(() =>
                client.FetchAsync(new FetchRequest(hostile.Url("/").ToString()) { RequestTimeout = T }));
            Assert.Equal((599, FetchErrorKind.RequestTimeout), (e.Code, e.Kind));
            AssertWithin(T, elapsed, "request timeout");
            var sw = Stopwatch.StartNew();
            while (hostile.OpenConnections > 0 && sw.Elapsed < TimeSpan.FromSeconds(2))
            {
                await Task.Delay(10);
            }

            Assert.True(hostile.OpenConnections == 0, $"waited {sw.Elapsed} for the server to see the client's close");
            // "Right after": the client closes its socket as the timeout fires and the server notices within a few ms
            // unloaded. 1 s is the margin for a loaded 2-core machine; a socket left open would stay open until the
            // 15 s wait of the leak check, so the bound still separates the two.
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"server saw the close after {sw.Elapsed}");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-03")]
    public async Task TIMEOUT_03_queue_timeout_fires_while_first_request_hangs()
    {
        var check = LeakCheck.Start(server);
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 1 }))
        {
            var hung = client.FetchAsync(new FetchRequest(Url("/delay/5000")) { RequestTimeout = TimeSpan.FromSeconds(10) });
            var (e, elapsed) = await FailsWith<FetchException>(() =>
                client.FetchAsync(new FetchRequest(Url("/hello")) { QueueTimeout = T }));
            Assert.Equal((599, FetchErrorKind.QueueTimeout), (e.Code, e.Kind));
            Assert.IsType<TimeoutException>(e.InnerException);
            AssertWithin(T, elapsed, "queue timeout");
            Assert.False(hung.IsCompleted); // it is answered after 5 s, and the line above bounds this point at 1.5 s
            client.Close();
            await Assert.ThrowsAsync<FetchException>(() => hung);
        }

        await check.AssertCleanAsync();
    }
}

/// <summary>TIMEOUT-04 … TIMEOUT-07 on real time (as <see cref="TimeoutTests"/>). The real-time timeout tests are split
/// over three classes because each waits out a 1 s timeout, mostly idle, and xunit runs one class's tests one after
/// another; apart, they overlap with the rest of the suite (issue 13, CI wall time).</summary>
public sealed class TimeoutQueueTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan T = TimeSpan.FromSeconds(1); // as in TimeoutTests
    private string Url(string path) => server.Url(path).ToString();


    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-04")]
    public async Task TIMEOUT_04_queue_timeout_fires_for_a_client_built_outside_the_loop_that_awaits_it()
    {
        var check = LeakCheck.Start(server);
        var client = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 1 }); // built outside any loop
        // The loop runs on a thread of its own, as a program's Main would, not on the thread-pool thread xunit runs a
        // test on: the queue timer fires on a pool thread, and while every pool thread is blocked the runtime adds one
        // about every 500 ms. One CI run saw this timeout 589 ms late against its 500 ms margin, most likely so.
        var (kind, elapsed, firstDone) = await Task.Factory.StartNew(() => EventLoop.Run(async () =>
        {
            var first = client.FetchAsync(new FetchRequest(Url("/delay/5000")) { RequestTimeout = TimeSpan.FromSeconds(10) });
            var sw = Stopwatch.StartNew();
            try
            {
                await client.FetchAsync(new FetchRequest(Url("/delay/5000")) { QueueTimeout = T, RequestTimeout = TimeSpan.FromSeconds(10) });
                return ((FetchErrorKind?)null, sw.Elapsed, first.IsCompleted);
            }
            catch (FetchException e)
            {
                var result = ((FetchErrorKind?)e.Kind, sw.Elapsed, first.IsCompleted);
                client.Close();
                await Assert.ThrowsAsync<FetchException>(() => first);
                return result;
            }
        }), TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.Equal(FetchErrorKind.QueueTimeout, kind);
        Assert.False(firstDone);
        AssertWithin(T, elapsed, "queue timeout of a client built outside the loop");
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-05")]
    public async Task TIMEOUT_05_time_queued_counts_against_the_request_timeout()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(server, hostile.Port);
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 1 }))
        {
            var holder = client.FetchAsync(Url("/delay/800"));
            var (e, elapsed) = await FailsWith<FetchException>(() => client.FetchAsync(new FetchRequest(hostile.Url("/").ToString())
            {
                RequestTimeout = TimeSpan.FromSeconds(1), QueueTimeout = TimeSpan.FromSeconds(5),
            }));
            await holder;
            Assert.Equal(FetchErrorKind.RequestTimeout, e.Kind);
            // Queued 0.8 s of a 1 s budget: it fails about 0.2 s after leaving the queue, 1 s after the call.
            AssertWithin(TimeSpan.FromSeconds(1), elapsed, "request timeout including queue time");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-06")]
    public async Task TIMEOUT_06_max_clients_2_runs_two_and_queues_two_in_fifo_order()
    {
        var check = LeakCheck.Start(server);
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 2 }))
        {
            var started = new List<int>();
            var tasks = Enumerable.Range(0, 4).Select(i => client.FetchAsync(new FetchRequest(Url($"/delay/{(i < 2 ? 300 + (i * 700) : 50)}"))
            {
                HeaderCallback = line =>
                {
                    if (line.StartsWith("HTTP/", StringComparison.Ordinal))
                    {
                        lock (started)
                        {
                            started.Add(i);
                        }
                    }
                },
            })).ToArray();
            // All four are queued or running (InFlight counts both): wait for that, bounded. It takes milliseconds
            // unloaded; 10 s is the margin for a loaded 2-core machine (the first two responses take 0.3 s and 1 s).
            var waited = Stopwatch.StartNew();
            while (client.InFlight < 4)
            {
                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), $"only {client.InFlight} of 4 fetches in flight after 10 s");
                await Task.Delay(5);
            }

            Assert.Equal(4, client.InFlight);
            Assert.True(client.Pool!.Count <= 2, $"{client.Pool.Count} connections for MaxClients = 2");
            var responses = await Task.WhenAll(tasks);
            // Exact, whatever the load: a fetch that takes its slot at once reports a queue time of zero (no clock is
            // read), one that queued reports more. (Wall-clock bounds here failed in a clean-clone CI run, with the build
            // and two other test assemblies beside it: starting #0 and #1 took long enough that #2's wait for #0's 300 ms
            // response was under 290 ms.)
            Assert.Equal(TimeSpan.Zero, responses[0].TimeInfo.Queue);
            Assert.Equal(TimeSpan.Zero, responses[1].TimeInfo.Queue);
            Assert.True(responses[2].TimeInfo.Queue > TimeSpan.Zero && responses[3].TimeInfo.Queue > TimeSpan.Zero,
                $"queue times {string.Join(", ", responses.Select(r => r.TimeInfo.Queue.TotalMilliseconds.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))} ms");
            // #2 takes the slot #0 frees (at 300 ms), #3 the one #1 frees (at 1,000 ms): FIFO. The start order is when
            // each response head arrived, so #2 has 700 ms to get its 50 ms response before #3 even leaves the queue
            // (with 150 ms, one stress run with two CPU hogs saw 0,1,3,2 while the queue times were in FIFO order).
            Assert.True(responses[2].TimeInfo.Queue < responses[3].TimeInfo.Queue);
            Assert.True(started.IndexOf(2) < started.IndexOf(3), $"start order {string.Join(",", started)}");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-07")]
    public async Task TIMEOUT_07_body_that_stalls_mid_stream_fails_with_body_timeout()
    {
        var check = LeakCheck.Start(server);
        await using (var client = new AsyncHttpClient())
        {
            // Measured from the last chunk the server sent before it stalled (the body read that times out starts right
            // after it), not from the call: connecting and the first chunks take their own time under load.
            long lastChunk = 0;
            var e = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(new FetchRequest(Url("/stream/5?stallAfter=2"))
            {
                BodyTimeout = T, RequestTimeout = TimeSpan.FromSeconds(10),
                StreamingCallback = _ => Volatile.Write(ref lastChunk, Stopwatch.GetTimestamp()),
            }));
            var elapsed = Stopwatch.GetElapsedTime(Volatile.Read(ref lastChunk));
            Assert.NotEqual(0, lastChunk);
            Assert.Equal((599, FetchErrorKind.BodyTimeout), (e.Code, e.Kind));
            Assert.IsType<TimeoutException>(e.InnerException);
            AssertWithin(T, elapsed, "body timeout");
        }

        await check.AssertCleanAsync();
    }
}

/// <summary>TIMEOUT-08 … TIMEOUT-13 (TIMEOUT-11 in ErrorAfterCancelTests) on real time (as <see cref="TimeoutTests"/>, split
/// for the same reason as <see cref="TimeoutQueueTests"/>).</summary>
public sealed class TimeoutCancelAndLimitTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan T = TimeSpan.FromSeconds(1); // as in TimeoutTests
    private string Url(string path) => server.Url(path).ToString();


    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-08")]
    public async Task TIMEOUT_08_trickling_server_is_cut_off_by_the_total_request_timeout()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.TrickleOneBytePerSecond,
            new HostileServerOptions { TrickleInterval = TimeSpan.FromMilliseconds(100), BodySize = 1000 });
        var check = LeakCheck.Start(server, hostile.Port);
        await using (var client = new AsyncHttpClient())
        {
            // T (1 s, not 700 ms as before): the Timing rule's slack is then 500 ms, which a loaded 2-core machine needs
            // (measured with two CPU hogs: 700 ms + 350 ms was overrun by 75-310 ms). A byte every 100 ms keeps each read
            // well inside the 400 ms BodyTimeout, so only the total deadline can end the fetch.
            var (e, elapsed) = await FailsWith<FetchException>(() => client.FetchAsync(new FetchRequest(hostile.Url("/").ToString())
            {
                RequestTimeout = T, BodyTimeout = TimeSpan.FromMilliseconds(400),
            }));
            Assert.Equal(FetchErrorKind.RequestTimeout, e.Kind);
            AssertWithin(T, elapsed, "total timeout against a trickle");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-09")]
    public async Task TIMEOUT_09_caller_cancel_is_OperationCanceled_for_that_token_and_timeout_is_a_599_with_TimeoutException()
    {
        var check = LeakCheck.Start(server);
        await using (var client = new AsyncHttpClient())
        {
            // The cancel and the timeout fire at 300 ms against a server that answers after 5 s: a 4.7 s margin for a
            // loaded 2-core machine before the fetch could succeed instead.
            using var cts = new CancellationTokenSource(300);
            var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.FetchAsync(Url("/delay/5000"), cts.Token));
            Assert.Equal(cts.Token, cancelled.CancellationToken);

            var timeout = await Assert.ThrowsAsync<FetchException>(() =>
                client.FetchAsync(new FetchRequest(Url("/delay/5000")) { RequestTimeout = TimeSpan.FromMilliseconds(300) }));
            Assert.Equal((599, FetchErrorKind.RequestTimeout), (timeout.Code, timeout.Kind));
            Assert.True(timeout.IsTimeout);
            Assert.IsType<TimeoutException>(timeout.InnerException);
            Assert.Contains("00:00:00.3000000", timeout.Message);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-10")]
    public async Task TIMEOUT_10_cancel_while_queued_connecting_awaiting_headers_or_reading_body_ends_within_100ms()
    {
        await using var never = HostileServer.Start(HostileBehavior.NeverAccept);
        var check = LeakCheck.Start(server, never.Port);
        // Spec: within 100 ms. By the Timing rule at most 100 ms + max(250 ms, 50 ms) = 350 ms: a cancel ends the
        // fetch in about 1 ms unloaded; the margin is for a loaded 2-core machine running the suite in parallel. A
        // cancel that waited for the server (5 s) or a timeout (seconds) still fails it.
        var limit = TimeSpan.FromMilliseconds(350);

        // The cancelled socket is closed by the connect callback or the handler on their own threads: allow them the
        // same 100 ms, then the pool must own nothing (closed, never pooled).
        static async Task AssertClosedWithin(ConnectionPool pool, TimeSpan limit, string phase)
        {
            var sw = Stopwatch.StartNew();
            while (pool.Count > 0 && sw.Elapsed < limit)
            {
                await Task.Delay(5);
            }

            Assert.True(pool.Count == 0, $"{phase}: still owned after {sw.Elapsed}: " + string.Join("; ", pool.Snapshot()));
        }

        async Task<TimeSpan> CancelAfter(Func<CancellationToken, Task> fetch, int ms)
        {
            using var cts = new CancellationTokenSource();
            var task = fetch(cts.Token);
            // Gives the fetch time to reach the phase named by the caller. The assertions below hold in any phase (a
            // cancel must end the fetch within the limit wherever it is), so a slow machine cannot make them pass
            // vacuously; the check that it has not finished on its own guards the "cancelled" outcome. That check is a
            // bound on this delay's overshoot: each phase below would end on its own only seconds later (a 5 s server
            // delay, a stall, a queue behind a 5 s holder, a 2 s connect timeout), a margin of 1.8 s or more over the
            // delay for a loaded 2-core machine.
            await Task.Delay(ms);
            Assert.False(task.IsCompleted);
            var sw = Stopwatch.StartNew();
            cts.Cancel();
            var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
            Assert.Equal(cts.Token, e.CancellationToken);
            return sw.Elapsed;
        }

        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 1 }))
        {
            // Awaiting headers: the socket must be closed, not pooled.
            Assert.True(await CancelAfter(t => client.FetchAsync(Url("/delay/5000"), t), 200) < limit);
            await AssertClosedWithin(client.Pool!, limit, "awaiting headers");

            // Reading the body.
            Assert.True(await CancelAfter(t => client.FetchAsync(Url("/stream/5?stallAfter=1"), t), 200) < limit);
            await AssertClosedWithin(client.Pool!, limit, "reading the body");

            // Queued behind a holder: the cancelled waiter frees no slot it never held.
            using var holderCts = new CancellationTokenSource();
            var holder = client.FetchAsync(Url("/delay/5000"), holderCts.Token);
            Assert.True(await CancelAfter(t => client.FetchAsync(Url("/hello"), t), 100) < limit);
            var stillQueued = client.FetchAsync(new FetchRequest(Url("/hello")) { QueueTimeout = TimeSpan.FromMilliseconds(200) });
            var queueError = await Assert.ThrowsAsync<FetchException>(() => stillQueued);
            Assert.Equal(FetchErrorKind.QueueTimeout, queueError.Kind);
            holderCts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => holder);
            var freed = await client.FetchAsync(Url("/hello"));
            // A leaked slot would keep this fetch queued for its whole queue timeout (the default: the connect timeout,
            // seconds) and fail it; a freed slot is taken at once (well under 1 ms unloaded). 1 s is the margin for load.
            Assert.True(freed.TimeInfo.Queue < TimeSpan.FromSeconds(1), $"slot not freed: queued {freed.TimeInfo.Queue}");
        }

        var fillers = await TimeoutTests.FillAcceptQueueAsync(never.Port);
        try
        {
            // Revised 2026-11-30 (issue 16, CORE-04): the fetch still ends within 100 ms of the cancel, but the
            // connection attempt belongs to the pool (the handler may give it to another request), so its socket is
            // closed by the attempt's own deadline, the 2 s ConnectTimeout it started with (+ 1.5 s for a loaded
            // machine), not by the cancel. (2 s, not 1 s, since issue 13's audit: with 1 s, the 200 ms delay before
            // the cancel had only 800 ms before the fetch could end on its own timeout.)
            await using var connecting = new AsyncHttpClient();
            Assert.True(await CancelAfter(t => connecting.FetchAsync(
                new FetchRequest(never.Url("/")) { ConnectTimeout = TimeSpan.FromSeconds(2) }, t), 200) < limit);
            await AssertClosedWithin(connecting.Pool!, TimeSpan.FromSeconds(3.5), "connecting (its own deadline)");
        }
        finally
        {
            fillers.ForEach(s => s.Dispose());
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "TIMEOUT-12")]
    public async Task TIMEOUT_12_two_fetches_on_one_client_use_different_timeouts()
    {
        var check = LeakCheck.Start(server);
        await using (var client = new AsyncHttpClient())
        {
            // The server answers after 1.5 s (600 ms before issue 13's audit: a 200 ms timer then had 400 ms to fire
            // before the answer won, and a loaded run has seen a timer 589 ms late, TIMEOUT-04). Now the 200 ms timeouts
            // have a 1.3 s margin and the 5 s one a 3.5 s margin on a loaded 2-core machine.
            var shortOne = client.FetchAsync(new FetchRequest(Url("/delay/1500")) { RequestTimeout = TimeSpan.FromMilliseconds(200) });
            var longOne = client.FetchAsync(new FetchRequest(Url("/delay/1500")) { RequestTimeout = TimeSpan.FromSeconds(5) });
            var e = await Assert.ThrowsAsync<FetchException>(() => shortOne);
            Assert.Equal(FetchErrorKind.RequestTimeout, e.Kind);
            Assert.Equal("done", (await longOne).Text);
            var shortAgain = await Assert.ThrowsAsync<FetchException>(() =>
                client.FetchAsync(new FetchRequest(Url("/delay/1500")) { RequestTimeout = TimeSpan.FromMilliseconds(200) }));
            Assert.Equal(FetchErrorKind.RequestTimeout, shortAgain.Kind);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-13")]
    public async Task TIMEOUT_13_infinite_disables_a_timeout_and_zero_or_negative_are_rejected_naming_the_fix()
    {
        var check = LeakCheck.Start(server);
        await using (var client = new AsyncHttpClient())
        {
            var r = await client.FetchAsync(new FetchRequest(Url("/delay/100"))
            {
                RequestTimeout = Timeout.InfiniteTimeSpan, ConnectTimeout = Timeout.InfiniteTimeSpan,
                QueueTimeout = Timeout.InfiniteTimeSpan, BodyTimeout = Timeout.InfiniteTimeSpan,
            });
            Assert.Equal("done", r.Text);

            var before = server.Server.AcceptedConnections;
            var zero = await Assert.ThrowsAsync<OptionsValidationException>(() => client.FetchAsync(new FetchRequest(Url("/hello"))
            {
                RequestTimeout = TimeSpan.Zero, ConnectTimeout = TimeSpan.FromSeconds(-1),
            }));
            Assert.Equal(2, zero.Problems.Count);
            Assert.Contains(zero.Problems, p => p.StartsWith("RequestTimeout = 00:00:00", StringComparison.Ordinal) && p.Contains("InfiniteTimeSpan"));
            Assert.Contains(zero.Problems, p => p.StartsWith("ConnectTimeout = -00:00:01", StringComparison.Ordinal) && p.Contains("InfiniteTimeSpan"));
            Assert.Equal(before, server.Server.AcceptedConnections);
        }

        var options = new AsyncHttpClientOptions();
        options.Defaults.QueueTimeout = TimeSpan.FromMilliseconds(-5);
        await using (var bad = new AsyncHttpClient(options))
        {
            var e = await Assert.ThrowsAsync<OptionsValidationException>(() => bad.FetchAsync(Url("/hello")));
            Assert.Contains("Defaults.QueueTimeout", e.Message);
        }

        await check.AssertCleanAsync();
    }
}
