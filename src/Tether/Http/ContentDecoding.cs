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

            if (kind is not ("gzip" or "deflate" or "br"))
            {
                throw new InvalidOperationException($"unknown coding {codings[i]}");
            }

            stream = DecodeLayer(new LimitedStream(stream, maxLayerBytes), kind, uniformErrors: true);
        }

        return stream;
    }

    /// <summary>One decoder of <paramref name="kind"/> ("gzip", "deflate" or "br") over <paramref name="input"/>, whose
    /// end is watched (see <see cref="CodingEnd"/>) when this runtime allows it: a stream cut before its end-of-stream
    /// marker fails with <see cref="TruncatedCodingException"/>. With <paramref name="uniformErrors"/>, corrupt data is
    /// always an <see cref="InvalidDataException"/> (Tether's fetches); without, it is what the decoder throws, as from
    /// a plain HttpClient (the HttpClient bridge). Disposing the result disposes <paramref name="input"/>.</summary>
    public static Stream DecodeLayer(Stream input, string kind, bool uniformErrors)
    {
        // The decoder reads through CodingEnd, which tells a stream that ended at its end marker from one cut short.
        var end = CodingEnd.IsObservable(kind) ? new CodingEnd(input, probe: kind == "gzip") : null;
        input = end ?? input;
        return kind switch
        {
            "gzip" => new DecodeGuardStream(new GZipStream(input, CompressionMode.Decompress, leaveOpen: false), "gzip", end, uniformErrors),
            "deflate" => new DecodeGuardStream(new AutoDeflateStream(input), "deflate", end, uniformErrors),
            "br" => new DecodeGuardStream(new BrotliStream(input, CompressionMode.Decompress, leaveOpen: false), "br", end, uniformErrors),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "gzip, deflate or br"),
        };
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
/// test (seed 0pNmzRq8UFn5 for the zlib case). An <see cref="IOException"/> of the connection itself passes through.
/// With <paramref name="end"/> (the decoder's input, see <see cref="CodingEnd"/>) it also fails a stream that ended
/// before its end-of-stream marker with <see cref="TruncatedCodingException"/> (a 599 TruncatedBody), which the
/// decoders themselves report as a normal end. Without <paramref name="uniformErrors"/> (the HttpClient bridge, which
/// throws what a plain HttpClient throws) corrupt data passes through as the decoder reports it; only the cut is
/// reported.</summary>
internal sealed class DecodeGuardStream(Stream inner, string coding, CodingEnd? end = null, bool uniformErrors = true) : ReadOnlyStream
{
    private long _decoded;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (end is null || buffer.IsEmpty)
        {
            // A zero-byte read is not an end (the decoders wait for input, or return at once): the end is not watched.
            return await ReadCoreAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        int n;
        end.Watching = true;
        try
        {
            n = await ReadCoreAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (end.PastEnd && ex is not OperationCanceledException)
        {
            // The decoder read on past the end of its input and then choked on it: the data stopped mid-stream. What a
            // gzip decoder says about the probe's bytes (e.g. "unsupported compression method") is about bytes the
            // server never sent, so it is not kept as the cause.
            throw Truncated(end.Probed ? null : ex);
        }
        finally
        {
            end.Watching = false;
        }

        if (end.Overread || (n > 0 && end.PastEnd))
        {
            // The decoder asked for input after the last byte (deflate, zlib, br), or, for gzip, took the probe as
            // more of its data: its stream had not ended. The probe's output is never returned.
            throw Truncated(null);
        }

        _decoded += n;
        return n;
    }

    private async ValueTask<int> ReadCoreAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (uniformErrors && (ex is InvalidOperationException && coding == "br" || IsZlibError(ex)))
        {
            throw new InvalidDataException($"the {coding} data is corrupt: {ex.Message}", ex);
        }
    }

    private TruncatedCodingException Truncated(Exception? inner) => new(coding, end!.Consumed, _decoded, inner);

