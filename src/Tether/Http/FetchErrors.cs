using System.Net.Sockets;
using System.Security.Authentication;

namespace Tether;

/// <summary>Turns transport exceptions into one honest <see cref="FetchException"/> kind each, and keeps the caller's
/// cancellation an <see cref="OperationCanceledException"/>.</summary>
internal static class FetchErrors
{
    public static Exception Map(Exception ex, FetchOperation op, CancellationToken caller, bool requestTimedOut,
        bool bodyTimedOut)
    {
        var where = HostPort(op);
        if (ex is FetchException)
        {
            return ex;
        }

        if (caller.IsCancellationRequested && ex is OperationCanceledException)
        {
            return ex is OperationCanceledException oce && oce.CancellationToken == caller
                ? ex
                : new OperationCanceledException(
                    $"The fetch of {op.Describe()} was cancelled through the caller's CancellationToken (through a bridge " +
                    "HttpClient, also when its Timeout ran out).", ex, caller);
        }

        if (op.AbortKind is { } abortKind)
        {
            return Fail(op, abortKind, $"{ClosedText(abortKind)} ({where}): {op.AbortMessage} while {op.Describe()} was in flight.", ex);
        }

        if (ex is OperationCanceledException && requestTimedOut)
        {
            return RequestTimedOut(op, ex);
        }

        if (bodyTimedOut)
        {
            return BodyTimedOut(op, ex);
        }

        return MapTransport(ex, op);
    }

