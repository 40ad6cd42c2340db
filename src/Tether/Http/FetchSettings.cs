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

    /// <summary>Largest response header block, in bytes. Enforced by the handler in KiB, rounded up to the next power
    /// of two KiB (so at least this value and less than twice it), which keeps one handler per bucket rather than per
    /// value (see docs/design.md, "bounded tables").</summary>
    /// <value>1 KiB or more; built-in default 64 KiB (enforced exactly, a power of two).</value>
    public int? MaxHeaderSize { get; set; }

    /// <summary>Largest response body, in bytes, after decompression. Every decoding layer's input is bounded by it
    /// too (the bytes received and each intermediate layer), so a nested bomb stops at the limit. Memory follows the
    /// bytes received: an announced Content-Length reserves at most 256 KiB up front.</summary>
    /// <value>1 or more; built-in default 100 MiB.</value>
    public long? MaxBodySize { get; set; }

    /// <summary>The HTTP version to request: 1.1, or 2.0 (negotiated by ALPN over TLS, falling back to 1.1).</summary>
    /// <value>Built-in default 1.1.</value>
    public Version? HttpVersion { get; set; }

    /// <summary>
    /// Every setting, once: the table that checking for values, copying (a client's defaults snapshot, the DI
    /// package's options copy) and comparing go through. Adding a setting means its property above, one row here,
    /// its resolution (with its built-in default) in <see cref="ResolvedSettings"/>, and a range check in
    /// <see cref="SettingsValidation"/> if it has one; a test fails if a property has no row.
    /// </summary>
    internal static readonly SettingField[] Fields =
    [
        Value(static s => s.ConnectTimeout, static (s, v) => s.ConnectTimeout = v),
        Value(static s => s.RequestTimeout, static (s, v) => s.RequestTimeout = v),
        Value(static s => s.QueueTimeout, static (s, v) => s.QueueTimeout = v),
        Value(static s => s.BodyTimeout, static (s, v) => s.BodyTimeout = v),
        Value(static s => s.FollowRedirects, static (s, v) => s.FollowRedirects = v),
        Value(static s => s.MaxRedirects, static (s, v) => s.MaxRedirects = v),
        Value(static s => s.AllowInsecureRedirects, static (s, v) => s.AllowInsecureRedirects = v),
        Ref(static s => s.UserAgent, static (s, v) => s.UserAgent = v),
        Value(static s => s.DecompressResponse, static (s, v) => s.DecompressResponse = v),
        Value(static s => s.RaiseOnError, static (s, v) => s.RaiseOnError = v),
        Value(static s => s.AllowNonstandardMethods, static (s, v) => s.AllowNonstandardMethods = v),
        Ref(static s => s.AuthUsername, static (s, v) => s.AuthUsername = v),
        Ref(static s => s.AuthPassword, static (s, v) => s.AuthPassword = v),
        Value(static s => s.AuthMode, static (s, v) => s.AuthMode = v),
        Ref(static s => s.Proxy, static (s, v) => s.Proxy = v),
        Ref(static s => s.ProxyUsername, static (s, v) => s.ProxyUsername = v),
        Ref(static s => s.ProxyPassword, static (s, v) => s.ProxyPassword = v),
        Value(static s => s.ValidateCertificate, static (s, v) => s.ValidateCertificate = v),
        Ref(static s => s.CaCertificates, static (s, v) => s.CaCertificates = v),
        Ref(static s => s.ClientCertificate, static (s, v) => s.ClientCertificate = v),
        Value(static s => s.AllowIPv6, static (s, v) => s.AllowIPv6 = v),
        Value(static s => s.ExpectContinue, static (s, v) => s.ExpectContinue = v),
        Value(static s => s.MaxHeaderSize, static (s, v) => s.MaxHeaderSize = v),
        Value(static s => s.MaxBodySize, static (s, v) => s.MaxBodySize = v),
        Ref(static s => s.HttpVersion, static (s, v) => s.HttpVersion = v),
    ];

    /// <summary>Whether no value is set (a request that only takes the client's defaults).</summary>
    internal bool HasNoValues()
    {
        foreach (var field in Fields)
        {
            if (field.IsSet(this))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A shallow copy of the values (to detect later changes of a client's defaults).</summary>
    internal FetchSettings CopyValues()
    {
        var copy = new FetchSettings();
        CopyInto(this, copy);
        return copy;
    }

    /// <summary>Copies every value of <paramref name="from"/> into <paramref name="to"/> (shallow; unset values too).</summary>
    internal static void CopyInto(FetchSettings from, FetchSettings to)
    {
        foreach (var field in Fields)
        {
            field.Copy(from, to);
        }
    }

    /// <summary>Whether every value is the same (reference-equal for objects) as in <paramref name="o"/>.</summary>
    internal bool SameValues(FetchSettings o)
    {
        foreach (var field in Fields)
        {
            if (!field.Same(this, o))
            {
                return false;
            }
        }

        return true;
    }

    private static SettingField Value<T>(Func<FetchSettings, T?> get, Action<FetchSettings, T?> set)
        where T : struct =>
        new(s => get(s).HasValue, (from, to) => set(to, get(from)), (a, b) => Nullable.Equals(get(a), get(b)));

    private static SettingField Ref<T>(Func<FetchSettings, T?> get, Action<FetchSettings, T?> set)
        where T : class =>
        new(s => get(s) is not null, (from, to) => set(to, get(from)), (a, b) => ReferenceEquals(get(a), get(b)));

    /// <summary>One row of <see cref="Fields"/>: whether it is set, copy it, compare it.</summary>
    internal sealed record SettingField(
        Func<FetchSettings, bool> IsSet,
        Action<FetchSettings, FetchSettings> Copy,
        Func<FetchSettings, FetchSettings, bool> Same);
}
