using System.Security.Cryptography.X509Certificates;

namespace Tether;

/// <summary>
/// The per-request settings shared by <see cref="FetchRequest"/> (values for one fetch) and
/// <see cref="AsyncHttpClientOptions.Defaults"/> (a client's defaults). A <see langword="null"/> value means
/// "not set": a request's value wins over the client default, which wins over the built-in default named in each
/// property's documentation.
/// </summary>
public class FetchSettings
{
    // Allocated at the first value set: a request that only takes its client's defaults (the usual FetchAsync(url))
    // carries one reference here instead of 25 empty values.
    private SettingValues? _values;

    private SettingValues Values => _values ??= new SettingValues();

    // Bumped by every setter: a request whose version is 0 has no values of its own, and a client's resolved defaults
    // stay valid while the defaults' version is unchanged (ResolvedSettingsCache), so a fetch reads no setting twice.
    private int _version;

    /// <summary>How many times a value was set (0: none ever was). Compared, never interpreted.</summary>
    internal int Version => Volatile.Read(ref _version);

    private void Set<T>(ref T field, T value)
    {
        field = value;
        Interlocked.Increment(ref _version);
    }

    /// <summary>Timeout for the TCP connect (and TLS handshake).</summary>
    /// <value>Positive or <see cref="Timeout.InfiniteTimeSpan"/>; built-in default 20 s.</value>
    public TimeSpan? ConnectTimeout { get => _values?.ConnectTimeout; set => Set(ref Values.ConnectTimeout, value); }

    /// <summary>Deadline for the whole fetch, counted from the call: time queued for a <c>MaxClients</c> slot, the
    /// pool wait, connects, redirects and digest retries, the response headers, and the whole body.</summary>
    /// <remarks>
    /// <para>Buffered fetches (<c>FetchAsync</c>, with or without a streaming callback): the body is read within it.</para>
    /// <para>Streamed fetches (<c>FetchStreamAsync</c>): it keeps running after the call returns, and a read of
    /// <see cref="FetchResponse.BodyStream"/> after it ran out (or that is still waiting when it does) fails with a 599
    /// <see cref="FetchErrorKind.RequestTimeout"/>. So with default options a stalled streamed body fails 20 s after
    /// the call at the latest (HTTP-06). For a long download or an event stream, set it to
    /// <see cref="Timeout.InfiniteTimeSpan"/> and bound stalls with <see cref="BodyTimeout"/>.</para>
    /// <para>The same rule as Go's <c>http.Client.Timeout</c> and Tornado's <c>request_timeout</c> (both cover reading
    /// the body); unlike <c>HttpClient.Timeout</c>, which stops at the headers for
    /// <c>HttpCompletionOption.ResponseHeadersRead</c>, leaving a streamed body without any deadline by default.</para>
    /// <para>Expiry is a 599 <see cref="FetchErrorKind.RequestTimeout"/> with a <see cref="TimeoutException"/> inside;
    /// the caller's own token gives an <see cref="OperationCanceledException"/> instead.</para>
    /// </remarks>
    /// <value>Positive or <see cref="Timeout.InfiniteTimeSpan"/>; built-in default 20 s.</value>
    public TimeSpan? RequestTimeout { get => _values?.RequestTimeout; set => Set(ref Values.RequestTimeout, value); }

    /// <summary>How long a fetch may wait in the client's <c>MaxClients</c> queue; then it fails with a 599
    /// <see cref="FetchErrorKind.QueueTimeout"/> (Tornado: "Timeout in request queue") naming the slots in use and
    /// waiting. A fetch still queued when its <see cref="RequestTimeout"/> runs out fails with
    /// <see cref="FetchErrorKind.QueueTimeout"/> too when that request timeout is not shorter than this one (with the
    /// defaults both are 20 s); a shorter request timeout reports <see cref="FetchErrorKind.RequestTimeout"/> (time
    /// queued counts against it).</summary>
    /// <value>Positive or <see cref="Timeout.InfiniteTimeSpan"/>; built-in default: the smaller of
    /// <see cref="ConnectTimeout"/> and <see cref="RequestTimeout"/> (as in Tornado).</value>
    public TimeSpan? QueueTimeout { get => _values?.QueueTimeout; set => Set(ref Values.QueueTimeout, value); }