    /// <summary>The transport part of <see cref="Map"/>: also used by a streamed body's reads, so a reset or cut-off
    /// while the caller reads <see cref="FetchResponse.BodyStream"/> is the same typed 599 as in a buffered fetch.</summary>
    public static Exception MapTransport(Exception ex, FetchOperation op)
    {
        var where = HostPort(op);
        if (ex is FetchException)
        {
            return ex;
        }

        if (Find<ObjectDisposedException>(ex) is { } disposed && IsPoolObject(disposed))
        {
            // Item 12: a closed pool is a usage error to fix, not a network failure to retry.
            return Fail(op, FetchErrorKind.PoolClosed,
                $"Pool closed ({where}): {disposed.ObjectName} was closed before {op.Describe()} could use it; a client that " +
                "leases a pool (AsyncHttpClientOptions.Pool) must be closed before that pool, or lease an open one.", disposed);
        }

        if (Find<CallbackException>(ex) is { } callback)
        {
            return Fail(op, FetchErrorKind.Callback, $"{callback.Callback} failed ({where}): {callback.InnerException!.Message}",
                callback.InnerException);
        }

        if (Find<ConnectTimeoutException>(ex) is { } connectTimeout)
        {
            return Fail(op, FetchErrorKind.ConnectTimeout,
                connectTimeout.DuringTls
                    ? $"Connect timeout ({connectTimeout.Endpoint}): the TLS handshake did not complete within ConnectTimeout = {connectTimeout.Timeout}."
                    : connectTimeout.SocketSlotHolders is { } holders
                        // The host was never tried: saying "not connected" blamed it (encode/httpcore#1099's pool, replayed).
                        ? $"Connect timeout ({connectTimeout.Endpoint}): no connection was attempted, because no socket slot became " +
                          $"free within ConnectTimeout = {connectTimeout.Timeout}: {holders} Raise MaxConnectionsTotal, or " +
                          "bound what holds the sockets (an attempt to a host that does not answer keeps its socket until its own " +
                          "ConnectTimeout, even after its fetch was cancelled)."
                        : $"Connect timeout ({connectTimeout.Endpoint}): not connected within ConnectTimeout = {connectTimeout.Timeout}.",
                connectTimeout.DuringTls ? new TimeoutException(connectTimeout.Message, ex) : connectTimeout);
        }

        if (Find<BodyTooLargeException>(ex) is { } tooLarge)
        {
            return Fail(op, FetchErrorKind.BodyTooLarge, $"Body too large ({where}): {tooLarge.Message}", tooLarge);
        }

        if (Find<TruncatedCodingException>(ex) is { } cut)
        {
            // The content coding's own end marker is missing (ContentDecoding's CodingEnd): the body was cut short
            // where its framing could not show it.
            return Fail(op, FetchErrorKind.TruncatedBody, $"Truncated body ({where}): {cut.Message}", cut);
        }

        if (!op.ResponseStarted && Find<RequestBodyWriteException>(ex) is { } write && Find<HttpProtocolException>(ex) is null)
        {
            // Checked before the socket error: a reset under the body's writes is a failed upload, not a reset met while
            // waiting for the response (newcomer review 2026-12-01). An HTTP/2 stream the server aborted keeps its
            // named error code (below).
            return Fail(op, FetchErrorKind.RequestWrite,
                $"Request write failed ({where}): the connection broke while sending the request body, before a response " +
                $"was received ({write.InnerException!.Message}).", ex);
        }

        if (Find<SocketException>(ex) is { } socket)
        {
            switch (socket.SocketErrorCode)
            {
                case SocketError.ConnectionRefused when ProxyOf(op) is { } proxy:
                    // Through a proxy the client connects only to the proxy, so the refusal is the proxy's: name it, not
                    // the target (tour 2026-12-01: "check the URL" sent users to a target that was up).
                    return Fail(op, FetchErrorKind.Proxy,
                        $"Proxy unreachable ({proxy.Host}:{proxy.Port}, the proxy for {where}): connection refused, nothing is " +
                        $"listening there; check {(op.Settings.Proxy is not null ? "the Proxy setting" : "http_proxy, https_proxy and all_proxy in the environment (or turn UseDefaultProxy off)")}.",
                        socket);
                case SocketError.ConnectionRefused:
                    return Fail(op, FetchErrorKind.ConnectionRefused,
                        $"Connection refused ({where}): nothing is listening there; check the URL and that the server runs.", socket);
                case SocketError.ConnectionReset:
                    return Fail(op, FetchErrorKind.ConnectionReset, $"Connection reset by the server ({where}).", socket);
                case SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain:
                    return Fail(op, FetchErrorKind.NameResolution, $"Host not found ({where}): {socket.Message}", socket);
            }
        }

        // An HttpRequestException comes from SendAsync, i.e. before the response head was complete. It is checked
        // before the body's HttpIOException: a server that closes before answering wraps ResponseEnded in both, and
        // that is a "connection closed", not a truncated body.
        // The kind is read from the first exception in the chain that says what happened (HTTP-13): HTTP/2 wraps the
        // connection's error (e.g. ConfigurationLimitExceeded for a header block over the limit) in an outer
        // HttpRequestException whose own HttpRequestError is Unknown.
        if (ex is HttpRequestException outer)
        {
            if (Find<HttpProtocolException>(ex) is { } reset)
            {
                // The server reset the stream (HTTP/2 RST_STREAM, RFC 9113 §6.4) or the connection (GOAWAY with an error):
                // say so with its code, not "not valid HTTP" (coordinator's bug replay 2026-12-01). The handler has
                // already re-sent what the protocol allows (REFUSED_STREAM before processing, RFC 9113 §8.7).
                return Aborted(op, where, reset, "before the response was complete", ex);
            }

            var request = FindSpecific(ex) ?? outer;
            return request.HttpRequestError switch
            {
                HttpRequestError.NameResolutionError => Fail(op, FetchErrorKind.NameResolution, $"Host not found ({where}).", ex),
                HttpRequestError.SecureConnectionError => Tls(op, where, ex),
                HttpRequestError.ConfigurationLimitExceeded => Fail(op, FetchErrorKind.HeadersTooLarge,
                    $"Headers too large ({where}): the response headers exceed MaxHeaderSize = {op.Settings.MaxHeaderSize} bytes.", ex),
                HttpRequestError.ProxyTunnelError => Fail(op, FetchErrorKind.Proxy, $"Proxy failed ({where}): {ex.Message}", ex),
                HttpRequestError.ResponseEnded => Fail(op, FetchErrorKind.ConnectionClosed,
                    $"Connection closed ({where}): the server closed the connection without sending a response.", ex),
                HttpRequestError.InvalidResponse or HttpRequestError.HttpProtocolError => Fail(op, FetchErrorKind.Protocol,
                    $"Protocol error ({where}): the response is not valid HTTP ({request.Message}).", ex),
                _ when !op.ResponseStarted && Find<IOException>(ex) is not null
                    && (op.Request.Body is not null || op.Request.BodyProducer is not null) => Fail(op, FetchErrorKind.RequestWrite,
                    $"Request write failed ({where}): the connection broke while sending the request body, before a response " +
                    $"was received ({Find<IOException>(ex)!.Message}).", ex),
                _ when Find<System.Security.Authentication.AuthenticationException>(ex) is not null => Tls(op, where, ex),
                _ => Fail(op, FetchErrorKind.Other, $"Transport failure ({where}): {ex.Message}", ex),
            };
        }

        if (FindSpecificIO(ex) is { } bodyError)
        {
            if (Find<HttpProtocolException>(ex) is { } reset)
            {
                return Aborted(op, where, reset, "while the body was being read", ex);
            }

            return bodyError.HttpRequestError switch
            {
                HttpRequestError.ResponseEnded => Fail(op, FetchErrorKind.TruncatedBody,
                    $"Truncated body ({where}): the server closed the connection before the whole body arrived.", ex),
                HttpRequestError.InvalidResponse or HttpRequestError.HttpProtocolError => Fail(op, FetchErrorKind.Protocol,
                    $"Protocol error ({where}): the response body is not valid ({bodyError.Message}).", ex),
                _ => Fail(op, FetchErrorKind.ConnectionReset, $"Connection lost while reading the body ({where}): {bodyError.Message}", ex),
            };
        }

        if (ex is IOException or ObjectDisposedException)
        {
            return Fail(op, FetchErrorKind.ConnectionReset, $"Connection lost ({where}): {ex.Message}", ex);
        }

        return ex;
    }

