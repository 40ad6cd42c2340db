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
internal sealed class WriteWatchedContent(HttpContent inner) : HttpContent
{
    protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context,
        CancellationToken cancellationToken)
    {
        var watched = new WriteWatchStream(stream);
        try
        {
            await inner.CopyToAsync(watched, context, cancellationToken).ConfigureAwait(false);
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

/// <summary>The connection's request stream, remembering the exception a write or flush to it threw.</summary>
internal sealed class WriteWatchStream(Stream inner) : Stream
{
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

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            Failure = ex;
            throw;
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        try
        {
            inner.Write(buffer, offset, count);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            Failure = ex;
            throw;
        }
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        try
        {
            await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            Failure = ex;
            throw;
        }
    }

    public override void Flush()
    {
        try
        {
            inner.Flush();
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
