using System.Diagnostics;
using Tether.Diagnostics;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Loop;

/// <summary>The loop itself: results, exceptions, current loop, nesting, callbacks and timers.</summary>
public sealed class EventLoopTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private string Url(string path) => server.Url(path).ToString();

    [Fact]
    [Trait("Spec", "LOOP-13")]
    public void LOOP_13_Run_returns_the_result_and_closes_everything_first()
    {
        var check = LeakCheck.Start(server);
        var code = EventLoop.Run(async () =>
        {
            var client = new AsyncHttpClient();
#pragma warning disable TETHER004 // left undisposed on purpose: the loop must close its socket
            var response = await client.FetchStreamAsync(Url("/bytes/100000"));
#pragma warning restore TETHER004
            Assert.Single(Ledger.Towards(server.Server.Port));
            return response.Code; // the streamed response is never disposed: the loop closes its socket
        });

        Assert.Equal(200, code);
        Assert.Empty(Ledger.Towards(server.Server.Port));
        check.AssertClean();
    }

    [Fact]
    [Trait("Spec", "LOOP-13")]
    public void LOOP_13_a_faulting_coroutine_rethrows_its_own_exception_type_after_closing()
    {
        var check = LeakCheck.Start(server);
        var ex = Assert.Throws<FormatException>(() => EventLoop.Run(async () =>
        {
            var client = new AsyncHttpClient();
            await client.FetchAsync(Url("/hello"));
            throw new FormatException("boom");
        }));

        Assert.Equal("boom", ex.Message);
        Assert.Empty(Ledger.Towards(server.Server.Port));
        check.AssertClean();
    }

    [Fact]
    [Trait("Spec", "LOOP-15")]
    public void LOOP_15_blocking_on_a_fetch_inside_the_loop_completes_but_holds_the_loops_timers_until_it_returns()
    {
        // docs/analyzers.md (TETHER005) says what blocking the loop's thread does: the fetch itself completes (its
        // internals do not resume on the loop), while the loop's timers and continuations wait for the block to end.
        var check = LeakCheck.Start(server);
        var (blockedMs, timerMs) = EventLoop.Run(async () =>
        {
            var clock = Stopwatch.StartNew();
            var timer = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            EventLoop.Current!.CallLater(TimeSpan.FromMilliseconds(10), () => timer.SetResult(clock.ElapsedMilliseconds));
#pragma warning disable TETHER005 // blocking on purpose: the behaviour the rule warns about
            var fetch = AsyncHttpClient.Shared.FetchAsync(Url("/delay/300"));
            Assert.True(fetch.Wait(TimeSpan.FromSeconds(10)), "a blocked loop thread kept the fetch from completing");
            var blocked = clock.ElapsedMilliseconds;
            Assert.Equal(200, fetch.Result.Code);
#pragma warning restore TETHER005
            Assert.False(timer.Task.IsCompleted); // due after 10 ms, but its loop's thread was blocked for 300+
            return (blocked, await timer.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        });

        Assert.True(blockedMs >= 300, $"blocked {blockedMs} ms");
        Assert.True(timerMs >= blockedMs, $"the 10 ms timer fired at {timerMs} ms, before the block ended at {blockedMs} ms");
        check.AssertClean();
    }

    [Fact]
    [Trait("Spec", "LOOP-15")]
    public void LOOP_15_Current_is_the_running_loop_and_continuations_resume_on_its_thread()
    {
        Assert.Null(EventLoop.Current);
        EventLoop? first = null;
        EventLoop.Run(async () =>
        {
            first = EventLoop.Current;
            Assert.NotNull(first);
            Assert.Equal(first.ThreadId, Environment.CurrentManagedThreadId);
            await using var client = new AsyncHttpClient();
            for (var i = 0; i < 5; i++)
            {
                await client.FetchAsync(Url("/delay/5"));
                Assert.Equal(first.ThreadId, Environment.CurrentManagedThreadId);
                Assert.Same(first, EventLoop.Current);
            }
        });

        EventLoop? second = null;
        EventLoop.Run(() =>
        {
            second = EventLoop.Current;
            return Task.CompletedTask;
        });

        Assert.Null(EventLoop.Current);
        Assert.NotNull(second);
        Assert.NotSame(first, second);
        Assert.NotEqual(first!.Id, second.Id);
        Assert.True(first.IsClosed && second.IsClosed);
    }

    [Fact]
    [Trait("Spec", "LOOP-16")]
    public void LOOP_16_nested_Run_fails_with_a_named_error_that_says_to_await()
    {
        var ex = Assert.Throws<LoopMisuseException>(() => EventLoop.Run(async () =>
        {
            await Task.Yield();
            EventLoop.Run(() => Task.CompletedTask);
        }));

        Assert.Equal(LoopMisuseKind.NestedRun, ex.Kind);
        Assert.Contains("await", ex.Message, StringComparison.Ordinal);
        Assert.Contains("EventLoop#", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Spec", "LOOP-16")]
    public void LOOP_16_loops_on_separate_threads_run_concurrently_and_each_ends_clean()
    {
        var check = LeakCheck.Start(server);
        var ids = new long[4];
        var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
        {
            EventLoop.Run(async () =>
            {
                ids[i] = EventLoop.Current!.Id;
                var client = new AsyncHttpClient();
                for (var j = 0; j < 20; j++)
                {
                    await client.FetchAsync(Url("/delay/2"));
                    Assert.Equal(ids[i], EventLoop.Current!.Id);
                }
            });
        })).ToList();
        threads.ForEach(t => t.Start());
        // 20 fetches of /delay/2 per loop take about 0.1 s unloaded; 30 s is the margin for a loaded 2-core machine.
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(30)), "waited 30 s for the four loops to end"));

        Assert.Equal(4, ids.Distinct().Count());
        check.AssertClean();
    }

    [Fact]
    [Trait("Spec", "LOOP-17")]
    public void LOOP_17_AddCallback_runs_callbacks_in_FIFO_order_on_the_loop_thread()
    {
        var order = new List<int>();
        EventLoop.Run(async () =>
        {
            var loop = EventLoop.Current!;
            var done = new TaskCompletionSource();
            for (var i = 0; i < 100; i++)
            {
                var n = i;
                loop.AddCallback(() =>
                {
                    Assert.Equal(loop.ThreadId, Environment.CurrentManagedThreadId);
                    order.Add(n);
                });
            }

            // From another thread too: still runs on the loop thread, after the ones already queued.
            await Task.Run(() => loop.AddCallback(() => done.SetResult()));
            await done.Task;
        });

        Assert.Equal(Enumerable.Range(0, 100), order);
    }

    [Fact]
    [Trait("Spec", "LOOP-17")]
    [Trait("Category", "Timing")]
    public void LOOP_17_CallLater_fires_no_earlier_than_its_delay_and_not_at_all_when_cancelled()
    {
        TimeSpan firedAfter = default;
        var cancelledFired = false;
        EventLoop.Run(async () =>
        {
            var loop = EventLoop.Current!;
            var sw = Stopwatch.StartNew();
            var fired = new TaskCompletionSource();
            loop.CallLater(TimeSpan.FromMilliseconds(200), () =>
            {
                firedAfter = sw.Elapsed;
                fired.SetResult();
            });
            var cancelled = loop.CallLater(TimeSpan.FromMilliseconds(100), () => cancelledFired = true);
            cancelled.Cancel();
            Assert.True(cancelled.IsCancelled);
            // The loop fires due timers in due order, so once the 200 ms one ran the 100 ms one would have run
            // before it: no extra wait is needed for the "never" below. Bounded: a lost timer fails here (it fires
            // at 200 ms unloaded; 10 s is the margin for a loaded 2-core machine).
            await fired.Task.WaitAsync(TimeSpan.FromSeconds(10));
        });

        // Real time, on a loaded machine: never earlier than the delay (exact), and fired at all (the bound is the
        // 10 s wait above). The exact "no later than T + max(250 ms, T/2)" is proven on a fake clock, where it does
        // not depend on load: FakeClockTests.LOOP_17_CallLater_fires_exactly_at_its_due_time_on_a_fake_clock.
        Assert.True(firedAfter >= TimeSpan.FromMilliseconds(200), $"fired after {firedAfter.TotalMilliseconds:F0} ms, before its 200 ms delay");
        Assert.False(cancelledFired);
    }

    [Fact]
    [Trait("Spec", "LOOP-17")]
    public void LOOP_17_PeriodicCallback_ticks_until_stopped()
    {
        var ticks = 0;
        var ticksAtStop = 0;
        EventLoop.Run(async () =>
        {
            var loop = EventLoop.Current!;
            var periodic = loop.PeriodicCallback(TimeSpan.FromMilliseconds(20), () => ticks++);
            periodic.Start();
            Assert.True(periodic.IsRunning);
            // Five 20 ms ticks take 0.1 s unloaded; 10 s is the margin for a loaded 2-core machine.
            var waited = Stopwatch.StartNew();
            while (ticks < 5)
            {
                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), $"{ticks} ticks of a 20 ms periodic callback in 10 s");
                await Task.Delay(10);
            }

            periodic.Stop();
            ticksAtStop = ticks;
            Assert.False(periodic.IsRunning);
            Assert.Equal(0, loop.PendingTimers);
        });

        // "No tick after Stop" is proven on a fake clock (FakeClockTests), where time can be moved past many intervals.
        Assert.True(ticksAtStop >= 5);
        Assert.Equal(ticksAtStop, ticks);
    }

    [Fact]
    [Trait("Spec", "LOOP-18")]
    public void LOOP_18_timers_pending_when_Run_returns_never_fire_and_the_count_is_zero()
    {
        var fired = 0;
        EventLoop? loop = null;
        EventLoop.Run(() =>
        {
            loop = EventLoop.Current!;
            // Due long after Run returns, so that `fired == 0` below says "dropped, not flushed when Run ends": with
            // 10 ms and 50 ms a loaded machine could legitimately fire them before Run returned (stress run, issue 13).
            loop.CallLater(TimeSpan.FromMinutes(10), () => fired++);
            loop.PeriodicCallback(TimeSpan.FromMinutes(10), () => fired++).Start();
            Assert.Equal(2, loop.PendingTimers);
            return Task.CompletedTask;
        });

        // Nothing is scheduled any more. That the dropped timers never fire later, even when their time comes, is
        // proven on a fake clock (FakeClockTests.LOOP_18_*), where the clock can be moved past their due time.
        Assert.Equal(0, loop!.PendingTimers);
        Assert.Equal(0, fired);
        var ex = Assert.Throws<LoopMisuseException>(() => loop.AddCallback(() => fired++));
        Assert.Equal(LoopMisuseKind.LoopClosed, ex.Kind);
    }

    [Fact]
    [Trait("Spec", "LOOP-19")]
    public void LOOP_19_an_exception_in_a_scheduled_callback_fails_Run_with_it()
    {
        var check = LeakCheck.Start(server);
        var ex = Assert.Throws<InvalidDataException>(() => EventLoop.Run(async () =>
        {
            var client = new AsyncHttpClient();
            await client.FetchAsync(Url("/hello"));
            EventLoop.Current!.CallLater(TimeSpan.FromMilliseconds(10), () => throw new InvalidDataException("from a timer"));
            // Part of the scenario, not a wait for a result: the main coroutine is still running when the timer
            // throws, and Run must end with the timer's exception (asserted below) rather than the main's outcome. The
            // exception stops the loop, so Run does not wait these 10 s out.
            await Task.Delay(TimeSpan.FromSeconds(10));
        }));

        Assert.Equal("from a timer", ex.Message);
        check.AssertClean();
    }
}