    /// <summary>The server aborted the request with an HTTP/2 (or HTTP/3) error code: named, with when it happened.</summary>
    private static FetchException Aborted(FetchOperation op, string where, HttpProtocolException reset, string when, Exception ex)
    {
        if (IsPingTimeout(reset))
        {
            // The handler's own health check, not the server's words: it raises PROTOCOL_ERROR when a PING goes
            // unanswered, which read as "either the server sent it or what it sent is not valid HTTP/2" although the
            // server had sent nothing at all (golang/go#59690, dotnet/runtime#31198: a dead connection is found by PING).
            var options = op.Client.Pool?.Options;
            var settings = options is null
                ? string.Empty
                : $" (KeepAlivePingDelay = {options.KeepAlivePingDelay}, KeepAlivePingTimeout = {options.KeepAlivePingTimeout})";
            return Fail(op, FetchErrorKind.PingTimeout,
                $"Ping timeout ({where}): the HTTP/2 connection went silent {when}: nothing arrived from the server and it " +
                $"answered no PING in time{settings}, so the connection was closed. The server or the path to it stopped " +
                "responding with the connection open; a new fetch opens a new connection.", ex);
        }

        if (reset.ErrorCode is 0x1 or 0x3 or 0x6 or 0x9)
        {
            // PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR and COMPRESSION_ERROR are also what the handler
            // raises itself when the server's bytes are not valid HTTP/2 (newcomer review 2026-12-01: an HTTP/1.1-only
            // server answering an h2c request was reported as "the server aborted the request"). Say both, with the
            // handler's own words.
            var h2c = op.CurrentUrl.StartsWith("http:", StringComparison.OrdinalIgnoreCase)
                ? " An http:// URL sent as HTTP/2 (no TLS, prior knowledge) needs a server that speaks HTTP/2 in clear text (h2c); " +
                  "most servers speak HTTP/2 only over https, so send HTTP/1.1 there or use https."
                : string.Empty;
            return Fail(op, FetchErrorKind.Protocol,
                $"Protocol error ({where}): HTTP/2 error {Http2ErrorName(reset.ErrorCode)} (0x{reset.ErrorCode:x}) {when}: either the " +
                $"server sent it (RST_STREAM, or GOAWAY for the connection) or what the server sent is not valid HTTP/2 " +
                $"({reset.Message}).{h2c}", ex);
        }

        var hint = reset.ErrorCode == 0xd
            ? " The server requires HTTP/1.1 for this request: send it as HTTP/1.1, or with HttpVersionPolicy.RequestVersionOrLower " +
              "so the handler can fall back."
            : string.Empty;
        return Fail(op, FetchErrorKind.Protocol,
            $"Protocol error ({where}): the server aborted the request with HTTP/2 error {Http2ErrorName(reset.ErrorCode)} " +
            $"(0x{reset.ErrorCode:x}; RST_STREAM, or GOAWAY for the connection) {when}.{hint}", ex);
    }

