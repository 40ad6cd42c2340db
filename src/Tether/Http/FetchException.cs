namespace Tether;

/// <summary>
/// A failed fetch. <see cref="Code"/> is the HTTP status when a response arrived (and <see cref="Response"/> holds it),
/// or 599 when none did; <see cref="Kind"/> says exactly what happened.
/// </summary>
/// <remarks>Cancellation by the caller's token is never a <see cref="FetchException"/>: it is an
/// <see cref="OperationCanceledException"/> for that token. Timeouts are 599s with a <see cref="TimeoutException"/>
/// inside and the TimeSpan in the message.</remarks>
public sealed class FetchException : Exception
{
    /// <summary>The code used when no HTTP response was received.</summary>
    public const int NoResponse = 599;

    /// <summary>Creates the exception.</summary>
    /// <param name="code">The HTTP status, or 599.</param>
    /// <param name="kind">What happened.</param>
    /// <param name="message">A message naming what happened, where (host:port) and what to change.</param>
    /// <param name="request">The request that failed.</param>
    /// <param name="response">The response, when one arrived.</param>
    /// <param name="inner">The underlying exception.</param>
    public FetchException(int code, FetchErrorKind kind, string message, FetchRequest? request = null,
        FetchResponse? response = null, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        Kind = kind;
        Request = request;
        Response = response;
    }

    /// <summary>The HTTP status, or 599 when no response was received.</summary>
    public int Code { get; }

    /// <summary>What happened.</summary>
    public FetchErrorKind Kind { get; }

    /// <summary>The request that failed (the caller's own object).</summary>
    public FetchRequest? Request { get; }

    /// <summary>For <see cref="FetchErrorKind.Tls"/>, why the TLS connection failed (untrusted chain, expired or not yet
    /// valid, name mismatch, revoked, handshake); <see cref="TlsFailureKind.None"/> for every other kind. The message
    /// names the host and port.</summary>
    public TlsFailureKind TlsFailure { get; internal set; }

    /// <summary>The full response, for a status error.</summary>
    public FetchResponse? Response { get; }

    /// <summary>Whether this is a timeout of any kind (queue, pool wait, connect, request, body, HTTP/2 PING).</summary>
    public bool IsTimeout => Kind is FetchErrorKind.QueueTimeout or FetchErrorKind.PoolWaitTimeout
        or FetchErrorKind.ConnectTimeout or FetchErrorKind.RequestTimeout or FetchErrorKind.BodyTimeout
        or FetchErrorKind.PingTimeout;

    internal static FetchException ForStatus(FetchResponse response) => new(
        response.Code,
        FetchErrorKind.HttpStatus,
        $"HTTP {response.Code}: {response.Reason}",
        response.Request,
        response);
}