    /// <summary>Longest wait for one read of the response body: each read that gets no byte within it fails with a 599
    /// <see cref="FetchErrorKind.BodyTimeout"/> (a <see cref="FetchException"/>, never a bare
    /// <see cref="TaskCanceledException"/>), for buffered fetches and for reads of a streamed
    /// <see cref="FetchResponse.BodyStream"/> alike.</summary>
    /// <remarks>It bounds silence, not the transfer: a body that keeps trickling is bounded by
    /// <see cref="RequestTimeout"/>. A streamed read waits at most the smaller of the two (what is left of
    /// <see cref="RequestTimeout"/>), and fails with the kind of the one that ran out.</remarks>
    /// <value>Positive or <see cref="Timeout.InfiniteTimeSpan"/>; built-in default: infinite, because
    /// <see cref="RequestTimeout"/> (20 s by default) already bounds every body, buffered or streamed.</value>
    public TimeSpan? BodyTimeout { get => _values?.BodyTimeout; set => Set(ref Values.BodyTimeout, value); }

    /// <summary>Follow 3xx redirects.</summary>
    /// <value>Built-in default <see langword="true"/>.</value>
    public bool? FollowRedirects { get => _values?.FollowRedirects; set => Set(ref Values.FollowRedirects, value); }

    /// <summary>Most redirects to follow before failing with a too-many-redirects error.</summary>
    /// <value>0 or more; built-in default 5.</value>
    public int? MaxRedirects { get => _values?.MaxRedirects; set => Set(ref Values.MaxRedirects, value); }

    /// <summary>Follow a redirect from https to http (credentials are never carried across).</summary>
    /// <value>Built-in default <see langword="false"/>.</value>
    public bool? AllowInsecureRedirects { get => _values?.AllowInsecureRedirects; set => Set(ref Values.AllowInsecureRedirects, value); }

    /// <summary>The User-Agent header when the request does not set one; an empty string sends no User-Agent (as
    /// curl's <c>-H 'User-Agent:'</c>).</summary>
    /// <value>Built-in default <c>Tether/&lt;version&gt;</c>.</value>
    public string? UserAgent { get => _values?.UserAgent; set => Set(ref Values.UserAgent, value); }

    /// <summary>Advertise gzip, deflate and br and decode the body: every content coding listed is undone, last
    /// applied first (see <see cref="FetchResponse.DecodedContentEncodings"/>); decoded bytes count against
    /// <see cref="MaxBodySize"/>.</summary>
    /// <value>Built-in default <see langword="true"/>.</value>
    public bool? DecompressResponse { get => _values?.DecompressResponse; set => Set(ref Values.DecompressResponse, value); }

    /// <summary>Throw <see cref="FetchException"/> for a non-2xx status (transport failures always throw).</summary>
    /// <value>Built-in default <see langword="true"/>.</value>
    public bool? RaiseOnError { get => _values?.RaiseOnError; set => Set(ref Values.RaiseOnError, value); }

    /// <summary>Allow methods other than GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, and bodies where the method
    /// does not normally take one.</summary>
    /// <value>Built-in default <see langword="false"/>.</value>
    public bool? AllowNonstandardMethods { get => _values?.AllowNonstandardMethods; set => Set(ref Values.AllowNonstandardMethods, value); }

    /// <summary>Username for <see cref="AuthMode"/>.</summary>
    public string? AuthUsername { get => _values?.AuthUsername; set => Set(ref Values.AuthUsername, value); }

    /// <summary>Password for <see cref="AuthMode"/>. Never logged or shown.</summary>
    public string? AuthPassword { get => _values?.AuthPassword; set => Set(ref Values.AuthPassword, value); }

    /// <summary>How to authenticate with <see cref="AuthUsername"/> and <see cref="AuthPassword"/>.</summary>
    /// <value>Built-in default <see cref="Tether.AuthMode.Basic"/>.</value>
    public AuthMode? AuthMode { get => _values?.AuthMode; set => Set(ref Values.AuthMode, value); }

