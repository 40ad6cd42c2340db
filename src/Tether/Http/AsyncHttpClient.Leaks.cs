using Tether.Diagnostics;

namespace Tether;

/// <summary>Leak detection for clients (DIAG-08): a client that fetched and was never closed is found by its
/// finalizer, which reports it and aborts the sockets it owns.</summary>
/// <remarks>The finalizer is only registered once the client acquires resources (its first fetch) and only for
/// clients the caller owns: construction alone, loop-owned clients and closed clients cost nothing.</remarks>
public sealed partial class AsyncHttpClient
{
    /// <summary>Reports the leak and closes the client's sockets (abort, RST).</summary>
    ~AsyncHttpClient()
    {
        if (_isShared || IsClosed || _slots is null)
        {
            return;
        }

        LeakTracker.Report(LeakKind.ClientNotClosed, ServesHandler ? nameof(TetherHttpMessageHandler) : nameof(AsyncHttpClient),
            AllocationSite, Options.Logger, canThrow: false);
        CloseCore(FetchErrorKind.ClientClosed, "its finalizer (it was garbage-collected without Close)");
    }

    private void OnConstructed()
    {
        GC.SuppressFinalize(this);
        LeakTracker.ThrowPending();
    }

    private void OnResourcesAcquired()
    {
        if (!_isShared && _creationLoop is null)
        {
            GC.ReRegisterForFinalize(this);
        }
    }
}
