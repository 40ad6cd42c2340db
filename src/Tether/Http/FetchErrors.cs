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
                : new OperationCanceledException($"The fetch of {op.Describe()} was cancelled by the caller.", ex, caller);
        }

        if (op.AbortKind is { } abortKind)
        {
            return Fail(op, abortKind, $"{ClosedText(abortKind)} ({where}): {op.AbortMessage} while {op.Describe()} was in flight.", ex);
        }

        if (ex is OperationCanceledException && requestTimedOut)
        {
            var t = op.Settings.RequestTimeout;
            return Fail(op, FetchErrorKind.RequestTimeout,
                $"Request timeout ({where}): no complete response within RequestTimeout = {t} (time queued counts).",
                new TimeoutException($"RequestTimeout = {t} expired.", ex));
        }

        if (bodyTimedOut)
        {
            var t = op.Settings.BodyTimeout;
            return Fail(op, FetchErrorKind.BodyTimeout,
                $"Body timeout ({where}): the body stalled for longer than BodyTimeout = {t}.",
                new TimeoutException($"BodyTimeout = {t} expired.", ex));
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
                    : $"Connect timeout ({connectTimeout.Endpoint}): not connected within ConnectTimeout = {connectTimeout.Timeout}.",
                connectTimeout.DuringTls ? new TimeoutException(connectTimeout.Message, ex) : connectTimeout);
        }

        if (Find<BodyTooLargeException>(ex) is { } tooLarge)
        {
            return Fail(op, FetchErrorKind.BodyTooLarge, $"Body too large ({where}): {tooLarge.Message}", tooLarge);
        }

        if (Find<SocketException>(ex) is { } socket)
        {
            switch (socket.SocketErrorCode)
            {
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
        if (ex is HttpRequestException request)
        {
            return request.HttpRequestError switch
            {
                HttpRequestError.NameResolutionError => Fail(op, FetchErrorKind.NameResolution, $"Host not found ({where}).", ex),
                HttpRequestError.SecureConnectionError => Fail(op, FetchErrorKind.Tls,
                    $"TLS failed ({where}): {TlsReason(ex)}", ex),
                HttpRequestError.ConfigurationLimitExceeded => Fail(op, FetchErrorKind.HeadersTooLarge,
                    $"Headers too large ({where}): the response headers exceed MaxHeaderSize = {op.Settings.MaxHeaderSize} bytes.", ex),
                HttpRequestError.ProxyTunnelError => Fail(op, FetchErrorKind.Proxy, $"Proxy failed ({where}): {ex.Message}", ex),
                HttpRequestError.ResponseEnded => Fail(op, FetchErrorKind.ConnectionClosed,
                    $"Connection closed ({where}): the server closed the connection without sending a response.", ex),
                HttpRequestError.InvalidResponse or HttpRequestError.HttpProtocolError => Fail(op, FetchErrorKind.Protocol,
                    $"Protocol error ({where}): the response is not valid HTTP ({ex.Message}).", ex),
                _ when !op.ResponseStarted && Find<IOException>(ex) is not null
                    && (op.Request.Body is not null || op.Request.BodyProducer is not null) => Fail(op, FetchErrorKind.RequestWrite,
                    $"Request write failed ({where}): the connection broke while sending the request body, before any response " +
                    $"arrived ({Find<IOException>(ex)!.Message}).", ex),
                _ => Fail(op, FetchErrorKind.Other, $"Transport failure ({where}): {ex.Message}", ex),
            };
        }

        if (Find<HttpIOException>(ex) is { } bodyError)
        {
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

    public static FetchException QueueTimeout(FetchOperation op, TimeSpan timeout, AsyncFifoSemaphore slots) => Fail(op,
        FetchErrorKind.QueueTimeout,
        $"Timeout in request queue ({HostPort(op)}): waited {timeout} for one of MaxClients = {slots.Capacity} slots " +
        $"({slots.InUse} in use, {slots.Waiting} waiting). Raise MaxClients or QueueTimeout, or send fewer requests at once.",
        new TimeoutException($"QueueTimeout = {timeout} expired."));

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

    private static string TlsReason(Exception ex)
    {
        var auth = Find<AuthenticationException>(ex);
        var text = auth?.Message ?? ex.Message;
        if (text.Contains("RemoteCertificateNameMismatch", StringComparison.Ordinal))
        {
            return "certificate name mismatch: the certificate is not for this host.";
        }

        if (text.Contains("NotTimeValid", StringComparison.Ordinal) || text.Contains("expired", StringComparison.OrdinalIgnoreCase))
        {
            return "certificate expired or not yet valid.";
        }

        if (text.Contains("RemoteCertificateChainErrors", StringComparison.Ordinal) || text.Contains("UntrustedRoot", StringComparison.Ordinal))
        {
            return "certificate chain not trusted (self-signed or unknown CA); supply CaCertificates or fix the server.";
        }

        return text;
    }
}

/// <summary>The decoded body passed <see cref="FetchSettings.MaxBodySize"/>.</summary>
internal sealed class BodyTooLargeException(long limit)
    : IOException($"the body exceeds MaxBodySize = {limit} bytes (after decompression); raise MaxBodySize or stream it.")
{
    public long Limit { get; } = limit;
}
