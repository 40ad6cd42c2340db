namespace Tether;

/// <summary>
/// A counting semaphore whose waiters are served strictly first-in, first-out, with per-wait timeout and
/// cancellation. Used for the client's <c>MaxClients</c> queue and the pool's per-host and total limits.
/// </summary>
/// <remarks>A waiter that times out or is cancelled never takes a permit, so it frees nothing it never held.
/// Taking a free permit with nobody queued, and giving one back with nobody queued, is one interlocked operation on the
/// free count (no lock): see <see cref="Release()"/> for why no waiter is ever left queued next to a free permit.
/// A finite wait is a <see cref="CancellationTokenSource"/> on the semaphore's <see cref="TimeProvider"/> (the
/// runtime's timer queue for <see cref="TimeProvider.System"/>): it fires whatever loop (or none) the waiter is awaited
/// on, and a fake clock drives it in tests (issue 13).</remarks>
internal sealed class AsyncFifoSemaphore
{
    private readonly Lock _gate = new(); // System.Threading.Lock: cheaper than a Monitor on an object (issue 16, sixth pass)
    // Guarded by _gate; made when the first waiter queues (most semaphores never have one: a loop per call makes a
    // client and a private pool per fetch, with four semaphores between them).
    private LinkedList<Waiter>? _waiters;
    private readonly TimeProvider _time;
    private readonly bool _trackQuiet;
    // The free permits. Changed only by interlocked operations (inside or outside the lock); never above Capacity.
    private int _available;
    // _waiters.Count, written under the lock with an interlocked store (a full fence), read without it.
    private int _waiterCount;
    private long _quietSince;

    /// <param name="capacity">The number of permits.</param>
    /// <param name="time">The clock of <see cref="QuietSince"/> and of finite waits (default: the system clock).</param>
    /// <param name="trackQuiet">Whether <see cref="QuietSince"/> is kept (a clock read whenever the last permit comes
    /// back); the client's <c>MaxClients</c> queue does not use it.</param>
    public AsyncFifoSemaphore(int capacity, TimeProvider? time = null, bool trackQuiet = true)
    {
        Capacity = capacity;
        _available = capacity;
        _time = time ?? TimeProvider.System;
        _trackQuiet = trackQuiet;
        _quietSince = Clock.Now(_time);
    }

    /// <summary>When every permit was last free with nobody waiting (a timestamp of the semaphore's clock,
    /// <see cref="Clock.Now"/>). Written just before the last permit is given back, so it is never older than the
    /// moment the semaphore became quiet (it may be a little newer). Without tracking, the creation time.</summary>
    public long QuietSince => Interlocked.Read(ref _quietSince);

    /// <summary>Every permit is free and nobody waits (a snapshot; <see cref="TryReserveAll"/> is the exact form).</summary>
    public bool IsQuiet => Volatile.Read(ref _waiterCount) == 0 && Volatile.Read(ref _available) == Capacity;

    /// <summary>Set once a per-key table dropped this semaphore: a waiter that got a permit from it looks again.</summary>
    public volatile bool Retired;

    /// <summary>Takes every permit at once if all are free and nobody waits (so nothing can start while the caller
    /// acts on "nothing is in flight"); give them back with <see cref="ReleaseAll"/>.</summary>
    public bool TryReserveAll()
    {
        lock (_gate)
        {
            // Nobody can queue meanwhile (that takes the lock); a lock-free TryTake sees 0 free and queues.
            return QueuedCount == 0 && Interlocked.CompareExchange(ref _available, 0, Capacity) == Capacity;
        }
    }

    /// <summary>Gives back what <see cref="TryReserveAll"/> took, waking waiters that queued meanwhile in order. Costs
    /// one step per waiter, not per permit (a capacity may be <see cref="int.MaxValue"/>).</summary>
    public void ReleaseAll()
    {
        lock (_gate)
        {
            var permits = Capacity;
            while (permits > 0 && _waiters?.First is { } first)
            {
                _waiters.RemoveFirst();
                Interlocked.Exchange(ref _waiterCount, _waiters.Count);
                if (first.Value.Completion.TrySetResult(true))
                {
                    permits--; // handed straight to that waiter
                }
            }

            if (permits == Capacity && _trackQuiet)
            {
                Interlocked.Exchange(ref _quietSince, Clock.Now(_time));
            }

            // Every permit was reserved (0 free), so nothing else changed the count meanwhile.
            Interlocked.Exchange(ref _available, permits);
        }
    }

    public int Capacity { get; }

