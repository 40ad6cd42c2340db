namespace Tether.TestServer;

/// <summary>One misbehaviour of <see cref="HostileServer"/>. Unless stated otherwise the server first reads the request head.</summary>
public enum HostileBehavior
{
    /// <summary>Sends a 200 head announcing 1,000 bytes, waits <see cref="HostileServerOptions.ResetDelay"/>, then resets (RST, linger 0).</summary>
    ResetAfterHeaders,

    /// <summary>Sends a 200 head announcing <see cref="HostileServerOptions.BodySize"/> bytes and half of them, waits <see cref="HostileServerOptions.ResetDelay"/>, then resets.</summary>
    ResetMidBody,

    /// <summary>Closes gracefully (FIN) without sending a single byte.</summary>
    CloseBeforeResponse,

    /// <summary>Reads whatever the client sends and never answers; closes only when the client does or the server is disposed.</summary>
    AcceptAndNeverAnswer,

    /// <summary>Sends a 200 head at once, then the body one byte per <see cref="HostileServerOptions.TrickleInterval"/> (the head too when <see cref="HostileServerOptions.TrickleHeaders"/> is set).</summary>
    TrickleOneBytePerSecond,

    /// <summary>Sends an invalid status line chosen by <see cref="HostileServerOptions.GarbageVariant"/>, then closes.</summary>
    GarbageStatusLine,

    /// <summary>Sends <c>HTTP/1.0 200</c> without Content-Length, <see cref="HostileServerOptions.BodySize"/> pattern bytes, then closes (the close delimits the body).</summary>
    Http10CloseDelimited,

    /// <summary>Announces <see cref="HostileServerOptions.BodySize"/> bytes, sends half of them, then closes gracefully.</summary>
    ContentLengthLongerThanBody,

    /// <summary>Sends a chunked body whose second chunk size is not hexadecimal (<c>zz</c>).</summary>
    InvalidChunkSize,

    /// <summary>Sends two chunks of a chunked body and closes before the terminating zero-size chunk.</summary>
    UnterminatedChunkedBody,

    /// <summary>Sends a response whose single header line carries 1 MiB.</summary>
    HugeHeaderLine,

    /// <summary>Sends a response with 10,000 small headers.</summary>
    ThousandsOfHeaders,

    /// <summary>Sends <c>Content-Encoding: gzip</c> whose body inflates to <see cref="HostileServerOptions.GzipBombInflatedSize"/> zero bytes (1 GiB ≈ 1 MiB on the wire; deflate caps the ratio near 1032:1).</summary>
    GzipBomb,

    /// <summary>Never sends <c>100 Continue</c>; waits for the whole body, then answers 200 with its length as the body.</summary>
    ExpectContinueNeverSent,

    /// <summary>Sends two different Content-Length headers (5 and 6).</summary>
    ConflictingContentLength,

    /// <summary>Sends both Content-Length and <c>Transfer-Encoding: chunked</c>.</summary>
    ContentLengthAndChunked,

    /// <summary>Serves valid keep-alive 200 responses and closes a connection idle for <see cref="HostileServerOptions.IdleClose"/>.</summary>
    IdleCloseKeepAlive,

    /// <summary>Sends a valid keep-alive 200, then shuts down its sending side (FIN) and keeps reading until the client closes.</summary>
    HalfCloseAfterResponse,

    /// <summary>
    /// Listens with backlog 1 and never calls Accept. The kernel still completes the handshake of the
    /// first one or two connections (they sit in the accept queue); later SYNs are dropped, so connects time out.
    /// </summary>
    NeverAccept,

    /// <summary>Sends <c>413</c> with <c>Connection: close</c> right after the head, without reading the body, then closes.</summary>
    Status413AndCloseDuringUpload,

    /// <summary>Sends a complete chunked response with the FIN in the same TCP segment (TCP_CORK on Linux).</summary>
    ChunkedWithFinInSameSegment,

    /// <summary>Sends a valid gzip body followed by junk bytes; Content-Length covers both.</summary>
    GzipTrailingGarbage,

    /// <summary>A plain, valid keep-alive server answering <c>200 ok</c>; <see cref="HostileServer.RequestsOnConnection"/> proves reuse.</summary>
    Respond200KeepAlive,
}
