using System.Buffers;
using System.IO.Compression;

namespace Tether;

/// <summary>
/// The response body as the caller sees it: decoded (gzip, deflate, br) when asked, bounded by
/// <see cref="FetchSettings.MaxBodySize"/> counted after decoding, each read bounded by
/// <see cref="FetchSettings.BodyTimeout"/>, and refusing reads once the owning client, loop or pool closed. At the end
/// of the body it completes the fetch, which hands the connection back to the pool.
/// </summary>
internal sealed class ResponseBody : Stream
{
    private readonly FetchOperation _op;
    private readonly HttpResponseMessage _message;
    private readonly Stream _raw;
    private readonly Stream _decoded;
    private readonly long _maxBody;
    private readonly TimeSpan _bodyTimeout;
    private readonly BodyTimeoutFlag _timedOut;
    private long _read;
    private bool _eof;
    private int _disposed;

    private ResponseBody(FetchOperation op, HttpResponseMessage message, Stream raw, Stream decoded, BodyTimeoutFlag timedOut)
    {
        _op = op;
        _message = message;
        _raw = raw;
        _decoded = decoded;
        _maxBody = op.Settings.MaxBodySize;
        _bodyTimeout = op.Settings.BodyTimeout;
        _timedOut = timedOut;
    }

    public bool ReachedEnd => _eof;

    public long BytesRead => _read;

    internal static ResponseBody Open(HttpResponseMessage message, FetchOperation op, ResolvedSettings settings, BodyTimeoutFlag timedOut)
    {
        var raw = message.Content.ReadAsStream();
        var decoded = raw;
        var encoding = message.Content.Headers.ContentEncoding.LastOrDefault();
        if (settings.DecompressResponse && encoding is not null)
        {
            decoded = encoding.ToLowerInvariant() switch
            {
                "gzip" => new GZipStream(raw, CompressionMode.Decompress, leaveOpen: true),
                "deflate" => new ZLibStream(raw, CompressionMode.Decompress, leaveOpen: true),
                "br" => new BrotliStream(raw, CompressionMode.Decompress, leaveOpen: true),
                _ => raw,
            };
            if (!ReferenceEquals(decoded, raw))
            {
                message.Content.Headers.ContentEncoding.Clear();
                message.Content.Headers.ContentLength = null;
            }
        }

        return new ResponseBody(op, message, raw, decoded, timedOut);
    }

    public async Task<byte[]> ReadAllAsync(Action<ReadOnlyMemory<byte>>? streamingCallback, CancellationToken cancellationToken)
    {
        // Perf (bench/, docs/benchmarks.md): size the buffer to the announced Content-Length (bounded by MaxBodySize,
        // which the reads enforce anyway) so the body is neither regrown by doubling nor copied out again, and rent
        // the read chunk unless a callback sees it (it may keep the memory it is handed).
        var length = _message.Content.Headers.ContentLength;
        var capacity = streamingCallback is null && length is > 0 && length <= _maxBody && length <= Array.MaxLength
            ? (int)length.Value
            : 0;
        using var buffer = new MemoryStream(capacity);
        var pooled = streamingCallback is null;
        var chunk = pooled ? ArrayPool<byte>.Shared.Rent(16 * 1024) : new byte[16 * 1024];
        try
        {
            int n;
            while ((n = await ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (streamingCallback is not null)
                {
                    try
                    {
                        streamingCallback(chunk.AsMemory(0, n));
                    }
                    catch (Exception ex)
                    {
                        throw new CallbackException("StreamingCallback", ex);
                    }
                }
                else
                {
                    buffer.Write(chunk, 0, n);
                }
            }
        }
        finally
        {
            if (pooled)
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
        }

        // Exactly the announced length arrived: the buffer's own array is the body (no second copy).
        return capacity > 0 && buffer.Length == capacity ? buffer.GetBuffer() : buffer.ToArray();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfClosed();
        if (_eof)
        {
            return 0;
        }

        int n;
        if (_bodyTimeout == Timeout.InfiniteTimeSpan)
        {
            n = await ReadCoreAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_bodyTimeout);
            try
            {
                n = await ReadCoreAsync(buffer, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                _timedOut.Fired = true;
                throw;
            }
        }

        return n;
    }

    private async ValueTask<int> ReadCoreAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int n;
        try
        {
            using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _op.AbortToken);
            n = await _decoded.ReadAsync(buffer, abort.Token).ConfigureAwait(false);
        }
        catch (Exception) when (_op.AbortKind is not null)
        {
            ThrowIfClosed();
            throw;
        }
        catch (InvalidDataException ex)
        {
            throw new HttpIOException(HttpRequestError.InvalidResponse, $"The body could not be decoded: {ex.Message}", ex);
        }

        if (n == 0)
        {
            _eof = true;
            _op.Complete();
            return 0;
        }

        _read += n;
        if (_read > _maxBody)
        {
            throw new BodyTooLargeException(_maxBody);
        }

        return n;
    }

    private void ThrowIfClosed()
    {
        if (_op.AbortKind is { } kind)
        {
            throw new FetchException(FetchException.NoResponse, kind,
                $"{kind switch { FetchErrorKind.LoopClosed => "Loop closed", FetchErrorKind.PoolClosed => "Pool closed", _ => "Client closed" }}: " +
                $"{_op.AbortMessage}; this response's connection was closed with it. Read the body before the " +
                "client, pool or loop that owns it closes.", _op.Request);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            if (!ReferenceEquals(_decoded, _raw))
            {
                _decoded.Dispose();
            }

            // Disposing the raw stream lets the handler drain a small remainder and reuse the connection, or close it.
            _raw.Dispose();
            _message.Dispose();
            _op.Complete();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}

/// <summary>Set by a body read that outlived the body timeout, so the fetch reports a body timeout, not a cancel.</summary>
internal sealed class BodyTimeoutFlag
{
    public volatile bool Fired;
}
