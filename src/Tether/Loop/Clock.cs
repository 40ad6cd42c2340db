using System.Diagnostics;

namespace Tether;

/// <summary>
/// Time for Tether's own timers (issue 13): every deadline and elapsed time of a client or pool is taken from its
/// <see cref="TimeProvider"/>, so timer logic can be tested with a fake clock (<c>FakeTimeProvider</c>).
/// </summary>
/// <remarks>With <see cref="TimeProvider.System"/> (the default) each helper does exactly what the code did before it
/// took a provider: <see cref="Stopwatch"/> timestamps, plain and linked <see cref="CancellationTokenSource"/>s whose
/// <c>CancelAfter</c> runs on the runtime's timer queue. No allocation and no timer is added per fetch; the only extra
/// work is one reference comparison. Any other provider gets sources whose timer is the provider's (a source made with
/// <see cref="CancellationTokenSource(TimeSpan, TimeProvider)"/> arms that timer on every <c>CancelAfter</c>).</remarks>
internal static class Clock
{
    /// <summary>Whether <paramref name="time"/> is the real clock (the fast path).</summary>
    public static bool IsSystem(TimeProvider time) => ReferenceEquals(time, TimeProvider.System);

    /// <summary>A monotonic timestamp in <paramref name="time"/>'s units (<see cref="TimeProvider.TimestampFrequency"/>).</summary>
    public static long Now(TimeProvider time) => IsSystem(time) ? Stopwatch.GetTimestamp() : time.GetTimestamp();

    /// <summary>Time since <paramref name="start"/>, a timestamp from <see cref="Now"/> of the same provider.</summary>
    public static TimeSpan Since(TimeProvider time, long start) =>
        IsSystem(time) ? Stopwatch.GetElapsedTime(start) : time.GetElapsedTime(start);

    /// <summary>Time from <paramref name="from"/> to <paramref name="to"/>, timestamps of the same provider.</summary>
    public static TimeSpan Between(TimeProvider time, long from, long to) =>
        IsSystem(time) ? Stopwatch.GetElapsedTime(from, to) : time.GetElapsedTime(from, to);

    /// <summary><paramref name="span"/> in <paramref name="time"/>'s timestamp units.</summary>
    public static long Ticks(TimeProvider time, TimeSpan span) =>
        (long)(span.TotalSeconds * (IsSystem(time) ? Stopwatch.Frequency : time.TimestampFrequency));

    /// <summary>An unlinked source whose <c>CancelAfter</c> runs on <paramref name="time"/>.</summary>
    public static CancellationTokenSource NewSource(TimeProvider time) =>
        IsSystem(time) ? new CancellationTokenSource() : new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);

    /// <summary>A source cancelled with <paramref name="token"/>, whose <c>CancelAfter</c> runs on
    /// <paramref name="time"/>. Dispose it (that also unlinks it from <paramref name="token"/>).</summary>
    public static CancellationTokenSource NewLinkedSource(CancellationToken token, TimeProvider time) =>
        IsSystem(time) ? CancellationTokenSource.CreateLinkedTokenSource(token) : new LinkedTimedSource(token, time);

    /// <summary>A source cancelled with either token, whose <c>CancelAfter</c> runs on <paramref name="time"/>.</summary>
    public static CancellationTokenSource NewLinkedSource(CancellationToken first, CancellationToken second, TimeProvider time) =>
        IsSystem(time) ? CancellationTokenSource.CreateLinkedTokenSource(first, second) : new LinkedTimedSource(first, second, time);

    /// <summary>A timer with no ExecutionContext flowing into it (it must not capture a fetch's AsyncLocals); the
    /// system clock's is a <see cref="Timer"/> as before.</summary>
    public static ITimer CreateTimer(TimeProvider time, TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        using (ExecutionContext.IsFlowSuppressed() ? default(AsyncFlowControl?) : ExecutionContext.SuppressFlow())
        {
            return IsSystem(time) ? new Timer(callback, state, dueTime, period) : time.CreateTimer(callback, state, dueTime, period);
        }
    }

    /// <summary>A linked source on a provider's clock: the BCL's linked sources cannot take a provider, so this one
    /// is cancelled by registrations on the tokens, removed when it is disposed.</summary>
    private sealed class LinkedTimedSource : CancellationTokenSource
    {
        private CancellationTokenRegistration _first;
        private CancellationTokenRegistration _second;

        public LinkedTimedSource(CancellationToken first, TimeProvider time)
            : base(Timeout.InfiniteTimeSpan, time)
        {
            _first = first.UnsafeRegister(static s => ((LinkedTimedSource)s!).CancelQuietly(), this);
        }

        public LinkedTimedSource(CancellationToken first, CancellationToken second, TimeProvider time)
            : this(first, time)
        {
            _second = second.UnsafeRegister(static s => ((LinkedTimedSource)s!).CancelQuietly(), this);
        }

        private void CancelQuietly()
        {
            try
            {
                Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Disposed concurrently: nobody waits on it any more.
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _first.Dispose();
                _second.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
