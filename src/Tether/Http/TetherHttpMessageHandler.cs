using System.Net;

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
/// using var posted = await http.PostAsync("http://127.0.0.1:5000/echo", new StringContent("hello"));
/// </code>
/// </example>
/// <remarks>
/// <para>
/// Behaves like a default <see cref="SocketsHttpHandler"/> for what <see cref="HttpClient"/> code relies on: any
/// method (standard or not, such as PROPFIND) with any <see cref="HttpContent"/> or none, sent as given; redirects
/// followed (<see cref="AllowAutoRedirect"/>, <see cref="MaxAutomaticRedirections"/>, with dotnet/runtime's
/// <c>RedirectHandler</c> rules: 300/301/302 turn POST, and only POST, into GET; 303 turns every method but GET and
/// HEAD into GET; 307/308 re-send method and content; https to http is not followed and the 3xx is returned; a
/// Location without a fragment keeps the request's fragment; over the limit the last 3xx is returned);
/// cookies stored and sent back (<see cref="UseCookies"/>, <see cref="CookieContainer"/>); and
/// <see cref="AutomaticDecompression"/>; and the proxy of the environment (<see cref="UseProxy"/>: with no proxy
/// configured, requests go through <see cref="HttpClient.DefaultProxy"/>, so <c>http_proxy</c>, <c>https_proxy</c>,
/// <c>all_proxy</c> and <c>no_proxy</c> apply on Linux exactly as for a plain HttpClient). The differences, each deliberate (HTTP-03, docs/client-guide.md
/// "HttpClient bridge"): on a redirect to another origin (scheme, host or port) a <c>Cookie</c> or
/// <c>Proxy-Authorization</c> header set on the request is dropped (a default SocketsHttpHandler keeps them;
/// <c>Authorization</c> is dropped on every redirect by both); <c>Credentials</c>, an explicit proxy and certificates
/// are not properties of this handler (set them on the pool or the client's <see cref="AsyncHttpClientOptions.Defaults"/>,
/// e.g. <see cref="FetchSettings.Proxy"/>);
/// and the synchronous <c>Send</c> is not supported.
/// </para>
/// <para>
/// Ownership: the handler owns one internal <see cref="AsyncHttpClient"/> (ownership
/// <see cref="ClientOwnership.Caller"/>, never bound to an <see cref="EventLoop"/>). Given a pool, the handler leases
/// from it: disposing the handler closes only the sockets its own requests and undisposed responses hold, and idle
/// connections stay in the pool for the next handler (IHttpClientFactory rotates handlers). Without a pool the client
/// owns a private pool that disposing the handler closes.
/// </para>
/// <para>
/// Limits (CORE-07): by default the internal client has no <see cref="AsyncHttpClientOptions.MaxClients"/> queue
/// (<see cref="int.MaxValue"/>) and a private pool has no per-host or total cap (<see cref="int.MaxValue"/>), like a
/// default SocketsHttpHandler (<c>MaxConnectionsPerServer = int.MaxValue</c>); set them with <c>configure</c> or on
/// the pool you pass. A request (with its redirects) takes a MaxClients slot, and each hop a pool slot, until its
/// response body is read to the end or the response is disposed; a response disposed before the end discards its
/// connection, so no half-read socket goes back to the pool.
/// </para>
/// <para>
/// Errors: transport failures are <see cref="HttpRequestException"/>s with an <see cref="HttpRequestError"/> a plain
/// HttpClient caller would see, whose inner exception is the Tether <see cref="FetchException"/> (its
/// <see cref="FetchException.Kind"/> says why, e.g. <see cref="FetchErrorKind.PoolWaitTimeout"/>). A request on a
/// disposed handler, a closed client or a closed pool, or one in flight when they close, throws
/// <see cref="ObjectDisposedException"/> (as a disposed SocketsHttpHandler does), never an HttpRequestException that
/// a resilience pipeline would retry. A cancelled request throws <see cref="OperationCanceledException"/>.
/// </para>
/// <para>Thread-safety: like every HttpMessageHandler, safe for concurrent requests. Properties can be set only
/// before the first request (as on SocketsHttpHandler); a later set throws <see cref="InvalidOperationException"/>.</para>
/// </remarks>
public sealed class TetherHttpMessageHandler : HttpMessageHandler
{
    private readonly AsyncHttpClient _client;
    private bool _allowAutoRedirect = true;
    private int _maxAutomaticRedirections = 50;
    private bool _useCookies = true;
    private CookieContainer? _cookieContainer;
    private DecompressionMethods _automaticDecompression = DecompressionMethods.None;
    private int _started;
    private int _disposed;

