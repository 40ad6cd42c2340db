using Tether.Diagnostics;

namespace Tether;

/// <summary>
/// Finds a streamed response that was dropped without being read to the end or disposed (DIAG-09): a
/// <see cref="FetchResponse"/>, or an <see cref="HttpResponseMessage"/> of the HttpClient bridge. Referenced only
/// by the response body, so it becomes unreachable exactly when the caller dropped the response; its finalizer
/// reports the leak and closes the socket (RST), which frees the pool slot and the client slot for other waiters.
/// </summary>
internal sealed class ResponseLeakSentinel(FetchOperation operation, string typeName = nameof(FetchResponse))
{
    private int _disarmed;

    /// <summary>The body was read to the end or disposed: nothing to report.</summary>
    public void Disarm()
    {
        if (Interlocked.Exchange(ref _disarmed, 1) == 0)
        {
            GC.SuppressFinalize(this);
        }
    }

    ~ResponseLeakSentinel()
    {
        if (Volatile.Read(ref _disarmed) != 0 || operation.IsCompleted)
        {
            return;
        }

        if (operation.AbortKind is null)
        {
            var client = operation.Client;
            var site = operation.AllocationSite;
            if (site is null && typeName == nameof(HttpResponseMessage))
            {
                // The bridge records callers only after a first leak (a stack walk per request otherwise).
                client.NamesBridgeCallers = true;
                site = $"{client.AllocationSite} (where the handler was created; from now on its requests record their " +
                    "caller, so the next dropped response names the method)";
            }

            LeakTracker.Report(LeakKind.ResponseNotDisposed, typeName, site ?? client.AllocationSite, client.Options.Logger, canThrow: false);
        }

        operation.Complete(discardConnection: true);
    }
}
