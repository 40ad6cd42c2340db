using System.Collections.Concurrent;
using System.Text;
using Tether.Diagnostics;

namespace Tether;

/// <summary>The pool's request slots: a per-origin and a total limit, FIFO, taken by a fetch before its request goes
/// to the handler and held until its response is read or disposed. The held slots are listed (exactly which fetch
/// holds which), and an origin whose slots are all free has nothing in flight.</summary>
public sealed partial class ConnectionPool
{
    private readonly ConcurrentDictionary<string, AsyncFifoSemaphore> _hostSlots = NewTable<string, AsyncFifoSemaphore>();
    private readonly Lock _leaseGate = new(); // System.Threading.Lock: cheaper than a Monitor on an object (issue 16, sixth pass)
    private FetchOperation? _holders; // the fetches holding slots (intrusive list, guarded by _leaseGate)
    private AsyncFifoSemaphore? _totalSlots;

    /// <summary>Whether no request to <paramref name="hostKey"/> is in flight in this pool (nor waiting for a slot).</summary>
    internal bool IsQuiet(string hostKey) => !_hostSlots.TryGetValue(hostKey, out var host) || host.IsQuiet;

    /// <summary>Takes a per-host and a total slot, or fails with a pool-wait 599 naming the limits and holders.</summary>
    /// <remarks>The fast path (a free slot, nobody waiting) allocates nothing: the fetch holds the slots itself. A wait counts in
    /// <c>tether.pool.waits</c>; one still waiting after <see cref="TetherDiagnostics.SlowPoolWaitThreshold"/> logs the
    /// holders (DIAG-14) without losing its place in the FIFO queue.</remarks>
    internal ValueTask AcquireAsync(string hostKey, FetchOperation operation, CancellationToken cancellationToken)
    {
        EnsureStarted();

        // The usual case: both slots free and nobody queued. Taken synchronously, with no state machine, no clock
        // reads and no timer; anything else (a wait, a new origin, a table the reaper retired) takes the path below.
        if (_hostSlots.TryGetValue(hostKey, out var host) && !host.Retired && host.TryTake())
        {
            if (!host.Retired && _totalSlots!.TryTake())
            {
                // Reached from the fetch's start or dequeue without an await: that timestamp is the slots' own.
                Lease(hostKey, host, operation, waitedSeconds: 0.0, operation.SlotsTakenNow(Time));
                return default;
            }

            host.Release();
        }

        return AcquireSlowAsync(hostKey, operation, cancellationToken);
    }

    private async ValueTask AcquireSlowAsync(string hostKey, FetchOperation operation, CancellationToken cancellationToken)
    {
        var wait = Options.PoolWaitTimeout;
        var started = Clock.Now(Time);
        AsyncFifoSemaphore host;
        var waited = false;
        IDisposable? slow = null;
        try
        {
            while (true)
            {
                if (!_hostSlots.TryGetValue(hostKey, out host!))
                {
                    host = _hostSlots.GetOrAdd(hostKey, static (_, pool) => new AsyncFifoSemaphore(pool.Options.MaxConnectionsPerHost, pool.Time), this);
                    StartReaper(); // it also drops this table again once the origin is unused (CORE-05)
                    // A loop's own Shared client is one per loop by design (LOOP-03): not churn the caller could fix there.
                    if (Kind == PoolKinds.Client && !operation.Client.IsShared)
                    {
                        LeakTracker.OnPrivatePoolConnect(hostKey, operation.Client.AllocationSite, operation.Client.Options.Logger,
                            handler: operation.Client.ServesHandler);
                    }
                }

                var left = Remaining(wait, started);
                var hostWait = left == TimeSpan.Zero ? new ValueTask<bool>(host.TryTake()) : host.WaitAsync(left, cancellationToken);
                if (!hostWait.IsCompleted && !waited)
                {
                    waited = true;
                    slow = WatchSlowWait(hostKey, operation, started);
                }

                if (!await hostWait.ConfigureAwait(false))
                {
                    throw PoolWaitTimeout(hostKey, operation);
                }

                if (!host.Retired)
                {
                    break;
                }

                // The reaper dropped this origin's table while we queued on it: give the permit back, look again.
                host.Release();
            }

            var total = _totalSlots!;
            bool gotTotal;
            try
            {
                var remaining = Remaining(wait, started);
                var totalWait = remaining == TimeSpan.Zero ? new ValueTask<bool>(total.TryTake()) : total.WaitAsync(remaining, cancellationToken);
                if (!totalWait.IsCompleted && !waited)
                {
                    waited = true;
                    slow = WatchSlowWait(hostKey, operation, started);
                }

                gotTotal = await totalWait.ConfigureAwait(false);
            }
            catch
            {
                host.Release();
                throw;
            }

            if (!gotTotal)
            {
                host.Release();
                throw PoolWaitTimeout(hostKey, operation);
            }
        }
        finally
        {
            slow?.Dispose();
        }

        if (waited && TetherMetrics.PoolWaits.Enabled)
        {
            TetherMetrics.PoolWaits.Add(1, new KeyValuePair<string, object?>("tether.pool.kind", Kind));
        }

        var now = Clock.Now(Time);
        Lease(hostKey, host, operation, Clock.Between(Time, started, now).TotalSeconds, now);
    }