    /// <summary>Creates a handler that leases from <paramref name="pool"/>, or owns a private pool when it is null.</summary>
    /// <param name="pool">The pool to lease from (its owner closes it), or null for a private pool owned by the handler
    /// (no per-host or total connection cap unless <c>configure</c> sets <see cref="AsyncHttpClientOptions.PoolOptions"/>).</param>
    /// <param name="configure">Sets the internal client's options (MaxClients, default <see cref="int.MaxValue"/> here;
    /// Defaults such as ConnectTimeout; Name). <see cref="AsyncHttpClientOptions.Ownership"/> is always
    /// <see cref="ClientOwnership.Caller"/>: the handler owns the client.</param>
    /// <exception cref="OptionsValidationException">At the first request, when the options are invalid.</exception>
    public TetherHttpMessageHandler(ConnectionPool? pool = null, Action<AsyncHttpClientOptions>? configure = null)
    {
        // CORE-07: no hidden queue of 10 outside a loop; the caller can still set MaxClients in configure.
        var options = new AsyncHttpClientOptions { Name = "TetherHttpMessageHandler", MaxClients = int.MaxValue };
        configure?.Invoke(options);
        options.Ownership = ClientOwnership.Caller;
        // HTTP-11: a default SocketsHttpHandler sends through HttpClient.DefaultProxy (the environment's proxy) when no
        // proxy is given; configure may have turned that off (UseDefaultProxy = false) or set an explicit Proxy.
        options.Defaults.UseDefaultProxy ??= true;
        if (pool is not null)
        {
            options.Pool = pool;
        }
        else
        {
            options.PoolOptions ??= new ConnectionPoolOptions { MaxConnectionsPerHost = int.MaxValue, MaxConnectionsTotal = int.MaxValue };
        }

        // Walked, not keyed by this file's line: every handler would otherwise carry the first one's site.
        _client = new AsyncHttpClient(options, Diagnostics.CallSite.Capture()) { ServesHandler = true };
    }

    /// <summary>The internal client: its <see cref="AsyncHttpClient.InFlight"/> counts requests whose response is not
    /// yet read or disposed, and its <see cref="AsyncHttpClient.Pool"/> is the pool in use (after the first request).</summary>
    public AsyncHttpClient Client => _client;

    /// <summary>Whether 3xx responses with a Location are followed (same name and default as
    /// <see cref="SocketsHttpHandler.AllowAutoRedirect"/>). Rules: dotnet/runtime <c>RedirectHandler</c>, RFC 9110 §15.4.</summary>
    /// <value>Default <see langword="true"/>.</value>
    /// <exception cref="InvalidOperationException">Set after the first request.</exception>
    public bool AllowAutoRedirect
    {
        get => _allowAutoRedirect;
        set
        {
            CheckNotStarted();
            _allowAutoRedirect = value;
        }
    }

