namespace Tether;

/// <summary>A handle to a callback scheduled with <see cref="EventLoop.CallLater"/>.</summary>
/// <remarks>Owned by the caller; the timer itself belongs to the loop and is dropped when the loop ends.</remarks>
public sealed class TimerHandle
{
    private readonly LoopTimer _timer;

    internal TimerHandle(LoopTimer timer) => _timer = timer;

    /// <summary>Whether <see cref="Cancel"/> was called (or the loop ended first).</summary>
    public bool IsCancelled => _timer.Cancelled;

    /// <summary>Stops the callback from running. Idempotent; safe after it ran.</summary>
    public void Cancel() => _timer.Cancel();
}