    /// <summary>The number of queued waiters (under the lock).</summary>
    private int QueuedCount => _waiters?.Count ?? 0;

    public int InUse => Capacity - Volatile.Read(ref _available);

    public int Waiting
    {
        get { lock (_gate) { return QueuedCount; } }
    }

    /// <summary>A lock-free hint that someone is queued (exact under the lock, possibly stale outside it).</summary>
    public bool HasWaiters => Volatile.Read(ref _waiterCount) > 0;

    /// <summary>Takes a permit if one is free and nobody is queued; never waits. Lock-free.</summary>
    public bool TryTake()
    {
        // FIFO: a permit is never taken past a queued waiter. A waiter that queues after this check (it found no
        // permit free when it looked) is served by the next release; see Release.
        return Volatile.Read(ref _waiterCount) == 0 && TryDecrement();
    }

    private bool TryDecrement()
    {
        var available = Volatile.Read(ref _available);
        while (available > 0)
        {
            var seen = Interlocked.CompareExchange(ref _available, available - 1, available);
            if (seen == available)
            {
                return true;
            }

            available = seen;
        }

        return false;
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
            if (QueuedCount == 0 && TryDecrement())
            {
                return true;
            }

            cancellationToken.ThrowIfCancellationRequested();
            waiter = new Waiter();
            _waiters ??= new LinkedList<Waiter>();
            waiter.Node = _waiters.AddLast(waiter);
            // Publish the queue (a full fence), then look at the free count again: a Release that added a permit
            // before this store may have read a waiter count of 0 and left the permit free; it is handed out here.
            Interlocked.Exchange(ref _waiterCount, _waiters.Count);
            GrantFreePermits();
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

    /// <summary>A waiter that timed out or was cancelled leaves the queue. It never holds a permit: a permit is granted
    /// only through a successful <c>TrySetResult(true)</c>, which then wins over the timeout.</summary>
    private void Abandon(Waiter waiter)
    {
        lock (_gate)
        {
            if (waiter.Node is { List: { } list } node)
            {
                list.Remove(node);
                Interlocked.Exchange(ref _waiterCount, list.Count);
            }
        }
    }

    /// <summary>Gives a permit back. With nobody queued this is one interlocked operation (no lock).</summary>
    /// <remarks>No lost wake-up: a permit is never left free while a waiter stays queued. The release adds the permit
    /// (an interlocked operation, a full fence) and then reads the waiter count; a waiter publishes the count (an
    /// interlocked store, a full fence) and then reads the free count (under the lock, in
    /// <see cref="GrantFreePermits"/>). With both fences at least one side sees the other: either the waiter sees the
    /// permit and takes it, or the release sees the waiter and hands the permit out under the lock, first in line
    /// first. FIFO holds because <see cref="TryTake"/> never takes a permit while the count says someone is queued.
    /// </remarks>
    public void Release() => Release(0);

    /// <summary>Gives a permit back, as <see cref="Release()"/>. <paramref name="now"/>: a timestamp of this
    /// semaphore's clock taken just before by the releasing fetch (its end), used as the quiet-since time instead of a
    /// new clock read when this release makes the semaphore quiet; 0 to read the clock.</summary>
    public void Release(long now)
    {
        var available = Volatile.Read(ref _available);
        while (true)
        {
            if (available >= Capacity)
            {
                return; // more releases than takes: capped, as before
            }

            if (available + 1 == Capacity && _trackQuiet)
            {
                // Before the permit is visible: never an old timestamp on a quiet semaphore.
                Interlocked.Exchange(ref _quietSince, now != 0 ? now : Clock.Now(_time));
            }

            var seen = Interlocked.CompareExchange(ref _available, available + 1, available);
            if (seen == available)
            {
                break;
            }

            available = seen;
        }

        if (Volatile.Read(ref _waiterCount) != 0)
        {
            lock (_gate)
            {
                GrantFreePermits();
            }
        }
    }

    /// <summary>Hands free permits to the queued waiters, first in line first (under the lock).</summary>
    private void GrantFreePermits()
    {
        while (_waiters?.First is { } first && TryDecrement())
        {
            _waiters.RemoveFirst();
            Interlocked.Exchange(ref _waiterCount, _waiters.Count);
            if (!first.Value.Completion.TrySetResult(true))
            {
                // That waiter already timed out or was cancelled: the permit goes back, to the next one in line.
                Interlocked.Increment(ref _available);
            }
        }
    }

    private sealed class Waiter
    {
        public readonly TaskCompletionSource<bool> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public LinkedListNode<Waiter>? Node;
    }
}