    /// <summary>An HTTP proxy (<c>http://host:port</c>, or <c>http://user:password@host:port</c>); https targets are
    /// tunnelled with CONNECT.</summary>
    /// <remarks>User info in the URL gives the proxy credentials, as in curl, Go (<c>http.ProxyURL</c>) and Python
    /// requests: the user name is the part before the first <c>:</c>, the password the rest, each percent-decoded
    /// (write <c>%40</c> for <c>@</c> and <c>%3A</c> for <c>:</c>, RFC 3986 §3.2.1). They apply when
    /// <see cref="ProxyUsername"/> / <see cref="ProxyPassword"/> are not set on the same settings (a request's values
    /// win over the client's defaults, as for every field). The user info is removed from the URL the handler, the
    /// ledger and every message see; the password is never logged or shown.</remarks>
    /// <value>Default none (no proxy). Must be an absolute <c>http://</c> URL.</value>
    /// <exception cref="OptionsValidationException">At validation, when the URL is not an absolute http:// URL, or its
    /// user info names a different user name or password than <see cref="ProxyUsername"/> / <see cref="ProxyPassword"/>
    /// set on the same settings (the message says which to remove).</exception>
    public Uri? Proxy { get => _values?.Proxy; set => Set(ref Values.Proxy, value); }

    /// <summary>Username sent to the proxy only (Basic, or whatever the proxy's 407 challenge asks for). When unset, the
    /// user name in <see cref="Proxy"/>'s user info, if any.</summary>
    public string? ProxyUsername { get => _values?.ProxyUsername; set => Set(ref Values.ProxyUsername, value); }

    /// <summary>Password sent to the proxy only; when unset, the password in <see cref="Proxy"/>'s user info, if any.
    /// Never logged or shown.</summary>
    public string? ProxyPassword { get => _values?.ProxyPassword; set => Set(ref Values.ProxyPassword, value); }

    /// <summary>When <see cref="Proxy"/> is not set, send through <see cref="HttpClient.DefaultProxy"/>, as a default
    /// <see cref="SocketsHttpHandler"/> does: on Linux and macOS the <c>http_proxy</c>, <c>https_proxy</c>,
    /// <c>all_proxy</c> and <c>no_proxy</c> environment variables (upper case too), read once per process; on Windows
    /// the system proxy settings.</summary>
    /// <remarks>
    /// <para><see cref="AsyncHttpClient"/> keeps Tornado's behaviour by default and ignores the environment (Tornado's
    /// simple and curl clients both connect directly unless <c>proxy_host</c> is given): set this to
    /// <see langword="true"/> to honour it, as httpx's and aiohttp's <c>trust_env</c> do. An explicit
    /// <see cref="Proxy"/> always wins. Requests the environment exempts (<c>no_proxy</c>) connect directly. The
    /// proxy's own connections are recorded in the ledger like an explicit proxy's.</para>
    /// <para><see cref="TetherHttpMessageHandler"/> defaults it to <see langword="true"/> (HTTP-11: it behaves like a
    /// default SocketsHttpHandler); turn it off with <see cref="TetherHttpMessageHandler.UseProxy"/> = false or by
    /// setting it to <see langword="false"/> in the handler's <c>configure</c>.</para>
    /// </remarks>
    /// <value>Built-in default <see langword="false"/> for <see cref="AsyncHttpClient"/> (Tornado);
    /// <see langword="true"/> in a <see cref="TetherHttpMessageHandler"/>'s client.</value>
    public bool? UseDefaultProxy { get => _values?.UseDefaultProxy; set => Set(ref Values.UseDefaultProxy, value); }

    /// <summary>Validate the server's certificate chain and name.</summary>
    /// <value>Built-in default <see langword="true"/>.</value>
    public bool? ValidateCertificate { get => _values?.ValidateCertificate; set => Set(ref Values.ValidateCertificate, value); }

    /// <summary>Trust these CA certificates (instead of the system store) when validating the server.</summary>
    public X509Certificate2Collection? CaCertificates { get => _values?.CaCertificates; set => Set(ref Values.CaCertificates, value); }

    /// <summary>A client certificate (with private key) to present to servers that ask for one.</summary>
    /// <remarks>Connections are keyed by its thumbprint; the pool's handler for that key presents its own copy of the
    /// certificate (same certificate and key), so the caller may dispose this object once its client is done, even
    /// while other clients of the same pool use the same certificate. The same holds for
    /// <see cref="CaCertificates"/>.</remarks>
    public X509Certificate2? ClientCertificate { get => _values?.ClientCertificate; set => Set(ref Values.ClientCertificate, value); }

    /// <summary>Allow connecting over IPv6.</summary>
    /// <value>Built-in default <see langword="true"/>.</value>
    public bool? AllowIPv6 { get => _values?.AllowIPv6; set => Set(ref Values.AllowIPv6, value); }

    /// <summary>Send <c>Expect: 100-continue</c> before a request body.</summary>
    /// <value>Built-in default <see langword="false"/>.</value>
    public bool? ExpectContinue { get => _values?.ExpectContinue; set => Set(ref Values.ExpectContinue, value); }