    // The text the handler gives the PROTOCOL_ERROR it raises when a PING goes unanswered (Http2Connection's keep-alive
    // check), read from its own resources: the message is the only thing that tells it from a PROTOCOL_ERROR the server
    // sent. With UseSystemResourceKeys the message is the resource key itself.
    private const string PingTimedOutKey = "net_ping_request_timed_out";

    private static bool IsPingTimeout(HttpProtocolException e)
    {
        if (e.ErrorCode != 0x1)
        {
            return false;
        }

        var message = e.Message;
        return message.StartsWith(PingTimedOutKey, StringComparison.Ordinal)
            || (PingTimedOutText(System.Globalization.CultureInfo.CurrentUICulture) is { Length: > 0 } local && message.StartsWith(local, StringComparison.Ordinal))
            || (s_pingTimedOutInvariant.Value is { Length: > 0 } text && message.StartsWith(text, StringComparison.Ordinal));
    }

    private static readonly Lazy<string?> s_pingTimedOutInvariant = new(() => PingTimedOutText(System.Globalization.CultureInfo.InvariantCulture));
    private static readonly System.Resources.ResourceManager s_httpResources = new("FxResources.System.Net.Http.SR", typeof(HttpClient).Assembly);

    private static string? PingTimedOutText(System.Globalization.CultureInfo culture)
    {
        try
        {
            return s_httpResources.GetString(PingTimedOutKey, culture);
        }
        catch (Exception e) when (e is System.Resources.MissingManifestResourceException or System.Resources.MissingSatelliteAssemblyException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The name RFC 9113 §7 gives an HTTP/2 error code (HTTP/3 codes, RFC 9114 §8.1, have their own names).</summary>
    private static string Http2ErrorName(long code) => code switch
    {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        0x100 => "H3_NO_ERROR",
        0x101 => "H3_GENERAL_PROTOCOL_ERROR",
        0x102 => "H3_INTERNAL_ERROR",
        0x103 => "H3_STREAM_CREATION_ERROR",
        0x104 => "H3_CLOSED_CRITICAL_STREAM",
        0x105 => "H3_FRAME_UNEXPECTED",
        0x106 => "H3_FRAME_ERROR",
        0x107 => "H3_EXCESSIVE_LOAD",
        0x108 => "H3_ID_ERROR",
        0x109 => "H3_SETTINGS_ERROR",
        0x10a => "H3_MISSING_SETTINGS",
        0x10b => "H3_REQUEST_REJECTED",
        0x10c => "H3_REQUEST_CANCELLED",
        0x10d => "H3_REQUEST_INCOMPLETE",
        0x10e => "H3_MESSAGE_ERROR",
        0x10f => "H3_CONNECT_ERROR",
        0x110 => "H3_VERSION_FALLBACK",
        _ => "unknown code",
    };

    /// <summary>RequestTimeout ran out: it covers the whole fetch, from the call (time queued counts) until the body
    /// is read, for buffered and streamed fetches alike.</summary>
    public static FetchException RequestTimedOut(FetchOperation op, Exception? cause)
    {
        var t = op.Settings.RequestTimeout;
        var c = op.Settings.ConnectTimeout;
        // Tornado arms min(connect_timeout, request_timeout) for the connect and says "Timeout while connecting"; here
        // the handler owns connection attempts, so which stage stalled is unknown. What is known is said: no response
        // head, and whether ConnectTimeout could have fired first (tornadoweb/tornado#1753: users could not tell the
        // two timeouts apart). A request body Tether watched tells more: its writes begin only on a connection the
        // handler has set up, so a stalled connect is ruled out (dotnet/corefx#39582, curl/curl#10433).
        var stage = !op.AwaitingResponseHead
            ? " Raise RequestTimeout, or set it to Timeout.InfiniteTimeSpan and bound stalls with BodyTimeout for long streams."
            : op.SentBody is { Started: true, Sent: false } body
                ? UnsentBody(body)
            : op.SentBody is { Sent: true } sent
                ? $" The whole request body ({sent.BytesWritten} bytes) was sent on an open connection and no response head " +
                  "had arrived: the server did not answer in time. Raise RequestTimeout if the server is slow."
            : c == Timeout.InfiniteTimeSpan || c >= t
                ? $" No response head had arrived (connecting, sending the request, or waiting for the server), and ConnectTimeout = {c} " +
                  "is not shorter, so a connect that never completes ends here too: set ConnectTimeout below RequestTimeout to " +
                  "tell an unreachable host from a slow server, or raise RequestTimeout."
                : $" No response head had arrived: the server did not answer in time (ConnectTimeout = {c} bounds the " +
                  "connect itself). Raise RequestTimeout if the server is slow.";
        return Fail(op, FetchErrorKind.RequestTimeout,
            $"Request timeout ({HostPort(op)}): {op.Describe()} was not complete within RequestTimeout = {t} (counted from " +
            "the call, time queued included, until the body is read)." + stage,
            new TimeoutException($"RequestTimeout = {t} expired.", cause));
    }

    /// <summary>What a request timeout before any response head says when the request body was not all sent: a write
    /// the connection did not take means the server stopped reading the upload, which is what a server that refused it
    /// early does (413, 401: aio-libs/aiohttp#7599). Over HTTP/1.1 <see cref="SocketsHttpHandler"/> returns a response
    /// only once the whole body is sent, so that early answer is never seen; <c>Expect: 100-continue</c> lets the
    /// server refuse before the body goes out.</summary>
    private static string UnsentBody(WatchedContent body)
    {
        var written = body.BytesWritten;
        var of = body.Length is { } length ? $"{written} of {length}" : $"{written}";
        return body.WritePending
            ? $" No response head had arrived and the request body was still being sent: {of} bytes had gone to the " +
              "connection, which took no more, so the server had stopped reading it. A server that refuses an upload " +
              "(413, 401) may answer at once and stop reading; over HTTP/1.1 the answer is read only once the whole body " +
              "is sent, so it was not seen. Set ExpectContinue = true to let the server refuse before the body is sent, " +
              "or raise RequestTimeout if the server reads slowly."
            : $" No response head had arrived and the request body was not finished: {of} bytes had been sent, and the " +
              "body's stream or BodyProducer had not produced the rest. Raise RequestTimeout for a body that is slow to " +
              "produce.";
    }

    /// <summary>BodyTimeout ran out: no body bytes arrived for that long.</summary>
    public static FetchException BodyTimedOut(FetchOperation op, Exception? cause)
    {
        var t = op.Settings.BodyTimeout;
        return Fail(op, FetchErrorKind.BodyTimeout,
            $"Body timeout ({HostPort(op)}): the body stalled for longer than BodyTimeout = {t}.",
            new TimeoutException($"BodyTimeout = {t} expired.", cause));
    }

    /// <summary>The fetch never got a MaxClients slot: its QueueTimeout ran out (or its request timer, at the same
    /// deadline; <paramref name="cause"/> is then that cancellation).</summary>
    public static FetchException QueueTimeout(FetchOperation op, TimeSpan timeout, AsyncFifoSemaphore slots, Exception? cause = null)
    {
        // What the holders are doing decides the advice: a slot held by a fetch with no response yet (a host that does
        // not answer, a server that never replies) is freed only by that fetch's own deadlines, not by disposing
        // anything (tornadoweb/tornado#1400, klen/graphite-beacon#133: slow requests filled max_clients and the rest
        // failed in the queue).
        var (unanswered, open) = op.Client.CountSlotHolders();
        var advice = (unanswered > 0, open > 0) switch
        {
            (true, false) => " Every slot in use is held by a fetch still waiting for its response (connecting, sending the " +
                "request, or waiting for the server), which keeps it until the response comes or its ConnectTimeout or " +
                "RequestTimeout ends it: lower those, raise MaxClients or QueueTimeout, or send fewer requests at once.",
            (true, true) => $" {open} slot(s) are held by responses not yet read to the end or disposed, and {unanswered} by " +
                "fetches still waiting for their response: dispose streamed responses you no longer read, bound fetches " +
                "that wait for an answer with ConnectTimeout and RequestTimeout, raise MaxClients or QueueTimeout, or send " +
                "fewer requests at once.",
            _ => " A slot is held until a response's body is read to the end or the response is disposed: dispose streamed " +
                "responses you no longer read, raise MaxClients or QueueTimeout, or send fewer requests at once.",
        };
        return Fail(op,
            FetchErrorKind.QueueTimeout,
            $"Timeout in request queue ({HostPort(op)}): waited {timeout} for one of MaxClients = {slots.Capacity} slots " +
            $"({slots.InUse} in use, {slots.Waiting} waiting)." + advice,
            new TimeoutException($"QueueTimeout = {timeout} expired.", cause));
    }

    public static FetchException TooManyRedirects(FetchOperation op, int max, Uri at) => Fail(op,
        FetchErrorKind.TooManyRedirects,
        $"Too many redirects ({HostPort(op)}): more than MaxRedirects = {max}; last location {Redaction.Uri(at)}.",
        null);

    /// <summary>How a fetch aborted by its owner's close is named in messages.</summary>
    internal static string ClosedText(FetchErrorKind kind) => kind switch
    {
        FetchErrorKind.LoopClosed => "Loop closed",
        FetchErrorKind.PoolClosed => "Pool closed",
        _ => "Client closed",
    };

    private static FetchException Fail(FetchOperation op, FetchErrorKind kind, string message, Exception? inner) =>
        new(FetchException.NoResponse, kind, message, op.Request, inner: inner);

    /// <summary>The proxy the fetch's current hop goes through: the explicit <see cref="FetchSettings.Proxy"/>, or, with
    /// <see cref="FetchSettings.UseDefaultProxy"/>, what <see cref="HttpClient.DefaultProxy"/> gives for the URL (null
    /// when it bypasses it). Null without one.</summary>
    private static Uri? ProxyOf(FetchOperation op)
    {
        if (op.Settings.Proxy is { } configured)
        {
            return configured;
        }

        if (!op.Settings.UseDefaultProxy || !Uri.TryCreate(op.CurrentUrl, UriKind.Absolute, out var target))
        {
            return null;
        }

        var environment = HttpClient.DefaultProxy;
        return environment.IsBypassed(target) ? null : environment.GetProxy(target);
    }

    private static string HostPort(FetchOperation op) =>
        Uri.TryCreate(op.CurrentUrl, UriKind.Absolute, out var uri) ? $"{uri.Host}:{uri.Port}" : "?";

    private static T? Find<T>(Exception? ex)
        where T : Exception
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is T match)
            {
                return match;
            }
        }