    private static bool IsZlibError(Exception ex) =>
        ex is IOException && ex.GetType().FullName == "System.IO.Compression.ZLibException";

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>A content-coded body ended before the end-of-stream marker of its coding (see <see cref="CodingEnd"/>).</summary>
internal sealed class TruncatedCodingException(string coding, long compressed, long decoded, Exception? inner)
    : IOException(Describe(coding, compressed, decoded, "fetch", "DecompressResponse = false"), inner)
{
    public string Coding { get; } = coding;

    /// <summary>Compressed bytes the decoder was given before the end.</summary>
    public long Compressed { get; } = compressed;

    /// <summary>Bytes decoded from them (and returned to the reader).</summary>
    public long Decoded { get; } = decoded;

    /// <summary>The message, for a <paramref name="retry"/> ("fetch", "request") whose decoding is switched off by
    /// <paramref name="undecoded"/>: the coding, both counts, the likely cause and what to do.</summary>
    public static string Describe(string coding, long compressed, long decoded, string retry, string undecoded) =>
        $"the {coding} stream ended before its end-of-stream marker, after {compressed} compressed bytes " +
        $"({decoded} bytes decoded): the body was cut short although its framing did not show it (a body that ends where " +
        $"the connection closes, or one a proxy re-framed). Retry the {retry}; if it keeps happening, the server or a proxy " +
        $"is cutting the response ({undecoded} returns the bytes as received, undecoded and unchecked).";
}

/// <summary>
/// The input of one decoder, watched at its end, so that a coded body cut short is an error and not a shorter body.
/// GZipStream, ZLibStream, DeflateStream and BrotliStream return a normal end of stream when their input ends before
/// the coding's own end-of-stream marker (measured on .NET 10.0.12: half of a 200 KB body decodes to about half, with
/// no exception); the runtime's check, the <c>System.IO.Compression.UseStrictValidation</c> AppContext switch, is off
/// by default and process-wide, so a library cannot turn it on for its own streams. What is observable from outside
/// is what a decoder asks of its input:
/// <list type="bullet">
/// <item>deflate (zlib or raw) and br: a decoder that reached its end marker returns its end without reading its input
/// again; one that did not reads on, and sees the end of the input. A read at the end of a non-empty input, while the
/// caller's read is watched (<see cref="Watching"/>), is proof of a cut (<see cref="Overread"/>).</item>
/// <item>gzip: GZipStream reads on after each member (RFC 1952 §2.2 allows several; it decodes them all) to look for
/// another, so a read at the end proves nothing. At the end of the input the decoder is handed eight 0xFF bytes
/// instead (<see cref="PastEnd"/>): a decoder whose last member ended takes them for trailing bytes that are not a
/// gzip header and returns its end without reading again, as it does with any trailing garbage; one that was cut
/// takes them as more of its data and either fails, produces bytes (never returned), or reads again. The probe cannot
/// complete a member cut inside its 8-byte trailer: that takes CRC-32 and ISIZE bytes equal to 0xFF, and the top byte
/// of ISIZE is 0xFF only for a member of more than 4 278 190 080 decoded bytes (ISIZE is the size modulo 2^32).</item>
/// </list>
/// An empty input is an empty body, as before (a 200 with <c>Content-Encoding: gzip</c> and no bytes). Bytes after a
/// complete stream stay ignored, as the decoders do (a gzip tail that starts like a gzip header, 0x1F 0x8B, or is
/// the lone byte 0x1F, is a second member cut short). <see cref="IsObservable"/> checks once per process that the decoders of the running
/// runtime still behave so, and leaves a coding unwatched (as before) if not.
/// </summary>
internal sealed class CodingEnd(Stream inner, bool probe) : ReadOnlyStream
{
    private static readonly byte[] s_probe = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    private static int s_gzip;
    private static int s_deflate;
    private static int s_br;

    private bool _innerEnded;

    /// <summary>Set by <see cref="DecodeGuardStream"/> while a caller's (non-empty) read is in the decoder: only then
    /// is a read at the end of the input taken as a sign (a zero-byte read may make a decoder look for input early).</summary>
    public bool Watching { get; set; }

    /// <summary>Compressed bytes handed to the decoder.</summary>
    public long Consumed { get; private set; }

    /// <summary>The decoder read at the end of the input (gzip: after the probe).</summary>
    public bool Overread { get; private set; }

    /// <summary>The gzip probe was handed over, or the decoder read past the end.</summary>
    public bool PastEnd { get; private set; }

