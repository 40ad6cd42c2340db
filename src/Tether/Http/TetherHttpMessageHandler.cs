namespace Tether;

/// <summary>
/// An <see cref="HttpMessageHandler"/> backed by a Tether <see cref="ConnectionPool"/>, for code that needs a plain
/// <see cref="HttpClient"/> (Refit, generated clients, IHttpClientFactory and resilience pipelines) but should still
/// get the socket ledger, the pool limits and wait timeouts, and close-on-owner-close.
/// </summary>
/// <example>
/// <code>
/// await using var pool = new ConnectionPool(new ConnectionPoolOptions { MaxConnectionsPerHost = 4 });
/// using var http = new HttpClient(new TetherHttpMessageHandler(pool));
/// var text = await http.GetStringAsync("http://127.0.0.1:5000/hello");
/// </code>
/// </example>
/// <remarks>
/// <para>
/// Ownership: the handler owns one internal <see cref="AsyncHttpClient"/> (ownership
/// <see cref="ClientOwnership.Caller"/>, never bound to an <see cref="EventLoop"/>). Given a pool, the handler leases
/// from it: disposing the handler closes only the sockets its own requests and undisposed responses hold, and idle
/// connections stay in the pool for the next handler (IHttpClientFactory rotates handlers). Without a pool the client
/// owns a private pool that disposing the handler closes.
/// </para>
/// <para>
/// Each request takes a <see cref="AsyncHttpClientOptions.MaxClients"/> slot and a pool slot until its response body
/// is read to the end or the response is disposed; a response disposed before the end discards its connection.
/// Redirects, decompression, cookies and status handling are left to the HttpClient pipeline. Transport failures are
/// <see cref="HttpRequestException"/>s whose inner exception is the Tether <see cref="FetchException"/> (its
/// <see cref="FetchException.Kind"/> says why, e.g. <see cref="FetchErrorKind.PoolWaitTimeout"/>).
/// </para>
/// <para>Thread-safety: like every HttpMessageHandler, safe for concurrent requests.</para>
/// </remarks>
public sealed class TetherHttpMessageHandler : HttpMessageHandler
{
    private readonly AsyncHttpClient _client;

    /// <summary>Creates a handler that leases from <paramref name="pool"/>, or owns a private pool when it is null.</summary>
    /// <param name="pool">The pool to lease from (its owner closes it), or null for a private pool owned by the handler.</param>
    /// <param name="configure">Sets the internal client's options (MaxClients, Defaults such as ConnectTimeout, Name).
    /// <see cref="AsyncHttpClientOptions.Ownership"/> is always <see cref="ClientOwnership.Caller"/>: the handler owns
    /// the client.</param>
    /// <exception cref="OptionsValidationException">At the first request, when the options are invalid.</exception>
    public TetherHttpMessageHandler(ConnectionPool? pool = null, Action<AsyncHttpClientOptions>? configure = null)
    {
        var options = new AsyncHttpClientOptions { Name = "TetherHttpMessageHandler" };
        configure?.Invoke(options);
        options.Ownership = ClientOwnership.Caller;
        if (pool is not null)
        {
            options.Pool = pool;
        }

        _client = new AsyncHttpClient(options);
    }

    /// <summary>The internal client: its <see cref="AsyncHttpClient.InFlight"/> counts requests whose response is not
    /// yet read or disposed, and its <see cref="AsyncHttpClient.Pool"/> is the pool in use (after the first request).</summary>
    public AsyncHttpClient Client => _client;

    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _client.SendThroughPoolAsync(request, cancellationToken);

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">Always: Tether is async-only; use SendAsync.</exception>
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("TetherHttpMessageHandler is async-only: call HttpClient.SendAsync/GetAsync, not Send.");

    /// <summary>Closes the internal client: aborts the sockets its requests and undisposed responses hold (and the
    /// private pool, if it owns one).</summary>
    /// <param name="disposing">True when called from <see cref="HttpMessageHandler.Dispose()"/>.</param>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _client.Close();
        }

        base.Dispose(disposing);
    }
}