        return null;
    }

    /// <summary>The first <see cref="HttpRequestException"/> in the chain with a specific error (not Unknown).</summary>
    private static HttpRequestException? FindSpecific(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is HttpRequestException { HttpRequestError: not HttpRequestError.Unknown } match)
            {
                return match;
            }
        }

        return null;
    }

    /// <summary>The first <see cref="HttpIOException"/> in the chain, preferring one with a specific error.</summary>
    private static HttpIOException? FindSpecificIO(Exception? ex)
    {
        HttpIOException? first = null;
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is HttpIOException io)
            {
                if (io.HttpRequestError != HttpRequestError.Unknown)
                {
                    return io;
                }

                first ??= io;
            }
        }

        return first;
    }

    /// <summary>A pool (or the handler it owns) that was disposed.</summary>
    private static bool IsPoolObject(ObjectDisposedException ex) =>
        ex.ObjectName is { } name && (name.StartsWith("ConnectionPool", StringComparison.Ordinal)
            || name.Contains("SocketsHttpHandler", StringComparison.Ordinal) || name.Contains("HttpMessageInvoker", StringComparison.Ordinal));

    private static FetchException Tls(FetchOperation op, string where, Exception ex)
    {
        var (failure, reason) = TlsCause(ex);
        var error = Fail(op, FetchErrorKind.Tls, $"TLS failed ({where}): {reason}", ex);
        error.TlsFailure = failure;
        return error;
    }

    /// <summary>Why a TLS connection failed (HTTP-10). SocketsHttpHandler reports certificate problems only as text: the
    /// <see cref="AuthenticationException"/> names the <c>SslPolicyErrors</c> (RemoteCertificateNameMismatch,
    /// RemoteCertificateChainErrors) and the chain's <c>X509ChainStatusFlags</c> (NotTimeValid, UntrustedRoot, Revoked,
    /// ...), which are enum member names and do not change with the UI language.</summary>
    internal static (TlsFailureKind Failure, string Reason) TlsCause(Exception ex)
    {
        var auth = Find<AuthenticationException>(ex);
        var text = auth?.Message ?? ex.Message;
        if (Has(text, "Revoked") || Has(text, "RevocationStatusUnknown") || Has(text, "OfflineRevocation"))
        {
            return (TlsFailureKind.Revoked, "the certificate is revoked (or its revocation status could not be checked).");
        }

        if (Has(text, "NotTimeValid") || Has(text, "NotTimeNested") || text.Contains("expired", StringComparison.OrdinalIgnoreCase))
        {
            return (TlsFailureKind.NotTimeValid, "the certificate has expired or is not yet valid; check the server's certificate " +
                "dates (and this machine's clock).");
        }

        if (Has(text, "UntrustedRoot") || Has(text, "PartialChain") || Has(text, "NotSignatureValid")
            || Has(text, "RemoteCertificateChainErrors") || Has(text, "RemoteCertificateNotAvailable"))
        {
            return (TlsFailureKind.UntrustedChain, "the certificate chain is not trusted (self-signed or unknown CA); trust its " +
                "CA with CaCertificates, or fix the server's chain.");
        }

        if (Has(text, "RemoteCertificateNameMismatch"))
        {
            return (TlsFailureKind.NameMismatch, "the certificate is not issued for this host name (name mismatch); use the " +
                "host name the certificate names, or fix the server's certificate.");
        }

        return (TlsFailureKind.Handshake, $"the TLS handshake failed ({text}); the server may not speak TLS on this port or " +
            "share no protocol version or cipher with this client.");
    }

    private static bool Has(string text, string word) => text.Contains(word, StringComparison.Ordinal);
}

/// <summary>The decoded body passed <see cref="FetchSettings.MaxBodySize"/>.</summary>
internal sealed class BodyTooLargeException(long limit)
    : IOException($"the body exceeds MaxBodySize = {limit} bytes (after decompression); raise MaxBodySize or stream it.")
{
    public long Limit { get; } = limit;
}
