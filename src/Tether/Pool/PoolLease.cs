namespace Tether;

/// <summary>A fetch's hold on one per-host slot and one total slot of a <see cref="ConnectionPool"/>. Disposing it
/// gives both back. Owned by the <see cref="FetchOperation"/> that acquired it.</summary>
internal sealed class PoolLease : IDisposable
{
    private AsyncFifoSemaphore? _host;
    private AsyncFifoSemaphore? _total;

    public PoolLease(AsyncFifoSemaphore host, AsyncFifoSemaphore total)
    {
        _host = host;
        _total = total;
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _total, null)?.Release();
        Interlocked.Exchange(ref _host, null)?.Release();
    }
}
