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
    /// <summary>Timeout for the TCP connect (and TLS handshake).</summary>
    /// <value>Positive or <see cref="Timeout.InfiniteTimeSpan"/>; built-in default 20 s.</value>
    public TimeSpan? ConnectTimeout { get; set; }

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
    public TimeSpan? RequestTimeout { get; set; }

    /// <summary>How long a fetch may wait in the client's <c>MaxClients</c> queue.</summary>
    /// <value>Positive or <see cref="Timeout.InfiniteTimeSpan"/>; built-in default: the smaller of
    /// <see cref="ConnectTimeout"/> and <see cref="RequestTimeout"/> (as in Tornado).</value>
    public TimeSpan? QueueTimeout { get; set; }

    /// <summary>Longest wait for one read of the response body: each read that gets no byte within it fails with a 599
    /// <see cref="FetchErrorKind.BodyTimeout"/> (a <see cref="FetchException"/>, never a bare
    /// <see cref="TaskCanceledException"/>), for buffered fetches and for reads of a streamed
    /// <see cref="FetchResponse.BodyStream"/> alike.</summary>
    /// <remarks>It bounds silence, not the transfer: a body that keeps trickling is bounded by
    /// <see cref="RequestTimeout"/>. A streamed read waits at most the smaller of the two (what is left of
    /// <see cref="RequestTimeout"/>), and fails with the kind of the one that ran out.</remarks>
    /// <value>Positive or <see cref="Timeout.InfiniteTimeSpan"/>; built-in default: infinite, because
    /// <see cref="RequestTimeout"/> (20 s by default) already bounds every body, buffered or streamed.</value>
    public TimeSpan? BodyTimeout { get; set; }

    /// <summary>Follow 3xx redirects.</summary>
    /// <value>Built-in default <see langword="true"/>.</value>
    public bool? FollowRedirects { get; set; }

    /// <summary>Most redirects to follow before failing with a too-many-redirects error.</summary>
    /// <value>0 or more; built-in default 5.</value>
    public int? MaxRedirects { get; set; }

    /// <summary>Follow a redirect from https to http (credentials are never carried across).</summary>
    /// <value>Built-in default <see langword="false"/>.</value>
    public bool? AllowInsecureRedirects { get; set; }

    /// <summary>The User-Agent header when the request does not set one.</summary>
    /// <value>Built-in default <c>Tether/&lt;version&gt;</c>.</value>
    public string? UserAgent { get; set; }

    /// <summary>Advertise gzip, deflate and br and decode the body: every content coding listed is undone, last
    /// applied first (see <see cref="FetchResponse.DecodedContentEncodings"/>); decoded bytes count against
    /// <see cref="MaxBodySize"/>.</summary>
    /// <value>Built-in default <see langword="true"/>.</value>
    public bool? DecompressResponse { get; set; }

    /// <summary>Throw <see cref="FetchException"/> for a non-2xx status (transport failures always throw).</summary>
    /// <value>Built-in default <see langword="true"/>.</value>
    public bool? RaiseOnError { get; set; }

    /// <summary>Allow methods other than GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, and bodies where the method
    /// does not normally take one.</summary>
    /// <value>Built-in default <see langword="false"/>.</value>
    public bool? AllowNonstandardMethods { get; set; }

    /// <summary>Username for <see cref="AuthMode"/>.</summary>
    public string? AuthUsername { get; set; }

    /// <summary>Password for <see cref="AuthMode"/>. Never logged or shown.</summary>
    public string? AuthPassword { get; set; }

    /// <summary>How to authenticate with <see cref="AuthUsername"/> and <see cref="AuthPassword"/>.</summary>
    /// <value>Built-in default <see cref="Tether.AuthMode.Basic"/>.</value>
    public AuthMode? AuthMode { get; set; }

    /// <summary>An HTTP proxy (http://host:port); https targets are tunnelled with CONNECT.</summary>
    public Uri? Proxy { get; set; }

    /// <summary>Username sent to the proxy only.</summary>
    public string? ProxyUsername { get; set; }

    /// <summary>Password sent to the proxy only. Never logged or shown.</summary>
    public string? ProxyPassword { get; set; }

    /// <summary>Validate the server's certificate chain and name.</summary>
    /// <value>Built-in default <see langword="true"/>.</value>
    public bool? ValidateCertificate { get; set; }

    /// <summary>Trust these CA certificates (instead of the system store) when validating the server.</summary>
    public X509Certificate2Collection? CaCertificates { get; set; }

    /// <summary>A client certificate (with private key) to present to servers that ask for one.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>Allow connecting over IPv6.</summary>
    /// <value>Built-in default <see langword="true"/>.</value>
    public bool? AllowIPv6 { get; set; }

    /// <summary>Send <c>Expect: 100-continue</c> before a request body.</summary>
    /// <value>Built-in default <see langword="false"/>.</value>
    public bool? ExpectContinue { get; set; }

    /// <summary>Largest response header block, in bytes.</summary>
    /// <value>1 KiB or more; built-in default 64 KiB.</value>
    public int? MaxHeaderSize { get; set; }

    /// <summary>Largest response body, in bytes, after decompression. Every decoding layer's input is bounded by it
    /// too (the bytes received and each intermediate layer), so a nested bomb stops at the limit. Memory follows the
    /// bytes received: an announced Content-Length reserves at most 256 KiB up front.</summary>
    /// <value>1 or more; built-in default 100 MiB.</value>
    public long? MaxBodySize { get; set; }

    /// <summary>The HTTP version to request: 1.1, or 2.0 (negotiated by ALPN over TLS, falling back to 1.1).</summary>
    /// <value>Built-in default 1.1.</value>
    public Version? HttpVersion { get; set; }

    /// <summary>Whether no value is set (a request that only takes the client's defaults).</summary>
    internal bool HasNoValues() =>
        ConnectTimeout is null && RequestTimeout is null && QueueTimeout is null && BodyTimeout is null && FollowRedirects is null && MaxRedirects is null && AllowInsecureRedirects is null && UserAgent is null && DecompressResponse is null && RaiseOnError is null && AllowNonstandardMethods is null && AuthUsername is null && AuthPassword is null && AuthMode is null && Proxy is null && ProxyUsername is null && ProxyPassword is null && ValidateCertificate is null && CaCertificates is null && ClientCertificate is null && AllowIPv6 is null && ExpectContinue is null && MaxHeaderSize is null && MaxBodySize is null && HttpVersion is null;

    /// <summary>A shallow copy of the values (to detect later changes of a client's defaults).</summary>
    internal FetchSettings CopyValues() => new()
    {
            ConnectTimeout = ConnectTimeout,
            RequestTimeout = RequestTimeout,
            QueueTimeout = QueueTimeout,
            BodyTimeout = BodyTimeout,
            FollowRedirects = FollowRedirects,
            MaxRedirects = MaxRedirects,
            AllowInsecureRedirects = AllowInsecureRedirects,
            UserAgent = UserAgent,
            DecompressResponse = DecompressResponse,
            RaiseOnError = RaiseOnError,
            AllowNonstandardMethods = AllowNonstandardMethods,
            AuthUsername = AuthUsername,
            AuthPassword = AuthPassword,
            AuthMode = AuthMode,
            Proxy = Proxy,
            ProxyUsername = ProxyUsername,
            ProxyPassword = ProxyPassword,
            ValidateCertificate = ValidateCertificate,
            CaCertificates = CaCertificates,
            ClientCertificate = ClientCertificate,
            AllowIPv6 = AllowIPv6,
            ExpectContinue = ExpectContinue,
            MaxHeaderSize = MaxHeaderSize,
            MaxBodySize = MaxBodySize,
            HttpVersion = HttpVersion,
    };

    /// <summary>Whether every value is the same (reference-equal for objects) as in <paramref name="o"/>.</summary>
    internal bool SameValues(FetchSettings o) =>
        ConnectTimeout == o.ConnectTimeout && RequestTimeout == o.RequestTimeout && QueueTimeout == o.QueueTimeout && BodyTimeout == o.BodyTimeout && FollowRedirects == o.FollowRedirects && MaxRedirects == o.MaxRedirects && AllowInsecureRedirects == o.AllowInsecureRedirects && ReferenceEquals(UserAgent, o.UserAgent) && DecompressResponse == o.DecompressResponse && RaiseOnError == o.RaiseOnError && AllowNonstandardMethods == o.AllowNonstandardMethods && ReferenceEquals(AuthUsername, o.AuthUsername) && ReferenceEquals(AuthPassword, o.AuthPassword) && AuthMode == o.AuthMode && ReferenceEquals(Proxy, o.Proxy) && ReferenceEquals(ProxyUsername, o.ProxyUsername) && ReferenceEquals(ProxyPassword, o.ProxyPassword) && ValidateCertificate == o.ValidateCertificate && ReferenceEquals(CaCertificates, o.CaCertificates) && ReferenceEquals(ClientCertificate, o.ClientCertificate) && AllowIPv6 == o.AllowIPv6 && ExpectContinue == o.ExpectContinue && MaxHeaderSize == o.MaxHeaderSize && MaxBodySize == o.MaxBodySize && ReferenceEquals(HttpVersion, o.HttpVersion);
}
