namespace Tether;

/// <summary>
/// A counting semaphore whose waiters are served strictly first-in, first-out, with per-wait timeout and
/// cancellation. Used for the client's <c>MaxClients</c> queue and the pool's per-host and total limits.
/// </summary>
/// <remarks>A waiter that times out or is cancelled never takes a permit, so it frees nothing it never held.
/// A finite wait is a <see cref="CancellationTokenSource"/> on the semaphore's <see cref="TimeProvider"/> (the
/// runtime's timer queue for <see cref="TimeProvider.System"/>): it fires whatever loop (or none) the waiter is awaited
/// on, and a fake clock drives it in tests (issue 13).</remarks>
internal sealed class AsyncFifoSemaphore
{
    private readonly object _gate = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly TimeProvider _time;
    private int _available;
    private long _quietSince;

    public AsyncFifoSemaphore(int capacity, TimeProvider? time = null)
    {
        Capacity = capacity;
        _available = capacity;
        _time = time ?? TimeProvider.System;
        _quietSince = Clock.Now(_time);
    }

    /// <summary>When every permit was last free with nobody waiting (a timestamp of the semaphore's clock,
    /// <see cref="Clock.Now"/>).</summary>
    public long QuietSince => Interlocked.Read(ref _quietSince);

    /// <summary>Every permit is free and nobody waits.</summary>
    public bool IsQuiet
    {
        get { lock (_gate) { return _available == Capacity && _waiters.Count == 0; } }
    }

    /// <summary>Set once a per-key table dropped this semaphore: a waiter that got a permit from it looks again.</summary>
    public volatile bool Retired;

    /// <summary>Takes every permit at once if all are free and nobody waits (so nothing can start while the caller
    /// acts on "nothing is in flight"); give them back with <see cref="ReleaseAll"/>.</summary>
    public bool TryReserveAll()
    {
        lock (_gate)
        {
            if (_available != Capacity || _waiters.Count != 0)
            {
                return false;
            }

            _available = 0;
            return true;
        }
    }

    /// <summary>Gives back what <see cref="TryReserveAll"/> took, waking waiters that queued meanwhile in order. Costs
    /// one step per waiter, not per permit (a capacity may be <see cref="int.MaxValue"/>).</summary>
    public void ReleaseAll()
    {
        lock (_gate)
        {
            var permits = Capacity;
            while (permits > 0 && _waiters.First is { } first)
            {
                _waiters.RemoveFirst();
                _waiterCount = _waiters.Count;
                if (first.Value.Completion.TrySetResult(true))
                {
                    permits--; // handed straight to that waiter
                }
            }

            _available = permits;
            if (_available == Capacity)
            {
                _quietSince = Clock.Now(_time);
            }
        }
    }

    public int Capacity { get; }

    public int InUse
    {
        get { lock (_gate) { return Capacity - _available; } }
    }

    public int Waiting
    {
        get { lock (_gate) { return _waiters.Count; } }
    }

    /// <summary>A lock-free hint that someone is queued (exact under the lock, possibly stale outside it).</summary>
    public bool HasWaiters => Volatile.Read(ref _waiterCount) > 0;

    private int _waiterCount;

    /// <summary>Takes a permit if one is free and nobody is queued; never waits.</summary>
    public bool TryTake()
    {
        lock (_gate)
        {
            if (_available > 0 && _waiters.Count == 0)
            {
                _available--;
                return true;
            }

            return false;
        }
    }

    /// <summary>Takes a permit; false when <paramref name="timeout"/> passed first.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    public ValueTask<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        // The usual case (a free permit, nobody queued) completes synchronously, with no async state machine.
        return TryTake() ? new ValueTask<bool>(true) : WaitSlowAsync(timeout, cancellationToken);
    }

    private async ValueTask<bool> WaitSlowAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Waiter waiter;
        lock (_gate)
        {
            if (_available > 0 && _waiters.Count == 0)
            {
                _available--;
                return true;
            }

            cancellationToken.ThrowIfCancellationRequested();
            waiter = new Waiter();
            waiter.Node = _waiters.AddLast(waiter);
            _waiterCount = _waiters.Count;
        }

        using var timer = timeout == Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(timeout, _time);
        using var onTimeout = timer?.Token.UnsafeRegister(static s => ((Waiter)s!).Completion.TrySetResult(false), waiter);
        using var onCancel = cancellationToken.UnsafeRegister(
            static (s, t) => ((Waiter)s!).Completion.TrySetCanceled(t), waiter);
        bool granted;
        try
        {
            granted = await waiter.Completion.Task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Abandon(waiter);
            throw;
        }

        if (!granted)
        {
            Abandon(waiter);
        }

        return granted;
    }

    /// <summary>A waiter that timed out or was cancelled leaves the queue. It never holds a permit: <see cref="Release"/>
    /// grants one only through a successful <c>TrySetResult(true)</c>, which then wins over the timeout.</summary>
    private void Abandon(Waiter waiter)
    {
        lock (_gate)
        {
            if (waiter.Node is { List: not null } node)
            {
                _waiters.Remove(node);
                _waiterCount = _waiters.Count;
            }
        }
    }

    public void Release()
    {
        lock (_gate)
        {
            while (_waiters.First is { } first)
            {
                _waiters.RemoveFirst();
                _waiterCount = _waiters.Count;
                if (first.Value.Completion.TrySetResult(true))
                {
                    return; // handed straight to the next waiter
                }

                // That waiter already timed out or was cancelled; try the next one.
            }

            _available = Math.Min(Capacity, _available + 1);
            if (_available == Capacity)
            {
                _quietSince = Clock.Now(_time);
            }
        }
    }

    private sealed class Waiter
    {
        public readonly TaskCompletionSource<bool> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public LinkedListNode<Waiter>? Node;
    }
}