    /// <summary>Largest response header block, in bytes. Enforced by the handler in KiB, rounded up to the next power
    /// of two KiB (so at least this value and less than twice it), which keeps one handler per bucket rather than per
    /// value (see docs/design.md, "bounded tables").</summary>
    /// <value>1 KiB or more; built-in default 64 KiB (enforced exactly, a power of two).</value>
    public int? MaxHeaderSize { get => _values?.MaxHeaderSize; set => Set(ref Values.MaxHeaderSize, value); }

    /// <summary>Largest response body, in bytes, after decompression. Every decoding layer's input is bounded by it
    /// too (the bytes received and each intermediate layer), so a nested bomb stops at the limit. Memory follows the
    /// bytes received: an announced Content-Length reserves at most 256 KiB up front.</summary>
    /// <value>1 or more; built-in default 100 MiB.</value>
    public long? MaxBodySize { get => _values?.MaxBodySize; set => Set(ref Values.MaxBodySize, value); }

    /// <summary>The HTTP version to request: 1.1, or 2.0 (negotiated by ALPN over TLS, falling back to 1.1).</summary>
    /// <value>Built-in default 1.1.</value>
    public Version? HttpVersion { get => _values?.HttpVersion; set => Set(ref Values.HttpVersion, value); }

    private static readonly SettingValues s_unset = new();

    /// <summary>Whether no value is set (a request that only takes the client's defaults).</summary>
    internal bool HasNoValues() => Version == 0 || _values is not { } values || values.Equals(s_unset);

    /// <summary>A shallow copy of the values (a client's defaults snapshot).</summary>
    internal FetchSettings CopyValues()
    {
        var copy = new FetchSettings();
        CopyInto(this, copy);
        return copy;
    }

    /// <summary>Copies every value of <paramref name="from"/> into <paramref name="to"/> (shallow; unset values too).</summary>
    internal static void CopyInto(FetchSettings from, FetchSettings to)
    {
        to._values = from._values is { } values ? values with { } : null;
        Interlocked.Increment(ref to._version);
    }

    /// <summary>The live values (null when none is set): a lookup key only, never stored (they may change).</summary>
    internal SettingValues? CurrentValues() => _values is { } values && !values.Equals(s_unset) ? values : null;

    /// <summary>Makes <paramref name="values"/> (a snapshot, never changed afterwards) this instance's values.</summary>
    internal void SetValues(SettingValues values)
    {
        _values = values;
        Interlocked.Increment(ref _version);
    }

    /// <summary>Whether every value equals the one in <paramref name="o"/> (unset equals unset).</summary>
    internal bool SameValues(FetchSettings o) => (_values ?? s_unset).Equals(o._values ?? s_unset);

    /// <summary>
    /// Every setting's value, the one list of them: checking for values, copying (a client's defaults snapshot, the DI
    /// package's options copy) and comparing work on this record as a whole (its synthesized equality and
    /// <c>with</c> copy), so a setting added here is copied and compared without more code. Adding a setting means its
    /// property above, its field here, its resolution (with its built-in default) in <see cref="ResolvedSettings"/>,
    /// and a range check in <see cref="SettingsValidation"/> if it has one; a test fails if a property has no field.
    /// Allocated when the first value is set.
    /// </summary>
    internal sealed record SettingValues
    {
        public TimeSpan? ConnectTimeout;
        public TimeSpan? RequestTimeout;
        public TimeSpan? QueueTimeout;
        public TimeSpan? BodyTimeout;
        public bool? FollowRedirects;
        public int? MaxRedirects;
        public bool? AllowInsecureRedirects;
        public string? UserAgent;
        public bool? DecompressResponse;
        public bool? RaiseOnError;
        public bool? AllowNonstandardMethods;
        public string? AuthUsername;
        public string? AuthPassword;
        public AuthMode? AuthMode;
        public Uri? Proxy;
        public string? ProxyUsername;
        public string? ProxyPassword;
        public bool? UseDefaultProxy;
        public bool? ValidateCertificate;
        public X509Certificate2Collection? CaCertificates;
        public X509Certificate2? ClientCertificate;
        public bool? AllowIPv6;
        public bool? ExpectContinue;
        public int? MaxHeaderSize;
        public long? MaxBodySize;
        public Version? HttpVersion;
    }
}