    /// <summary>Both slots are held: records the wait and lists the fetch as their holder.</summary>
    private void Lease(string hostKey, AsyncFifoSemaphore host, FetchOperation operation, double waitedSeconds, long now)
    {
        if (TetherMetrics.PoolWaitDuration.Enabled)
        {
            TetherMetrics.PoolWaitDuration.Record(waitedSeconds, new KeyValuePair<string, object?>("tether.pool.kind", Kind));
        }

        operation.TakeSlots(this, hostKey, host, _totalSlots!, now);
        List(operation);
    }

    /// <summary>What is left of <paramref name="wait"/>; <see cref="Timeout.InfiniteTimeSpan"/> stays infinite, and
    /// an exhausted wait is zero (a last non-blocking try).</summary>
    private TimeSpan Remaining(TimeSpan wait, long started)
    {
        if (wait == Timeout.InfiniteTimeSpan)
        {
            return wait;
        }

        var left = wait - Clock.Since(Time, started);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private void List(FetchOperation holder)
    {
        lock (_leaseGate)
        {
            holder.HolderNext = _holders;
            if (_holders is not null)
            {
                _holders.HolderPrevious = holder;
            }

            _holders = holder;
            holder.HolderListed = true;
        }
    }

    internal void Unlist(FetchOperation holder)
    {
        lock (_leaseGate)
        {
            if (!holder.HolderListed)
            {
                return;
            }

            if (holder.HolderPrevious is { } previous)
            {
                previous.HolderNext = holder.HolderNext;
            }
            else
            {
                _holders = holder.HolderNext;
            }

            if (holder.HolderNext is { } next)
            {
                next.HolderPrevious = holder.HolderPrevious;
            }

            holder.HolderPrevious = null;
            holder.HolderNext = null;
            holder.HolderListed = false;
        }
    }

    /// <summary>The fetches holding this pool's slots right now (exact); null when there are none.</summary>
    private List<FetchOperation>? HeldBy()
    {
        List<FetchOperation>? result = null;
        lock (_leaseGate)
        {
            for (var holder = _holders; holder is not null; holder = holder.HolderNext)
            {
                (result ??= []).Add(holder);
            }
        }

        return result;
    }

    /// <summary>A released slot may have made an origin quiet: a connect waiting for a socket slot can now close one
    /// of its idle connections (woken by the release, not by polling).</summary>
    internal void OnLeaseReleased(AsyncFifoSemaphore host)
    {
        if (_socketSlots is { HasWaiters: true } && host.IsQuiet)
        {
            MakeRoom(null);
        }
    }

    /// <summary>Arms a one-shot timer that logs the holders if the wait outlives the slow-wait threshold.</summary>
    private IDisposable? WatchSlowWait(string hostKey, FetchOperation operation, long started)
    {
        var threshold = TetherDiagnostics.SlowPoolWaitThreshold;
        if (threshold == Timeout.InfiniteTimeSpan || TetherDiagnostics.Policy == LeakPolicy.Off)
        {
            return null;
        }

        return Clock.CreateTimer(Time, _ =>
        {
            var (count, text, _, _) = DescribeHolders();
            LeakTracker.OnSlowPoolWait(hostKey, Clock.Since(Time, started), this, operation.Client.AllocationSite,
                operation.Client.Options.Logger, count, text);
        }, null, threshold, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The fetches that hold the slots: method and URL (redacted), client, loop, how long, what they are
    /// doing (no response yet, or a response not read to the end), and where the fetch was made. Exact, from the slot
    /// holders themselves. <c>Unanswered</c> counts holders with no response head yet (connecting to a host that does
    /// not answer, sending, or waiting for the server); <c>Open</c> those with a response not yet read or disposed.
    /// </summary>
    private (int Count, string Text, int Unanswered, int Open) DescribeHolders()
    {
        var holders = new List<(long AcquiredAt, FetchOperation Operation)>();
        lock (_leaseGate)
        {
            for (var holder = _holders; holder is not null; holder = holder.HolderNext)
            {
                holders.Add((holder.SlotsAcquiredAt, holder));
            }
        }

        if (holders.Count == 0)
        {
            return (0, " No fetch holds a slot right now (they were released while this message was written).", 0, 0);
        }

        var unanswered = 0;
        var open = 0;
        foreach (var (_, op) in holders)
        {
            if (op.IsCompleted)
            {
                continue;
            }

            if (op.AwaitingResponseHead)
            {
                unanswered++;
            }
            else
            {
                open++;
            }
        }

        var text = new StringBuilder();
        foreach (var (acquiredAt, op) in holders.OrderBy(static h => h.AcquiredAt).Take(20))
        {
            text.Append(Environment.NewLine)
                .Append("  - ").Append(op.Describe())
                .Append(", client ").Append(op.Client.Name)
                .Append(op.Loop is { } loop ? $", loop {loop.Name}" : string.Empty)
                .Append($", holding for {Clock.Since(Time, acquiredAt).TotalSeconds:F1}s")
                // A holder with no response head is connecting, sending or waiting for the server, and only its own
                // deadlines free the slot; telling it to dispose a response it does not have misleads (encode/httpx#557).
                .Append(op.IsCompleted ? string.Empty
                    : op.AwaitingResponseHead ? ", no response yet (connecting, sending the request, or waiting for the server)"
                    : ", response not yet read to the end or disposed")
                .Append(", fetched at ").Append(op.AllocationSite ?? op.Client.AllocationSite);
        }

        if (holders.Count > 20)
        {
            text.Append(Environment.NewLine).Append($"  ... and {holders.Count - 20} more");
        }

        return (holders.Count, text.ToString(), unanswered, open);
    }

    private FetchException PoolWaitTimeout(string hostKey, FetchOperation operation)
    {
        if (TetherMetrics.PoolWaitTimeouts.Enabled)
        {
            TetherMetrics.PoolWaitTimeouts.Add(1, new KeyValuePair<string, object?>("tether.pool.kind", Kind));
        }

        var (_, lines, unanswered, open) = DescribeHolders();
        // The advice follows what the holders are doing: responses left open are the caller's to dispose; fetches with
        // no answer yet (a host that drops SYNs, a server that never answers) hold their slots until their own
        // ConnectTimeout or RequestTimeout.
        var advice = (unanswered > 0, open > 0) switch
        {
            (true, false) => "Every holder is still waiting for its response: a host that does not answer keeps its slots " +
                "until ConnectTimeout or RequestTimeout; lower those, raise the limits, or raise PoolWaitTimeout.",
            (true, true) => "Dispose or read streamed responses; holders still waiting for a response keep their slots " +
                "until ConnectTimeout or RequestTimeout (lower those); or raise the limits or PoolWaitTimeout.",
            _ => "Dispose or read streamed responses, raise the limits, or raise PoolWaitTimeout.",
        };
        var message =
            $"Timed out after {Options.PoolWaitTimeout} waiting for a connection to {hostKey} in {Name}: " +
            $"MaxConnectionsPerHost = {Options.MaxConnectionsPerHost}, MaxConnectionsTotal = {Options.MaxConnectionsTotal}. " +
            advice + " Holders:" + lines;
        return new FetchException(FetchException.NoResponse, FetchErrorKind.PoolWaitTimeout, message, operation.Request,
            inner: new TimeoutException(message));
    }
}