    /// <summary>The gzip probe was handed over: what the decoder made of it is not the server's data.</summary>
    public bool Probed => probe && PastEnd;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_innerEnded)
        {
            return buffer.IsEmpty ? 0 : AtEnd(buffer.Span);
        }

        var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (n > 0 || buffer.IsEmpty)
        {
            Consumed += n;
            return n;
        }

        _innerEnded = true;
        return AtEnd(buffer.Span);
    }

    /// <summary>A read at the end of the input.</summary>
    private int AtEnd(Span<byte> buffer)
    {
        if (!Watching || Consumed == 0)
        {
            return 0;
        }

        if (probe && !PastEnd)
        {
            PastEnd = true;
            var k = Math.Min(buffer.Length, s_probe.Length);
            s_probe.AsSpan(0, k).CopyTo(buffer);
            return k;
        }

        PastEnd = true;
        Overread = true;
        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>Whether the end of <paramref name="kind"/> (gzip, deflate, br) is watched: once per process, a small
    /// stream of that coding must decode whole (gzip: also as two members, and with a trailing byte), and fail when cut
    /// in its middle and before its last byte. Otherwise the runtime's decoders do not behave as <see cref="CodingEnd"/>
    /// relies on, and the coding is decoded unwatched rather than risk failing valid bodies.</summary>
    public static bool IsObservable(string kind) => kind switch
    {
        "gzip" => Checked(ref s_gzip, kind),
        "deflate" => Checked(ref s_deflate, kind),
        _ => Checked(ref s_br, kind),
    };

    /// <summary>The self-test's verdict, run on first use (two threads may both run it; they agree).</summary>
    private static bool Checked(ref int state, string kind)
    {
        var verdict = Volatile.Read(ref state);
        if (verdict == 0)
        {
            verdict = SelfTest(kind) ? 1 : -1;
            Volatile.Write(ref state, verdict);
        }

        return verdict > 0;
    }

    // The samples: 1024 bytes (see SelfTest) encoded once by .NET 10's encoders at their Optimal level (dynamic
    // Huffman blocks; br several meta-blocks), kept as data so the self-test runs no encoder (a Brotli encoder costs
    // tens of milliseconds on first use).
    private const string GzipSample =
        "1F8B080000000000000345CF312C03611C867144C54A545835845954D811EC15C470DA736DAF773DBDD38A0AAB205885" +
        "20568498096296126621D81162B5B4EFB33EF9F2FFDE5F556A763A9D8BDB7E22B3623A73336EDECA16920D86F276A0DC" +
        "E6291F6594BB93CA1709E58182F29DAF1CCB2A3FDBCA96A5FC19579ECF2B57E794575DE5C6F2EEC07476CABB3D2315A9" +
        "7002F3B8C2F18C1E29834B29BD41F025F063E05FC0A3F4BFC02F906BC0AFF1BA09FC2E47DAC19F703B0AFE8A2F87C0DF" +
        "B3641CFC2B03D3E0BFD95D045F0B671D7C18E51EF80EF0A7E07BC15F831F06FF007E02FC1B781BFC0FF845F021F01BE0" +
        "9BC1EF83EF047F06BE0FFC0DF811F08FE027C1BF8377C0FF825F025F077E137C0BF803F05DE0CFC1F783BF053F0AFE09" +
        "FC14F80FF02EF83FF0CBE0EBC16F816F057FF80FA7080D8400040000";

    private const string ZlibSample =
        "789C45CF312C03611C867144C54A545835845954D811EC15C470DA736DAF773DBDD38A0AAB2058852056849809629612" +
        "6621D81162B5B4EFB33EF9F2FFDE5F556A763A9D8BDB7E22B3623A73336EDECA16920D86F276A0DCE6291F6594BB93CA" +
        "1709E58182F29DAF1CCB2A3FDBCA96A5FC19579ECF2B57E794575DE5C6F2EEC07476CABB3D2315A97002F3B8C2F18C1E" +
        "29834B29BD41F025F063E05FC0A3F4BFC02F906BC0AFF1BA09FC2E47DAC19F703B0AFE8A2F87C0DFB3641CFC2B03D3E0" +
        "BFD95D045F0B671D7C18E51EF80EF0A7E07BC15F831F06FF007E02FC1B781BFC0FF845F021F01BE09BC1EF83EF047F06" +
        "BE0FFC0DF811F08FE027C1BF8377C0FF825F025F077E137C0BF803F05DE0CFC1F783BF053F0AFE09FC14F80FF02EF83F" +
        "F0CBE0EBC16F816F057FF80F7645B4F4";

    private const string RawSample =
        "45CF312C03611C867144C54A545835845954D811EC15C470DA736DAF773DBDD38A0AAB20588520568498096296126621" +
        "D81162B5B4EFB33EF9F2FFDE5F556A763A9D8BDB7E22B3623A73336EDECA16920D86F276A0DCE6291F6594BB93CA1709" +
        "E58182F29DAF1CCB2A3FDBCA96A5FC19579ECF2B57E794575DE5C6F2EEC07476CABB3D2315A97002F3B8C2F18C1E2983" +
        "4B29BD41F025F063E05FC0A3F4BFC02F906BC0AFF1BA09FC2E47DAC19F703B0AFE8A2F87C0DFB3641CFC2B03D3E0BFD9" +
        "5D045F0B671D7C18E51EF80EF0A7E07BC15F831F06FF007E02FC1B781BFC0FF845F021F01BE09BC1EF83EF047F06BE0F" +
        "FC0DF811F08FE027C1BF8377C0FF825F025F077E137C0BF803F05DE0CFC1F783BF053F0AFE09FC14F80FF02EF83FF0CB" +
        "E0EBC16F816F057FF80F";

    private const string BrSample =
        "1BFF030064605D8215AC5086FADC0FC6B30EAA70853294A10C75886872808F871AC6D69652005656D7F6CE916D467158" +
        "D5E5B4515EF7052310CD502AA5C99CA7CEB2A169931C70FA42172EC0F4A012451FAC2890EB183794291604F58C4D5F87" +
        "ED50D72FBBE281747BF262F9D44A421E77268AA938152C721A195B944EC23166807FCD86E9CF6405FF854EF20A58934D" +
        "ABCC32AE49B8C3ED629E508788375844F0CA51193F9414A11033CDAF62AFD05BC8BBF81EF4296F98754743496F385DF8" +
        "CBCD308BA833C41AECAAA095B3CFE8A59C134630F77C9CFD4E37C8FFF82CBA8437CBAA5D6D1D";

    private static bool SelfTest(string kind)
    {
        var plain = new byte[1024];
        for (var i = 0; i < plain.Length; i++)
        {
            plain[i] = (byte)(i % 11 == 0 ? (i * 7919) >> 3 : 'a' + (i * 31 % 23));
        }

        try
        {
            var samples = kind switch
            {
                "gzip" => [Convert.FromHexString(GzipSample)],
                "deflate" => new[] { Convert.FromHexString(ZlibSample), Convert.FromHexString(RawSample) },
                _ => [Convert.FromHexString(BrSample)],
            };
            foreach (var encoded in samples)
            {
                if (!DecodesTo(encoded, kind, plain) || DecodesTo(encoded[..^1], kind, null) || DecodesTo(encoded[..(encoded.Length / 2)], kind, null))
                {
                    return false;
                }
            }

            return kind != "gzip"
                || (DecodesTo([.. samples[0], .. samples[0]], kind, [.. plain, .. plain]) && DecodesTo([.. samples[0], 0], kind, plain));
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Whether <paramref name="encoded"/> decodes, watched, to <paramref name="expected"/> (null: to anything
    /// at all, i.e. the cut went unnoticed).</summary>
    private static bool DecodesTo(byte[] encoded, string kind, byte[]? expected)
    {
        var end = new CodingEnd(new MemoryStream(encoded), kind == "gzip");
        Stream decoder = kind switch
        {
            "gzip" => new GZipStream(end, CompressionMode.Decompress),
            "deflate" => new AutoDeflateStream(end),
            _ => new BrotliStream(end, CompressionMode.Decompress),
        };
        using var guard = new DecodeGuardStream(decoder, kind, end);
        using var output = new MemoryStream();
        try
        {
            guard.CopyTo(output, 1024);
        }
        catch (Exception e) when (e is TruncatedCodingException || (expected is null && e is InvalidDataException))
        {
            return false; // a cut noticed (the decoder's own error counts too)
        }

        return expected is null || output.ToArray().AsSpan().SequenceEqual(expected);
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

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
