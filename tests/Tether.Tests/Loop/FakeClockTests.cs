using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Tether.Tests.Loop;

/// <summary>
/// The loop's timer logic on a fake clock (issue 13): <c>EventLoop.Run(main, timeProvider)</c> with a
/// <see cref="FakeTimeProvider"/>. Time moves only when the test advances it, so "not before", "exactly at" and
/// "never after" are exact and do not depend on machine load. Real-time counterparts: EventLoopTests.LOOP_17_*.
/// </summary>
public sealed class FakeClockTests
{
    /// <summary>Lets the pump run one full turn: the first yield's continuation is queued before the pump moves the
    /// timers that became due, the second after them, so every timer due now has fired when this returns.</summary>
    private static async Task Turn()
    {
        await Task.Yield();
        await Task.Yield();
    }

    [Fact]
    [Trait("Spec", "LOOP-17")]
    public void LOOP_17_CallLater_fires_exactly_at_its_due_time_on_a_fake_clock()
    {
        var clock = new FakeTimeProvider();
        var fired = 0;
        var cancelledFired = 0;
        EventLoop.Run(async () =>
        {
            var loop = EventLoop.Current!;
            Assert.Same(clock, loop.TimeProvider);
            loop.CallLater(TimeSpan.FromMilliseconds(200), () => fired++);
            loop.CallLater(TimeSpan.FromMilliseconds(100), () => cancelledFired++).Cancel();

            clock.Advance(TimeSpan.FromMilliseconds(199));
            await Turn();
            Assert.Equal(0, fired); // 1 ms early: not yet

            clock.Advance(TimeSpan.FromMilliseconds(1));
            await Turn();
            Assert.Equal(1, fired); // exactly at its due time

            clock.Advance(TimeSpan.FromMinutes(1));
            await Turn();
            Assert.Equal(1, fired); // once
            Assert.Equal(0, cancelledFired); // and the cancelled one never, long after its time
            Assert.Equal(0, loop.PendingTimers);
        }, clock);
    }

    [Fact]
    [Trait("Spec", "LOOP-17")]
    public void LOOP_17_the_pump_wakes_for_a_timer_when_the_clock_is_advanced_from_another_thread()
    {
        // The pump sleeps with nothing ready; only the fake clock's timer can wake it for the due loop timer.
        var clock = new FakeTimeProvider();
        var firedOnLoopThread = false;
        EventLoop.Run(async () =>
        {
            var loop = EventLoop.Current!;
            var fired = new TaskCompletionSource();
            loop.CallLater(TimeSpan.FromSeconds(30), () =>
            {
                firedOnLoopThread = Environment.CurrentManagedThreadId == loop.ThreadId;
                fired.SetResult();
            });
            var advancer = new Thread(() => clock.Advance(TimeSpan.FromSeconds(30)));
            advancer.Start();
            // Bounded in real time: 30 fake seconds must not take 30 real ones. Advancing fires it in milliseconds
            // unloaded; 10 s is the margin for a loaded 2-core machine and still a third of the fake delay.
            await fired.Task.WaitAsync(TimeSpan.FromSeconds(10));
            advancer.Join();
        }, clock);

        Assert.True(firedOnLoopThread);
    }

    [Fact]
    [Trait("Spec", "LOOP-17")]
    public void LOOP_17_PeriodicCallback_ticks_once_per_interval_and_never_after_Stop_on_a_fake_clock()
    {
        var clock = new FakeTimeProvider();
        var ticks = 0;
        EventLoop.Run(async () =>
        {
            var loop = EventLoop.Current!;
            var periodic = loop.PeriodicCallback(TimeSpan.FromMilliseconds(20), () => ticks++);
            periodic.Start();
            for (var i = 1; i <= 5; i++)
            {
                clock.Advance(TimeSpan.FromMilliseconds(19));
                await Turn();
                Assert.Equal(i - 1, ticks); // not before the interval
                clock.Advance(TimeSpan.FromMilliseconds(1));
                await Turn();
                Assert.Equal(i, ticks); // at the interval, once
            }

            periodic.Stop();
            Assert.False(periodic.IsRunning);
            clock.Advance(TimeSpan.FromSeconds(10)); // 500 intervals
            await Turn();
            Assert.Equal(5, ticks);
        }, clock);

        Assert.Equal(5, ticks);
    }

    [Fact]
    [Trait("Spec", "LOOP-18")]
    public void LOOP_18_timers_pending_when_Run_returns_never_fire_even_when_their_time_comes()
    {
        var fake = new FakeTimeProvider();
        var clock = new TrackingTimeProvider(fake);
        var fired = 0;
        EventLoop? loop = null;
        EventLoop.Run(async () =>
        {
            loop = EventLoop.Current!;
            loop.CallLater(TimeSpan.FromMilliseconds(50), () => fired++);
            loop.PeriodicCallback(TimeSpan.FromMilliseconds(10), () => fired++).Start();
            Assert.Equal(2, loop.PendingTimers);

            // Let the pump go to sleep on the clock's timer for the earliest loop timer, so that a timer of the
            // clock is live when the coroutine ends (bounded in real time: the pump arms it within milliseconds
            // unloaded; 10 s is the margin for a loaded 2-core machine).
            await Task.Run(async () =>
            {
                var waited = System.Diagnostics.Stopwatch.StartNew();
                while (clock.Created == 0)
                {
                    Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), "the pump never armed a timer of the clock");
                    await Task.Delay(1);
                }
            });
        }, clock);

        Assert.Equal(0, loop!.PendingTimers);
        Assert.Equal(0, clock.Live); // every timer of the clock the loop made is disposed
        fake.Advance(TimeSpan.FromMinutes(1)); // far past every due time
        Assert.Equal(0, clock.Callbacks); // no timer of the clock ran
        Assert.Equal(0, fired);
        var ex = Assert.Throws<LoopMisuseException>(() => loop.AddCallback(() => fired++));
        Assert.Equal(LoopMisuseKind.LoopClosed, ex.Kind);
    }

    /// <summary>A clock that delegates to a <see cref="FakeTimeProvider"/> and counts the timers made from it: how
    /// many were created, how many are still live (not disposed), and how many callbacks ran.</summary>
    private sealed class TrackingTimeProvider(FakeTimeProvider inner) : TimeProvider
    {
        private int _created;
        private int _live;
        private int _callbacks;

        public int Created => Volatile.Read(ref _created);

        public int Live => Volatile.Read(ref _live);

        public int Callbacks => Volatile.Read(ref _callbacks);

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override long GetTimestamp() => inner.GetTimestamp();

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref _created);
            Interlocked.Increment(ref _live);
            var timer = inner.CreateTimer(s =>
            {
                Interlocked.Increment(ref _callbacks);
                callback(s);
            }, state, dueTime, period);
            return new Tracked(this, timer);
        }

        private sealed class Tracked(TrackingTimeProvider owner, ITimer timer) : ITimer
        {
            private int _disposed;

            public bool Change(TimeSpan dueTime, TimeSpan period) => timer.Change(dueTime, period);

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref owner._live);
                }

                timer.Dispose();
            }

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }
}
