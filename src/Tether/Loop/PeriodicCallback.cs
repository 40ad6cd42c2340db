namespace Tether;

/// <summary>Runs a callback on an <see cref="EventLoop"/> at a fixed interval until stopped or the loop ends.</summary>
/// <remarks>Created by <see cref="EventLoop.PeriodicCallback"/>; owned by its loop, which stops it on close.</remarks>
public sealed class PeriodicCallback
{
    private readonly EventLoop _loop;
    private readonly TimeSpan _interval;
    private readonly Action _callback;
    private LoopTimer? _timer;

    internal PeriodicCallback(EventLoop loop, TimeSpan interval, Action callback)
    {
        _loop = loop;
        _interval = interval;
        _callback = callback;
    }

    /// <summary>The interval between ticks.</summary>
    public TimeSpan Interval => _interval;

    /// <summary>Whether the callback is scheduled.</summary>
    public bool IsRunning => _timer is { Cancelled: false };

    /// <summary>Starts ticking; the first tick is one interval from now. Does nothing if already running.</summary>
    /// <exception cref="LoopMisuseException">Called off the loop's thread, or the loop is closed.</exception>
    public void Start()
    {
        if (IsRunning)
        {
            return;
        }

        _timer = new LoopTimer(_loop, _callback, _interval);
        _loop.Schedule(_timer, _interval);
    }

    /// <summary>Stops ticking. Idempotent.</summary>
    public void Stop() => _timer?.Cancel();
}
