using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Tether.Tests.Timeouts;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that lists the timers made from it, when each was armed and for how long, and
/// whether it fired. Time moves only when the test calls <see cref="FakeTimeProvider.Advance"/>, which runs every due
/// callback synchronously on the calling thread, so "this deadline has not fired yet" is exact right after an
/// <c>Advance</c> (issue 13).
/// </summary>
/// <remarks>A deadline is armed by the code under test on its own schedule (a fetch may still be connecting, a body
/// read not yet started), so a test first waits, on real time and bounded, until the timer it means is armed
/// (<see cref="WaitArmedAsync"/>); only then does it move the clock.</remarks>
internal sealed class DeadlineClock : FakeTimeProvider
{
    /// <summary>Bound on real-time waits for something that happens within milliseconds on an idle machine; 15 s
    /// leaves a wide margin for a loaded 2-core machine running the suite in parallel, and is spent only on failure.</summary>
    public static readonly TimeSpan RealBound = TimeSpan.FromSeconds(15);

    private readonly object _gate = new();
    private readonly List<TrackedTimer> _timers = [];

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var tracked = new TrackedTimer(this, callback, state);
        tracked.Inner = base.CreateTimer(static s => ((TrackedTimer)s!).Fire(), tracked, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        lock (_gate)
        {
            _timers.Add(tracked);
        }

        tracked.Change(dueTime, period);
        return tracked;
    }

    /// <summary>Waits (real time, bounded) until a one-shot timer for <paramref name="due"/> (whose callback state
    /// satisfies <paramref name="state"/>, when given) is armed and pending, and returns it.</summary>
    public async Task<TrackedTimer> WaitArmedAsync(TimeSpan due, string what, Func<object?, bool>? state = null)
    {
        var deadline = DateTime.UtcNow + RealBound;
        while (true)
        {
            lock (_gate)
            {
                if (_timers.LastOrDefault(t => t.IsPending && t.Due == due && (state is null || state(t.State))) is { } armed)
                {
                    return armed;
                }
            }

            Assert.True(DateTime.UtcNow < deadline,
                $"waited {RealBound.TotalSeconds:0} s for {what} to be armed on the fake clock (a {due.TotalMilliseconds:0} ms timer)");
            await Task.Delay(5);
        }
    }

    /// <summary>One timer made from the clock.</summary>
    internal sealed class TrackedTimer(DeadlineClock clock, TimerCallback callback, object? state) : ITimer
    {
        private volatile bool _fired;
        private volatile bool _disposed;
        private bool _periodic;

        public ITimer Inner { get; set; } = null!;

        /// <summary>The state the timer's owner passed (a <see cref="CancellationTokenSource"/> for a source's timer).</summary>
        public object? State => state;

        /// <summary>The due time of the last arming (infinite when disarmed).</summary>
        public TimeSpan Due { get; private set; } = Timeout.InfiniteTimeSpan;

        /// <summary>The fake time of the last arming.</summary>
        public DateTimeOffset ArmedAt { get; private set; }

        public bool HasFired => _fired;

        /// <summary>Armed, one-shot, not fired and not disposed.</summary>
        public bool IsPending => !_fired && !_disposed && !_periodic && Due != Timeout.InfiniteTimeSpan;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            Due = dueTime;
            ArmedAt = clock.GetUtcNow();
            _periodic = period != Timeout.InfiniteTimeSpan;
            _fired = false;
            return Inner.Change(dueTime, period);
        }

        public void Fire()
        {
            _fired = true;
            callback(state);
        }

        public void Dispose()
        {
            _disposed = true;
            Inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
