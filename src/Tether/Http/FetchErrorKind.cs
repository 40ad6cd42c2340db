namespace Tether;

/// <summary>Why a fetch failed. Every 599 carries one of these, so code can tell a queue timeout from a reset.</summary>
public enum FetchErrorKind
{
    /// <summary>An HTTP response arrived with a non-2xx status (the code is that status).</summary>
    HttpStatus,

    /// <summary>Waited longer than the queue timeout for a <c>MaxClients</c> slot.</summary>
    QueueTimeout,

    /// <summary>Waited longer than the pool-wait timeout for a connection slot.</summary>
    PoolWaitTimeout,

    /// <summary>The TCP connect (or TLS handshake) took longer than the connect timeout.</summary>
    ConnectTimeout,

    /// <summary>The whole fetch took longer than the request timeout (counted from the call until the body is read,
    /// buffered or streamed).</summary>
    RequestTimeout,

    /// <summary>One read of the body (buffered or streamed) got no byte within the body timeout.</summary>
    BodyTimeout,

    /// <summary>Nothing listens on the port (connection refused).</summary>
    ConnectionRefused,

    /// <summary>The peer reset the connection.</summary>
    ConnectionReset,

    /// <summary>The server closed the connection before sending a response.</summary>
    ConnectionClosed,

    /// <summary>The server closed the connection before the whole body (per Content-Length or chunking) arrived, or a
    /// body in a content coding (gzip, deflate, br) ended before that coding's end-of-stream marker, which is how a cut
    /// shows when the framing cannot (a body that ends where the connection closes).</summary>
    TruncatedBody,

    /// <summary>The host name could not be resolved.</summary>
    NameResolution,

    /// <summary>The TLS handshake or certificate validation failed; <see cref="FetchException.TlsFailure"/> says why.</summary>
    Tls,

    /// <summary>The response was not valid HTTP, or its content coding could not be decoded.</summary>
    Protocol,

    /// <summary>The response headers exceeded <see cref="FetchSettings.MaxHeaderSize"/>.</summary>
    HeadersTooLarge,

    /// <summary>The (decoded) body exceeded <see cref="FetchSettings.MaxBodySize"/>.</summary>
    BodyTooLarge,

    /// <summary>More redirects than <see cref="FetchSettings.MaxRedirects"/>.</summary>
    TooManyRedirects,

    /// <summary>A redirect was refused (non-http scheme, or https to http without permission).</summary>
    RedirectRefused,

    /// <summary>The proxy refused or failed the request or tunnel, or refused the connection itself (the message then
    /// names the proxy, not the target).</summary>
    Proxy,

    /// <summary>The connection broke while the request body was being written (including while a body producer
    /// wrote), before any response arrived.</summary>
    RequestWrite,

    /// <summary>A streaming callback, header callback or body producer threw, or reading the request's body stream
    /// failed (see the inner exception).</summary>
    Callback,

    /// <summary>The owning <see cref="EventLoop"/> ended while the fetch was in flight.</summary>
    LoopClosed,

    /// <summary>The client was closed while the fetch was queued or in flight.</summary>
    ClientClosed,

    /// <summary>The connection pool was closed while the fetch was in flight, or before the fetch could use it (a
    /// client leasing a closed pool). A usage error: retrying cannot succeed.</summary>
    PoolClosed,

    /// <summary>Any other transport failure (see the inner exception).</summary>
    Other,

    /// <summary>The HTTP/2 connection's PING health check got no answer: nothing arrived from the server for
    /// <see cref="ConnectionPoolOptions.KeepAlivePingDelay"/>, the PING then sent went unanswered for
    /// <see cref="ConnectionPoolOptions.KeepAlivePingTimeout"/>, so the connection was closed and the requests on it
    /// failed. The server, or the path to it, went silent with the connection open; a new fetch gets a new connection.
    /// A timeout (<see cref="FetchException.IsTimeout"/>), not something the server sent.</summary>
    PingTimeout,
}
