namespace Tether;

/// <summary>
/// A synchronous HTTP client in the style of Tornado's <c>HTTPClient</c>, for scripts and code that is not
/// asynchronous.
/// </summary>
/// <remarks>
/// <para>
/// How it works: each <see cref="Fetch(FetchRequest, CancellationToken)"/> runs a private <see cref="EventLoop"/>
/// on the calling thread (<see cref="EventLoop.Run{T}(Func{Task{T}}, CancellationToken, string, int, string)"/>) for the length of that
/// one call, so no thread or loop outlives a call. The fetches go through one private, caller-owned
/// <see cref="AsyncHttpClient"/>, so consecutive calls reuse one keep-alive connection; <see cref="Dispose"/> closes
/// it and every socket it holds.
/// </para>
/// <para>
/// Called on a thread that is running an <see cref="EventLoop"/>, <c>Fetch</c> fails at once with a
/// <see cref="LoopMisuseException"/> of kind <see cref="LoopMisuseKind.BlockingInLoop"/> instead of deadlocking:
/// await <see cref="AsyncHttpClient.FetchAsync(FetchRequest, CancellationToken)"/> there.
/// </para>
/// <example>
/// <code>
/// using var client = new BlockingHttpClient();
/// FetchResponse response = client.Fetch("http://127.0.0.1:8080/hello");
/// </code>
/// </example>
/// <para>Thread-safety: calls may come from several threads at once (each runs its own loop).</para>
/// </remarks>
public sealed class BlockingHttpClient : IDisposable
{
    private readonly AsyncHttpClient _client;

    /// <summary>Creates the client. Nothing is opened until the first fetch.</summary>
    /// <param name="options">Options of the underlying <see cref="AsyncHttpClient"/>. This object owns that client
    /// whatever <see cref="AsyncHttpClientOptions.Ownership"/> says (it is never bound to a loop); the options object
    /// itself is not changed, so it can be shared with other clients.</param>
    public BlockingHttpClient(AsyncHttpClientOptions? options = null)
    {
        options ??= new AsyncHttpClientOptions();
        // Walked, not keyed by this file's line: every blocking client would otherwise carry the first one's site.
        // Caller-owned without writing Ownership into the caller's options: they may be frozen by another client's
        // first fetch, and a client created inside a loop with them later must still be owned by that loop.
        _client = new AsyncHttpClient(options, Diagnostics.CallSite.Capture(), callerOwned: true);
    }

    /// <summary>The underlying asynchronous client (its pool, ledger name, options).</summary>
    public AsyncHttpClient Client => _client;

    /// <summary>Fetches <paramref name="url"/> with GET, blocking until the body is read.</summary>
    /// <param name="url">An absolute http or https URL.</param>
    /// <param name="cancellationToken">Cancels the fetch; throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The buffered response.</returns>
    /// <exception cref="FetchException">A non-2xx status (unless raise-on-error is off), or a 599.</exception>
    /// <exception cref="LoopMisuseException">Called on a thread running an <see cref="EventLoop"/>.</exception>
    /// <exception cref="ClientClosedException">This client was disposed.</exception>
    public FetchResponse Fetch(string url, CancellationToken cancellationToken = default) =>
        Fetch(new FetchRequest(url ?? throw new ArgumentNullException(nameof(url))), cancellationToken);

    /// <summary>Fetches <paramref name="request"/>, blocking until the body is read.</summary>
    /// <param name="request">The request; never modified.</param>
    /// <param name="cancellationToken">Cancels the fetch; throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The buffered response.</returns>
    /// <exception cref="FetchException">A non-2xx status (unless raise-on-error is off), or a 599.</exception>
    /// <exception cref="LoopMisuseException">Called on a thread running an <see cref="EventLoop"/>.</exception>
    /// <exception cref="ClientClosedException">This client was disposed.</exception>
    public FetchResponse Fetch(FetchRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (EventLoop.Current is { } running)
        {
            throw LoopMisuseException.BlockingInLoop(running, "BlockingHttpClient.Fetch");
        }

        if (_client.IsClosed)
        {
            // Named for what the caller holds: its own AsyncHttpClient is an implementation detail they never created.
            throw new ClientClosedException($"BlockingHttpClient over {_client.Name}", _client.ClosedAt, _client.AllocationSite,
                "Create a new BlockingHttpClient, or dispose this one only after its last Fetch.");
        }

        // No caller line of ours: the loop's site is the user's frame, walked (this line is shared by every caller).
        return EventLoop.Run(() => _client.FetchAsync(request, cancellationToken), cancellationToken,
            callerFilePath: string.Empty, callerLineNumber: 0);
    }

    /// <summary>Closes the underlying client and every socket it holds. Idempotent.</summary>
    public void Dispose() => _client.Close();
}
