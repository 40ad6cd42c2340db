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
    private static readonly byte[] s_probe = new byte[1];


    /// <summary>Largest array allocated up front from an announced Content-Length (HTTP-09): a larger body grows as its
    /// bytes arrive, so memory follows what was received, not what a header claims.</summary>
    internal const int MaxUpFrontAllocation = 256 * 1024;
    private readonly FetchOperation _op;
    private readonly HttpResponseMessage _message;
    private readonly Stream _raw;
    private readonly Stream _decoded;
    // The fetch's settings are read where needed, not copied into every body (issue 16, sixth pass: a smaller object).
    private long MaxBody => _op.Settings.MaxBodySize;
    private TimeSpan BodyTimeout => _op.Settings.BodyTimeout;
    private TimeSpan RequestTimeout => _op.Settings.RequestTimeout;
    private FetchException? _failure;
    private long _read;
    private bool _eof;
    private int _disposed;
    private ResponseLeakSentinel? _sentinel;

    // Content-Length already says the (undecoded) body is over MaxBodySize: the first read fails before reading a byte.
    private readonly bool _announcedTooLarge;

    private ResponseBody(FetchOperation op, HttpResponseMessage message, Stream raw, Stream decoded)
    {
        _op = op;
        _message = message;
        _raw = raw;
        _decoded = decoded;
        _announcedTooLarge = ReferenceEquals(decoded, raw) && message.Content.Headers.ContentLength is { } announced && announced > MaxBody;
    }

    public bool ReachedEnd => _eof;

    /// <summary>A streamed body handed to the caller: warn if it is finalized or disposed unread (DIAG-09, DIAG-10).</summary>
    internal void TrackLeaks() => _sentinel = new ResponseLeakSentinel(_op);

    public long BytesRead => _read;

    internal static ResponseBody Open(HttpResponseMessage message, FetchOperation op, ResolvedSettings settings)
    {
        if (message.Headers.TransferEncodingChunked == true && message.Content.Headers.NonValidated.Contains("Content-Length")
            && !ProtocolChecks.IsBodiless(message))
        {
            // RFC 9112 §6.3: a sender must not send both; a client that picks one of them is how responses get
            // smuggled (a HEAD response or a 304 has no body, so neither header frames anything there). Refuse it; the fetch's failure path discards the connection (the handler may already have
            // read the whole body and pooled it, so the origin's idle connections are closed too).
            op.DiscardOnComplete = true;
            throw new HttpIOException(HttpRequestError.InvalidResponse,
                "the response has both Transfer-Encoding: chunked and Content-Length; refusing an ambiguous body length");
        }

        var raw = message.Content.ReadAsStream();
        var decoded = raw;
        // A response without content (HEAD, 304, 204) has nothing to decode: its Content-Encoding and Content-Length
        // describe the representation a GET would get (RFC 9110 §9.3.2, §15.4.5), which is what a HEAD is sent to learn
        // (curl -I shows them; nodejs/undici#5564, mizosoft/methanol#34). They stay, and nothing is reported as decoded.
        // A plain HttpClient (AutomaticDecompression) strips both here as if it had decoded a body.
        if (settings.DecompressResponse && message.Content.Headers.NonValidated.Contains("Content-Encoding")
            && !ProtocolChecks.IsBodiless(message) && message.StatusCode != System.Net.HttpStatusCode.NoContent)
        {
            var codings = ContentDecoding.Codings(message);
            var undo = ContentDecoding.DecodableSuffix(codings);
            if (undo > 0 && !codings.Skip(codings.Count - undo).All(static c => c.Equals("identity", StringComparison.OrdinalIgnoreCase)))
            {
                // HTTP-04: every coding is undone, the last applied first; what was undone leaves Content-Encoding (the
                // rest stays) and is reported as FetchResponse.DecodedContentEncodings.
                var undone = codings.GetRange(codings.Count - undo, undo);
                decoded = ContentDecoding.Decode(raw, undone, settings.MaxBodySize);
                var headers = message.Content.Headers;
                headers.Remove("Content-Encoding");
                if (undo < codings.Count)
                {
                    headers.TryAddWithoutValidation("Content-Encoding", string.Join(", ", codings.GetRange(0, codings.Count - undo)));
                }

                headers.ContentLength = null;
                op.DecodedContentEncodings = undone.AsReadOnly();
            }
        }

        return new ResponseBody(op, message, raw, decoded);
    }

    // A ValueTask: the usual small body is already buffered by the handler, so this completes synchronously and then
    // allocates no Task (issue 16, sixth pass).
    public async ValueTask<byte[]> ReadAllAsync(Action<ReadOnlyMemory<byte>>? streamingCallback,
        Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask>? streamingCallbackAsync, CancellationToken cancellationToken)
    {
        var length = _message.Content.Headers.ContentLength;
        if (streamingCallback is null && streamingCallbackAsync is null && length is > 0 && length <= MaxBody && length <= Array.MaxLength)
        {
            // Announced length (never set for a body we decode): read into one array of that length, with no copy when
            // the body is at most MaxUpFrontAllocation (measured in docs/benchmarks.md). A larger announcement is not
            // trusted with memory (HTTP-09: ten fetches announcing 100 MB and sending one byte must not allocate 1 GB):
            // the array starts at MaxUpFrontAllocation and doubles as bytes arrive, capped at the announced length.
            var announced = (int)length.Value;
            var body = new byte[Math.Min(announced, MaxUpFrontAllocation)];
            var filled = 0;
            int read;
            while (true)
            {
                if (filled == body.Length)
                {
                    if (body.Length == announced)
                    {
                        break;
                    }

                    var grown = new byte[(int)Math.Min(announced, (long)body.Length * 2)];
                    body.AsSpan(0, filled).CopyTo(grown);
                    body = grown;
                }

                read = await ReadAsync(body.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                filled += read;
            }

            // One more read sees the end of the body, which hands the connection back (the handler never delivers
            // more than Content-Length, and reports fewer as a truncated body).
            if (filled == announced && await ReadAsync(s_probe, cancellationToken).ConfigureAwait(false) != 0)
            {
                throw new HttpIOException(HttpRequestError.InvalidResponse, "The body is longer than its Content-Length.");
            }

            return filled == body.Length ? body : body[..filled];
        }

        // Unknown length: segments that grow to at most 256 KiB instead of a doubling MemoryStream, so a body that
        // ends up over MaxBodySize (a gzip bomb) costs about the limit in memory, not up to three times it.
        const int maxSegment = 256 * 1024;
        // The first segment is rented when the bytes stay inside this method (a chunked or close-delimited body is
        // usually small: one exact-size copy is all that stays allocated); later ones are allocated, so a large body
        // holds no pooled arrays. A streaming callback sees the buffer itself, so it never gets a pooled one (memory
        // it kept could later show another response's bytes).
        List<byte[]>? segments = null;
        var rented = streamingCallback is null ? ArrayPool<byte>.Shared.Rent(16 * 1024) : null;
        var current = rented ?? new byte[16 * 1024];
        var used = 0;
        try
        {
            long total = 0;
            int n;
            while (true)
            {
                if (used == current.Length)
                {
                    (segments ??= []).Add(current);
                    current = new byte[Math.Min(current.Length * 2, maxSegment)];
                    used = 0;
                }

                n = await ReadAsync(current.AsMemory(used), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                if (streamingCallbackAsync is not null)
                {
                    try
                    {
                        // A fresh copy: the consumer may keep the memory while we read on.
                        await streamingCallbackAsync(current.AsSpan(used, n).ToArray(), cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                    {
                        throw new CallbackException("StreamingCallbackAsync", ex);
                    }

                    continue;
                }

                if (streamingCallback is not null)
                {
                    try
                    {
                        streamingCallback(current.AsMemory(used, n));
                    }
                    catch (Exception ex)
                    {
                        throw new CallbackException("StreamingCallback", ex);
                    }

                    // The callback owns those bytes and may keep them (Tornado's `streaming_callback=chunks.append`
                    // ported as `chunks.Add`): they are never written again. The next read goes into the rest of the
                    // buffer, or into a fresh one once it is full (one allocation per 16 KiB read, not per chunk).
                    used += n;
                    if (used == current.Length)
                    {
                        current = new byte[current.Length];
                        used = 0;
                    }

                    continue;
                }

                used += n;
                total += n;
            }

            if (streamingCallback is not null || streamingCallbackAsync is not null)
            {
                return []; // the callback had every byte
            }

            var result = new byte[total];
            var offset = 0;
            foreach (var segment in segments ?? [])
            {
                segment.CopyTo(result, offset); // a segment is full when the next one starts
                offset += segment.Length;
            }

            current.AsSpan(0, used).CopyTo(result.AsSpan(offset));
            return result;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // A buffered fetch's read (the fetch's own token, which an abort and RequestTimeout already cancel) with no
        // per-read deadline: when the bytes are already here (a small body arrives with its head) it completes with
        // no state machine at all; anything else takes the full path below.
        if (BodyTimeout == Timeout.InfiniteTimeSpan && !_eof && _failure is null && _op.AbortKind is null
            && (_read != 0 || !_announcedTooLarge) && cancellationToken.CanBeCanceled && cancellationToken == _op.FetchToken)
        {
            var pending = StartRead(buffer, cancellationToken);
            if (!pending.IsCompletedSuccessfully)
            {
                return CompleteReadAsync(pending);
            }

            try
            {
                return new ValueTask<int>(Counted(pending.Result));
            }
            catch (Exception ex)
            {
                return ValueTask.FromException<int>(ex);
            }
        }

        return ReadSlowAsync(buffer, cancellationToken);
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadSlowAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        if (_eof)
        {
            return 0;
        }

        if (_read == 0 && _announcedTooLarge)
        {
            // Content-Length already says it is too large: fail before reading a byte.
            throw TooLarge();
        }

        if (_failure is { } failed)
        {
            // A streamed body that already failed (its connection is gone) keeps failing the same way.
            throw failed;
        }

        // The fetch's own token (what a buffered fetch reads with) is cancelled by an abort and by RequestTimeout
        // already. Any other token is a streamed body's reader: RequestTimeout still runs from the call (HTTP-06), so
        // each read is bounded by the smaller of BodyTimeout and what is left of RequestTimeout.
        var includesAbort = cancellationToken.CanBeCanceled && cancellationToken == _op.FetchToken;
        var deadline = BodyTimeout;
        var requestBinds = false;
        if (!includesAbort && RequestTimeout != Timeout.InfiniteTimeSpan)
        {
            var left = RequestTimeout - _op.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                throw Fail(FetchErrors.RequestTimedOut(_op, null));
            }

            if (deadline == Timeout.InfiniteTimeSpan || left < deadline)
            {
                deadline = left;
                requestBinds = true;
            }
        }

        if (deadline == Timeout.InfiniteTimeSpan)
        {
            return await ReadCoreAsync(buffer, cancellationToken, includesAbort).ConfigureAwait(false);
        }

        using var timeout = Clock.NewLinkedSource(cancellationToken, _op.Client.Time);
        timeout.CancelAfter(deadline);
        try
        {
            return await ReadCoreAsync(buffer, timeout.Token, includesAbort).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            // Our timer, not the caller: a typed 599, never a bare TaskCanceledException (HTTP-06).
            _op.BodyTimedOut = !requestBinds;
            throw Fail(requestBinds ? FetchErrors.RequestTimedOut(_op, ex) : FetchErrors.BodyTimedOut(_op, ex));
        }
    }

    /// <summary>A streamed body's read failed: its connection is closed (never reused mid-body), the fetch completes
    /// and later reads fail the same way. A buffered fetch's failure path does this itself.</summary>
    private FetchException Fail(FetchException error)
    {
        if (_sentinel is not null)
        {
            _failure = error;
            _sentinel.Disarm();
            _op.Complete(discardConnection: true);
        }

        return error;
    }

    private ValueTask<int> ReadCoreAsync(Memory<byte> buffer, CancellationToken cancellationToken, bool includesAbort)
    {
        // The fetch's own token (buffered fetches) is already cancelled by an abort: no linked source per read.
        return includesAbort ? CompleteReadAsync(StartRead(buffer, cancellationToken)) : ReadWithAbortAsync(buffer, cancellationToken);
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadWithAbortAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _op.AbortToken);
        return await CompleteReadAsync(StartRead(buffer, abort.Token)).ConfigureAwait(false);
    }

    /// <summary>Starts a read of the decoded body; a synchronous failure is returned as a faulted read, so that
    /// <see cref="CompleteReadAsync"/> maps it like any other.</summary>
    private ValueTask<int> StartRead(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            return _decoded.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<int>(ex);
        }
    }

    /// <summary>Awaits a read and maps its failure to the fetch's typed errors.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> CompleteReadAsync(ValueTask<int> pending)
    {
        int n;
        try
        {
            n = await pending.ConfigureAwait(false);
        }
        catch (Exception) when (_op.AbortKind is not null)
        {
            ThrowIfClosed();
            throw;
        }
        catch (InvalidDataException ex)
        {
            var mapped = FetchErrors.MapTransport(
                new HttpIOException(HttpRequestError.InvalidResponse, $"The body could not be decoded: {ex.Message}", ex), _op);
            throw mapped is FetchException fetch ? Fail(fetch) : mapped;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or ObjectDisposedException)
        {
            // A streamed body's reader gets the same typed 599 as a buffered fetch (reset, truncated, protocol).
            if (FetchErrors.MapTransport(ex, _op) is FetchException mapped)
            {
                throw Fail(mapped);
            }

            throw;
        }

        return Counted(n);
    }

    /// <summary>Accounts for <paramref name="n"/> bytes read: the end of the body completes the fetch (which frees
    /// its slots); past MaxBodySize the body fails.</summary>
    private int Counted(int n)
    {
        if (n == 0)
        {
            _eof = true;
            _sentinel?.Disarm();
            _op.Complete();
            return 0;
        }

        _read += n;
        if (_read > MaxBody)
        {
            throw Fail(TooLarge());
        }

        return n;
    }

    private FetchException TooLarge()
    {
        var inner = new BodyTooLargeException(MaxBody);
        var where = Uri.TryCreate(_op.CurrentUrl, UriKind.Absolute, out var uri) ? $"{uri.Host}:{uri.Port}" : "?";
        return new FetchException(FetchException.NoResponse, FetchErrorKind.BodyTooLarge, $"Body too large ({where}): {inner.Message}",
            _op.Request, inner: inner);
    }

    private void ThrowIfClosed()
    {
        if (_op.AbortKind is { } kind)
        {
            throw new FetchException(FetchException.NoResponse, kind,
                $"{FetchErrors.ClosedText(kind)}: " +
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

    protected override void Dispose(bool disposing) => DisposeCore(disposing, unreadOverride: null);

    private void DisposeCore(bool disposing, bool? unreadOverride)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            if (!ReferenceEquals(_decoded, _raw))
            {
                _decoded.Dispose();
            }

            // The handler does not drain (MaxResponseDrainSize = 0): disposing an unfinished body closes its HTTP/1.1
            // connection or resets its HTTP/2 stream, here and on every abort path. DisposeAsync drains a small
            // remainder first, so that connection can still be reused.
            var unread = unreadOverride ?? (!_eof && _op.AbortKind is null && !_op.IsCompleted && _message.Content.Headers.ContentLength != 0);
            _raw.Dispose();
            _message.Dispose();
            _op.Complete();
            if (_sentinel is { } sentinel)
            {
                sentinel.Disarm();
                if (unread)
                {
                    base.Dispose(disposing);
                    Diagnostics.LeakTracker.Report(Diagnostics.LeakKind.ResponseDisposedUnread, nameof(FetchResponse),
                        _op.AllocationSite ?? _op.Client.AllocationSite, _op.Client.Options.Logger, canThrow: true, _read);
                    return;
                }
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>Drains a small remainder (at most 64 KiB, within 2 s, stopped by an abort) so the connection can be
    /// reused, then disposes; anything larger or slower closes the connection as <see cref="Dispose(bool)"/> does.</summary>
    public override async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        var unread = !_eof && _op.AbortKind is null && !_op.IsCompleted && _message.Content.Headers.ContentLength != 0;
        var remaining = unread && _message.Content.Headers.ContentLength is { } length && ReferenceEquals(_decoded, _raw) ? length - _read : -1;
        if (unread && remaining is >= 0 and <= BodyDrain.Limit)
        {
            try
            {
                using var timeout = Clock.NewLinkedSource(_op.AbortToken, _op.Client.Time);
                timeout.CancelAfter(BodyDrain.Timeout);
                await BodyDrain.ReadToEndAsync(_raw, BodyDrain.Limit, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException or ObjectDisposedException)
            {
                // Not drained: the dispose below closes the connection.
            }
        }

        DisposeCore(disposing: true, unreadOverride: unread);
    }
}
