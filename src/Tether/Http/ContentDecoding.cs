using System.IO.Compression;

namespace Tether;

/// <summary>
/// Undoes the content codings of a response body (RFC 9110 §8.4.1): the codings are listed in the order they were
/// applied, across every <c>Content-Encoding</c> line, so they are undone from the last one back. gzip (and its alias
/// x-gzip), deflate (with the zlib wrapper of RFC 1950, or raw RFC 1951 data as some servers send it: detected from
/// the first two bytes, as urllib3 and httpx do) and br are known; identity is skipped. Decoding stops at the first
/// coding (from the end) that is not known: that coding and the ones before it stay in the header and the body is
/// what remains after the layers undone, so a sole unknown coding leaves body and header untouched.
/// </summary>
/// <remarks>Every layer's input is bounded by <see cref="FetchSettings.MaxBodySize"/> (the final output is counted by
/// <see cref="ResponseBody"/>), so no layer of a nested bomb grows past the limit either.</remarks>
internal static class ContentDecoding
{
    /// <summary>Maps the Brotli assembly on the first response that could be decoded, as the single-coding switch this
    /// replaced did, not at the first br body: the runtime maps an assembly once (an fd for the life of the process),
    /// and the fd-counting tests take their baseline after a warm-up fetch.</summary>
    static ContentDecoding() => GC.KeepAlive(typeof(BrotliStream).Assembly);

    /// <summary>The codings of a response, in the order they were applied (every header line, comma lists split).</summary>
    public static List<string> Codings(HttpResponseMessage message)
    {
        var codings = new List<string>();
        if (message.Content.Headers.NonValidated.TryGetValues("Content-Encoding", out var values))
        {
            foreach (var value in values)
            {
                foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    codings.Add(part);
                }
            }
        }

        return codings;
    }

    /// <summary>Whether <paramref name="coding"/> can be undone (identity counts: there is nothing to undo).</summary>
    public static bool IsKnown(string coding) => Normalize(coding) is not null;

    /// <summary>How many codings, counted from the end of <paramref name="codings"/>, can be undone.</summary>
    public static int DecodableSuffix(IReadOnlyList<string> codings)
    {
        var n = 0;
        for (var i = codings.Count - 1; i >= 0 && IsKnown(codings[i]); i--)
        {
            n++;
        }

        return n;
    }

    /// <summary>Wraps <paramref name="raw"/> in one decoder per coding of <paramref name="codings"/>, the last coding
    /// outermost-first. <paramref name="codings"/> must all be known (see <see cref="DecodableSuffix"/>).</summary>
    public static Stream Decode(Stream raw, IReadOnlyList<string> codings, long maxLayerBytes)
    {
        var stream = raw;
        for (var i = codings.Count - 1; i >= 0; i--)
        {
            var kind = Normalize(codings[i]);
            if (kind == "identity")
            {
                continue;
            }

            var input = new LimitedStream(stream, maxLayerBytes);
            stream = kind switch
            {
                "gzip" => new DecodeGuardStream(new GZipStream(input, CompressionMode.Decompress, leaveOpen: false), "gzip"),
                "deflate" => new DecodeGuardStream(new AutoDeflateStream(input), "deflate"),
                "br" => new DecodeGuardStream(new BrotliStream(input, CompressionMode.Decompress, leaveOpen: false), "br"),
                _ => throw new InvalidOperationException($"unknown coding {codings[i]}"),
            };
        }

        return stream;
    }

    private static string? Normalize(string coding) => coding.ToLowerInvariant() switch
    {
        "gzip" or "x-gzip" => "gzip",
        "deflate" => "deflate",
        "br" => "br",
        "identity" => "identity",
        _ => null,
    };

    /// <summary>Whether two bytes start a zlib stream (RFC 1950 §2.2: method 8 = deflate, window at most 32 KiB, and
    /// CMF·256 + FLG a multiple of 31). Raw deflate data passes only if it starts with a non-final stored block whose
    /// padding bits are not zero, which encoders do not produce.</summary>
    internal static bool IsZlibHeader(ReadOnlySpan<byte> head) =>
        head.Length >= 2 && (head[0] & 0x0F) == 8 && (head[0] >> 4) <= 7 && ((head[0] << 8) | head[1]) % 31 == 0;
}

/// <summary>"deflate" as servers send it: zlib-wrapped (RFC 1950, what RFC 9110 §8.4.1.2 means) or raw (RFC 1951).
/// The first two bytes decide, once, on the first read.</summary>
internal sealed class AutoDeflateStream(Stream inner) : ReadOnlyStream
{
    private Stream? _decoder;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_decoder is null)
        {
            var head = new byte[2];
            var got = await inner.ReadAtLeastAsync(head, 2, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            var prefixed = new PrefixedStream(head.AsMemory(0, got), inner);
            _decoder = ContentDecoding.IsZlibHeader(head.AsSpan(0, got))
                ? new ZLibStream(prefixed, CompressionMode.Decompress, leaveOpen: false)
                : new DeflateStream(prefixed, CompressionMode.Decompress, leaveOpen: false);
        }

        return await _decoder.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (_decoder is not null)
            {
                _decoder.Dispose();
            }
            else
            {
                inner.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}

/// <summary>Makes every way a decoder reports corrupt input one <see cref="InvalidDataException"/> (a 599 Protocol):
/// BrotliStream throws <see cref="InvalidOperationException"/> ("Decoder ran into invalid data"), and the zlib inflater
/// behind gzip and deflate throws its internal <c>ZLibException</c> (an <see cref="IOException"/>, "unexpected error
/// code") for some corruptions instead of <see cref="InvalidDataException"/>. Both were found by the decoder property
/// test (seed 0pNmzRq8UFn5 for the zlib case). An <see cref="IOException"/> of the connection itself passes through.</summary>
internal sealed class DecodeGuardStream(Stream inner, string coding) : ReadOnlyStream
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException && coding == "br" || IsZlibError(ex))
        {
            throw new InvalidDataException($"the {coding} data is corrupt: {ex.Message}", ex);
        }
    }

    private static bool IsZlibError(Exception ex) =>
        ex is IOException && ex.GetType().FullName == "System.IO.Compression.ZLibException";

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>A few bytes already read, then the rest of <c>inner</c>.</summary>
internal sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : ReadOnlyStream
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (!_prefix.IsEmpty && !buffer.IsEmpty)
        {
            var n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }

        return inner.Read(buffer);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        !_prefix.IsEmpty && !buffer.IsEmpty ? ValueTask.FromResult(Read(buffer.Span)) : inner.ReadAsync(buffer, cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>The input of one decoding layer: fails with <see cref="BodyTooLargeException"/> past the limit. Disposing
/// it disposes what it reads, so disposing the outermost decoder disposes the whole chain.</summary>
internal sealed class LimitedStream(Stream inner, long limit) : ReadOnlyStream
{
    private long _total;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        _total += n;
        if (_total > limit)
        {
            throw new BodyTooLargeException(limit);
        }

        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
