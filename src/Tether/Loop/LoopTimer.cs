namespace Tether;

/// <summary>A timer entry in an <see cref="EventLoop"/>'s timer heap. Only the loop's pump fires it.</summary>
internal sealed class LoopTimer
{
    private readonly Action _callback;

    public LoopTimer(EventLoop loop, Action callback, TimeSpan? period)
    {
        Loop = loop;
        _callback = callback;
        Period = period;
    }

    public EventLoop Loop { get; }

    public TimeSpan? Period { get; }

    public long Due { get; set; }

    public volatile bool Cancelled;

    public void Fire()
    {
        if (Cancelled)
        {
            return;
        }

        if (Period is { } period && !Loop.IsClosed)
        {
            // Re-arm before running so a slow callback does not drift the schedule further.
            Loop.Schedule(this, period);
        }

        _callback();
    }

    public void Cancel()
    {
        Cancelled = true;
        Loop.RemoveTimer(this);
    }
}
