namespace Tether;

/// <summary>A fetch's hold on one per-host slot and one total slot of a <see cref="ConnectionPool"/>. Disposing it
/// gives both back. Owned by the <see cref="FetchOperation"/> that acquired it; while held it is also listed by the
/// pool (an intrusive list, no allocation per request), which is how the pool knows exactly which fetches hold its
/// slots (pool-wait errors name them) and which origins have nothing in flight.</summary>
internal sealed class PoolLease : IDisposable
{
    private AsyncFifoSemaphore? _host;
    private AsyncFifoSemaphore? _total;

    public PoolLease(ConnectionPool pool, string hostKey, AsyncFifoSemaphore host, AsyncFifoSemaphore total, FetchOperation operation)
    {
        Pool = pool;
        HostKey = hostKey;
        _host = host;
        _total = total;
        Operation = operation;
        AcquiredAt = Clock.Now(pool.Time);
    }

    public ConnectionPool Pool { get; }

    public string HostKey { get; }

    public FetchOperation? Operation { get; private set; }

    public long AcquiredAt { get; }

    private Transport? _transport;

    /// <summary>Marks <paramref name="transport"/> used by this lease until it is disposed (at most one at a time).</summary>
    public bool UseTransport(Transport transport)
    {
        if (ReferenceEquals(Volatile.Read(ref _transport), transport))
        {
            return true;
        }

        if (!transport.TryUse())
        {
            return false;
        }

        Interlocked.Exchange(ref _transport, transport)?.Release();
        return true;
    }

    // The pool's list of held leases (guarded by the pool's lease lock).
    internal PoolLease? Previous;
    internal PoolLease? Next;
    internal bool Listed;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _total, null) is not { } total)
        {
            return;
        }

        Pool.Unlist(this);
        Operation = null;
        Interlocked.Exchange(ref _transport, null)?.Release();
        total.Release();
        var host = Interlocked.Exchange(ref _host, null)!;
        host.Release();
        Pool.OnLeaseReleased(host);
    }
}
