namespace Tether;

/// <summary>The connection failed while a request body was being written to it: thrown by Tether's request contents
/// in place of the transport's own <see cref="IOException"/> (its inner exception), so the failure is reported as
/// <see cref="FetchErrorKind.RequestWrite"/> and not as a reset met while waiting for the response (newcomer review
/// 2026-12-01: a reset during a 50 MB upload was reported as <see cref="FetchErrorKind.ConnectionReset"/>).</summary>
internal sealed class RequestBodyWriteException(Exception failure)
    : IOException($"The connection failed while the request body was being sent: {failure.Message}", failure);

/// <summary>A request body (bytes or a caller's stream) sent through a <see cref="WriteWatchStream"/>: a failure of
/// the connection under its writes is thrown as a <see cref="RequestBodyWriteException"/>. Everything else (length,
/// re-sending a replayable body, reading the caller's stream) is the inner content's.</summary>
internal sealed class WriteWatchedContent(HttpContent inner) : WatchedContent
{
    protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context,
        CancellationToken cancellationToken)
    {
        var watched = new WriteWatchStream(stream, this);
        try
        {
            await inner.CopyToAsync(watched, context, cancellationToken).ConfigureAwait(false);
            MarkSent();
        }
        catch (Exception ex) when (watched.Caused(ex))
        {
            throw new RequestBodyWriteException(watched.Failure!);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        if (inner.Headers.ContentLength is { } known)
        {
            length = known;
            return true;
        }

        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>Request content whose writes to the connection are watched: how far the body got, for a fetch that ends
/// before its response head (a request timeout met while the server had stopped reading an upload is told apart from
/// a server that did not answer; aio-libs/aiohttp#7599). No allocation of its own: the counters are fields of the
/// content, written by its <see cref="WriteWatchStream"/>.</summary>
internal abstract class WatchedContent : HttpContent
{
    private long _written;
    private int _writing;
    private int _sent;

    /// <summary>Body bytes the connection has accepted in this send (the handler re-sends a body from the start after a
    /// connection that failed before any of it went out, which resets the count).</summary>
    public long BytesWritten => Interlocked.Read(ref _written);

    /// <summary>A write to the connection is waiting, or never completed (it was still waiting when the fetch timed out
    /// or was cancelled, which fails it): the connection took no more bytes (the peer was not reading, or its window
    /// was full). Cleared only by a write that completes.</summary>
    public bool WritePending => Volatile.Read(ref _writing) != 0;

    /// <summary>The whole body was handed to the connection.</summary>
    public bool Sent => Volatile.Read(ref _sent) != 0;

    /// <summary>Whether any of the body was being sent or sent (serialization began).</summary>
    public bool Started { get; private set; }

    /// <summary>The body's length as sent (its Content-Length), read when sending began: the fetch disposes the
    /// request, and with it this content, as soon as the handler is done with it.</summary>
    public long? Length { get; private set; }

    internal void MarkStarted()
    {
        Interlocked.Exchange(ref _written, 0);
        Volatile.Write(ref _writing, 0);
        Volatile.Write(ref _sent, 0);
        Length = Headers.ContentLength;
        Started = true;
    }

    internal void MarkSent() => Volatile.Write(ref _sent, 1);

    internal void BeginWrite() => Volatile.Write(ref _writing, 1);

    internal void EndWrite(int bytes)
    {
        Interlocked.Add(ref _written, bytes);
        Volatile.Write(ref _writing, 0);
    }
}

/// <summary>The connection's request stream, remembering the exception a write or flush to it threw, and counting
/// the bytes it accepted in its owner's counters (<see cref="WatchedContent"/>).</summary>
internal sealed class WriteWatchStream : Stream
{
    private readonly Stream _inner;
    private readonly WatchedContent _owner;

    public WriteWatchStream(Stream inner, WatchedContent owner)
    {
        _inner = inner;
        _owner = owner;
        owner.MarkStarted();
    }

    public Exception? Failure { get; private set; }

    /// <summary>Whether <paramref name="ex"/> is, or wraps, the failure of a write or flush to this stream.</summary>
    public bool Caused(Exception? ex)
    {
        for (; ex is not null && Failure is not null; ex = ex.InnerException)
        {
            if (ReferenceEquals(ex, Failure))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The largest piece handed to the connection at once, so <see cref="WatchedContent.BytesWritten"/> moves
    /// while a large body (one write of megabytes from a byte-array body) goes out; the handler sends such a piece
    /// straight to the socket, so this adds one call per 256 KiB and no copy.</summary>
    private const int MaxPiece = 256 * 1024;

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (buffer.Length > MaxPiece)
        {
            await WritePieceAsync(buffer[..MaxPiece], cancellationToken).ConfigureAwait(false);
            buffer = buffer[MaxPiece..];
        }

        await WritePieceAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask WritePieceAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        _owner.BeginWrite();
        try
        {
            await _inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            Failure = ex;
            throw;
        }

        _owner.EndWrite(buffer.Length);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        _owner.BeginWrite();
        try
        {
            _inner.Write(buffer, offset, count);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            Failure = ex;
            throw;
        }

        _owner.EndWrite(count);
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        _owner.BeginWrite();
        try
        {
            await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            Failure = ex;
            throw;
        }

        _owner.EndWrite(0);
    }

    public override void Flush()
    {
        try
        {
            _inner.Flush();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            Failure = ex;
            throw;
        }
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