    /// <summary>Most redirects followed for one request; the next 3xx is returned to the caller as it is (same as
    /// <see cref="SocketsHttpHandler.MaxAutomaticRedirections"/>).</summary>
    /// <value>1 or more; default 50.</value>
    /// <exception cref="ArgumentOutOfRangeException">Set to 0 or less.</exception>
    /// <exception cref="InvalidOperationException">Set after the first request.</exception>
    public int MaxAutomaticRedirections
    {
        get => _maxAutomaticRedirections;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value);
            CheckNotStarted();
            _maxAutomaticRedirections = value;
        }
    }

    /// <summary>Whether <see cref="CookieContainer"/> stores the <c>Set-Cookie</c> of every response (redirects
    /// included) and sends its cookies with every request, after any <c>Cookie</c> header the request sets (same as
    /// <see cref="SocketsHttpHandler.UseCookies"/>). When false, <c>Cookie</c> headers are sent as set and
    /// <c>Set-Cookie</c> is left to the caller.</summary>
    /// <value>Default <see langword="true"/>.</value>
    /// <exception cref="InvalidOperationException">Set after the first request.</exception>
    public bool UseCookies
    {
        get => _useCookies;
        set
        {
            CheckNotStarted();
            _useCookies = value;
        }
    }

    /// <summary>The cookie store used when <see cref="UseCookies"/> is true (same as
    /// <see cref="SocketsHttpHandler.CookieContainer"/>): domain, path, secure and expiry rules are
    /// <see cref="System.Net.CookieContainer"/>'s.</summary>
    /// <value>Default a new, empty container per handler (created on first read).</value>
    /// <exception cref="ArgumentNullException">Set to null.</exception>
    /// <exception cref="InvalidOperationException">Set after the first request.</exception>
    public CookieContainer CookieContainer
    {
        get => LazyInitializer.EnsureInitialized(ref _cookieContainer);
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            CheckNotStarted();
            _cookieContainer = value;
        }
    }

    /// <summary>Whether requests may go through a proxy (same name and default as
    /// <see cref="SocketsHttpHandler.UseProxy"/>). When true: the client's <see cref="FetchSettings.Proxy"/> if set,
    /// else <see cref="HttpClient.DefaultProxy"/> (on Linux the <c>http_proxy</c>, <c>https_proxy</c>,
    /// <c>all_proxy</c> and <c>no_proxy</c> environment variables), as a default SocketsHttpHandler. When false:
    /// every request connects directly, whatever the environment says.</summary>
    /// <remarks>A view of the internal client's <see cref="AsyncHttpClientOptions.Defaults"/>: reads true when
    /// <see cref="FetchSettings.Proxy"/> is set or <see cref="FetchSettings.UseDefaultProxy"/> is not false (the
    /// handler makes it true unless <c>configure</c> set it). Setting false clears <see cref="FetchSettings.Proxy"/>
    /// and sets <see cref="FetchSettings.UseDefaultProxy"/> to false; setting true sets
    /// <see cref="FetchSettings.UseDefaultProxy"/> to true (an explicit proxy, if still set, wins).</remarks>
    /// <value>Default <see langword="true"/>.</value>
    /// <exception cref="InvalidOperationException">Set after the first request.</exception>
    public bool UseProxy
    {
        get => _client.Options.Defaults.Proxy is not null || _client.Options.Defaults.UseDefaultProxy != false;
        set
        {
            CheckNotStarted();
            var defaults = _client.Options.Defaults;
            if (!value)
            {
                defaults.Proxy = null;
            }

            defaults.UseDefaultProxy = value;
        }
    }

    /// <summary>Content codings decoded for the caller (same as <see cref="SocketsHttpHandler.AutomaticDecompression"/>):
    /// each enabled coding is added to <c>Accept-Encoding</c>, and a response whose last <c>Content-Encoding</c> is
    /// an enabled <c>gzip</c>, <c>deflate</c> (zlib or raw) or <c>br</c> is decoded, with that coding removed from
    /// Content-Encoding and Content-Length removed.</summary>
    /// <value>Default <see cref="DecompressionMethods.None"/> (bodies arrive as the server sent them).</value>
    /// <exception cref="InvalidOperationException">Set after the first request.</exception>
    public DecompressionMethods AutomaticDecompression
    {
        get => _automaticDecompression;
        set
        {
            CheckNotStarted();
            _automaticDecompression = value;
        }
    }

    /// <inheritdoc />
    /// <exception cref="ObjectDisposedException">The handler, its client or its pool is closed (also for a request in
    /// flight when it closes).</exception>
    /// <exception cref="HttpRequestException">A transport failure; the inner exception is the <see cref="FetchException"/>.</exception>
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            throw new ObjectDisposedException(nameof(TetherHttpMessageHandler));
        }

        if (Volatile.Read(ref _started) == 0)
        {
            Volatile.Write(ref _started, 1);
        }

        return _client.SendThroughPoolAsync(request, this, cancellationToken);
    }

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">Always: Tether is async-only; use SendAsync.</exception>
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("TetherHttpMessageHandler is async-only: call HttpClient.SendAsync/GetAsync, not Send.");

    /// <summary>The cookie store if cookies are on (created at first use).</summary>
    internal CookieContainer? Cookies => _useCookies ? CookieContainer : null;

    /// <summary>Closes the internal client: aborts the sockets its requests and undisposed responses hold (and the
    /// private pool, if it owns one).</summary>
    /// <param name="disposing">True when called from <see cref="HttpMessageHandler.Dispose()"/>.</param>
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _client.Close();
        }

        base.Dispose(disposing);
    }

    private void CheckNotStarted()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Volatile.Read(ref _started) != 0)
        {
            throw new InvalidOperationException(
                "TetherHttpMessageHandler properties cannot be changed after the first request (as on SocketsHttpHandler); " +
                "set them before handing the handler to HttpClient.");
        }
    }
}
