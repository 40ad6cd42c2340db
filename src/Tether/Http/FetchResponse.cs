using System.Net;
using System.Text;

namespace Tether;

/// <summary>The response to a fetch.</summary>
/// <remarks>
/// A buffered response (<see cref="AsyncHttpClient.FetchAsync(FetchRequest, CancellationToken)"/>) holds no socket;
/// disposing it is optional. A streamed response (<see cref="AsyncHttpClient.FetchStreamAsync(FetchRequest, CancellationToken)"/>)
/// holds its connection until <see cref="BodyStream"/> is read to the end or the response is disposed; the owning
/// client or loop closes that connection if it closes first. Not thread-safe.
/// </remarks>
public sealed class FetchResponse : IAsyncDisposable, IDisposable
{
    private readonly byte[]? _body;
    private readonly ResponseBody? _stream;
    private string? _text;

    private FetchResponse(FetchOperation op, HttpResponseMessage message, Uri effectiveUrl, byte[]? body, ResponseBody? stream)
    {
        Request = op.Request;
        Code = (int)message.StatusCode;
        // HTTP/1.1 allows an empty reason phrase ("HTTP/1.1 200 "), which the handler reports as ""; HTTP/2 has none
        // and the handler reports .NET's standard phrase, or null for a code it has none for. Tornado's HTTPResponse
        // does the same: `reason or httputil.responses.get(code, "Unknown")`.
        Reason = message.ReasonPhrase is { Length: > 0 } phrase ? phrase : ReasonPhrases.For(Code);
        Version = message.Version;
        _headerSource = message; // copied when first asked for: most callers read the body, not the headers

        EffectiveUrl = string.IsNullOrEmpty(effectiveUrl.UserInfo)
            ? effectiveUrl
            : new UriBuilder(effectiveUrl) { UserName = string.Empty, Password = string.Empty }.Uri;
        (_queueTime, _firstByteTime, _totalTime) = op.GetTimes(); // the TimeInfo record is made only if asked for
        DecodedContentEncodings = op.DecodedContentEncodings ?? [];
        _body = body;
        _stream = stream;
        if (!IsSuccess)
        {
            Error = FetchException.ForStatus(this);
        }
    }

    internal static FetchResponse Buffered(FetchOperation op, HttpResponseMessage message, Uri effectiveUrl, byte[] body) =>
        new(op, message, effectiveUrl, body, null);

    internal static FetchResponse Streamed(FetchOperation op, HttpResponseMessage message, Uri effectiveUrl, ResponseBody stream) =>
        new(op, message, effectiveUrl, null, stream);

    /// <summary>The caller's own request (the first one, even after redirects).</summary>
    public FetchRequest Request { get; }

    /// <summary>The HTTP status code.</summary>
    public int Code { get; }

    /// <summary>The reason phrase from the status line; when the server sent none (an empty phrase, or HTTP/2), the
    /// standard phrase for <see cref="Code"/> (<c>OK</c>, <c>Not Found</c>, as .NET's <see cref="HttpResponseMessage.ReasonPhrase"/>
    /// reports it), or <c>Unknown</c> for a code with no standard phrase (e.g. 599), as Tornado's <c>HTTPResponse.reason</c>.</summary>
    public string Reason { get; }

    /// <summary>The HTTP version of the response.</summary>
    public Version Version { get; }

    /// <summary>Response headers, including content headers, in arrival order. The codings Tether undid are removed
    /// from Content-Encoding (and listed in <see cref="DecodedContentEncodings"/>); a coding it does not know stays,
    /// with every coding listed before it. Content-Length is removed when something was decoded (it counted the
    /// encoded bytes). Nothing changes when <see cref="FetchSettings.DecompressResponse"/> is off.</summary>
    public FetchHeaders Headers => Volatile.Read(ref _headers) ?? CopyHeaders();

    private FetchHeaders? _headers;

    // The handler's message, kept (disposed: it holds no connection) until the headers are copied out of it.
    private HttpResponseMessage? _headerSource;

    // Readers may race at the first read (a response read by several threads was always safe): one copy is published,
    // every reader gets that one, and the source is let go only after it is published.
    private FetchHeaders CopyHeaders()
    {
        if (Volatile.Read(ref _headerSource) is not { } message)
        {
            return Volatile.Read(ref _headers)!;
        }

        var headers = new FetchHeaders(message.Headers.NonValidated.Count + message.Content.Headers.NonValidated.Count);
        foreach (var (name, values) in message.Headers.NonValidated)
        {
            foreach (var value in values)
            {
                headers.Add(name, value);
            }
        }

        foreach (var (name, values) in message.Content.Headers.NonValidated)
        {
            foreach (var value in values)
            {
                headers.Add(name, value);
            }
        }

        var published = Interlocked.CompareExchange(ref _headers, headers, null) ?? headers;
        Volatile.Write(ref _headerSource, null);
        return published;
    }

    /// <summary>The content codings Tether undid, in the order the server listed (applied) them, e.g.
    /// <c>["deflate", "gzip"]</c> for <c>Content-Encoding: deflate, gzip</c>; empty when the body arrived as it is.
    /// Aliases are reported as sent (<c>x-gzip</c>).</summary>
    /// <remarks>RFC 9110 §8.4.1: codings are listed in the order applied and undone last-first. Tether knows gzip,
    /// x-gzip, deflate (zlib-wrapped or raw), br and identity, and stops at the first unknown one counted from the end.
    /// A plain <c>HttpClient</c> with <c>AutomaticDecompression</c> undoes only the last coding.</remarks>
    public IReadOnlyList<string> DecodedContentEncodings { get; }

    /// <summary>The final URL after redirects (credentials removed).</summary>
    public Uri EffectiveUrl { get; }

    /// <summary>Whether the code is 2xx.</summary>
    public bool IsSuccess => Code is >= 200 and < 300;

    /// <summary>For a non-2xx response returned because <see cref="FetchSettings.RaiseOnError"/> was off, the error
    /// that would have been thrown.</summary>
    public FetchException? Error { get; }

    /// <summary>The body bytes. Empty for a streamed response or when a streaming callback consumed them.</summary>
    public byte[] Body => _body ?? [];

    /// <summary>Whether the body is an open stream (<see cref="AsyncHttpClient.FetchStreamAsync(FetchRequest, CancellationToken)"/>).</summary>
    public bool IsStreamed => _stream is not null;

    /// <summary>The body as a stream: the live connection for a streamed response, else a stream over <see cref="Body"/>.</summary>
    public Stream BodyStream => _stream ?? (Stream)new MemoryStream(Body, writable: false);

    /// <summary>The body decoded as text, by the rules of <see cref="HttpContent.ReadAsStringAsync()"/>: with the
    /// charset named in Content-Type (quoted or not), skipping that encoding's byte order mark if the body starts with
    /// it; with no charset, by the body's byte order mark (UTF-8, UTF-32 LE, UTF-16 LE, UTF-16 BE or UTF-32 BE; the
    /// mark is not part of the text); otherwise as UTF-8. Invalid bytes become U+FFFD. Empty for a streamed response.</summary>
    /// <remarks>One addition to HttpContent's rules: it does not detect the UTF-32 BE mark (<c>00 00 FE FF</c>) and
    /// decodes such a body as UTF-8 (NULs and U+FFFD); those bytes are never valid UTF-8, so nothing that decodes
    /// correctly there decodes differently here. Decoded at the first read and kept; a read that throws keeps
    /// nothing, so the next read throws again. Legacy code pages (windows-1252, shift_jis…) are known to .NET only
    /// once <c>Encoding.RegisterProvider(CodePagesEncodingProvider.Instance)</c> has run in the process.</remarks>
    /// <exception cref="InvalidOperationException">Content-Type names a charset .NET cannot decode (unknown, or a
    /// legacy code page without <see cref="CodePagesEncodingProvider"/> registered). The message names the charset;
    /// the bytes are still in <see cref="Body"/>. Tether never guesses another encoding.</exception>
    public string Text => _text ??= DecodeText();

    /// <summary>Total time of the fetch, from the call, time queued for a <see cref="AsyncHttpClientOptions.MaxClients"/>
    /// slot included (same as <see cref="TimeInfo"/>.Total). Tornado's <c>request_time</c> leaves the queue out: it is
    /// this less <see cref="TimeInfo"/>.Queue.</summary>
    public TimeSpan RequestTime => _totalTime;

    /// <summary>Where the time went: queue, connect, TLS, first byte, total.</summary>
    public TimeInfo TimeInfo => _timeInfo ??= new TimeInfo(_queueTime, TimeSpan.Zero, TimeSpan.Zero, _firstByteTime, _totalTime);

    private readonly TimeSpan _queueTime;
    private readonly TimeSpan _firstByteTime;
    private readonly TimeSpan _totalTime;
    private TimeInfo? _timeInfo;

    /// <summary>Always null since the ownership redesign (CORE-03): the handler picks the connection for each request
    /// (and HTTP/2 carries several requests on one), and no exact, cheap signal tells Tether which one it picked. Count
    /// connections on the server, or look at <see cref="Diagnostics.SocketLedger"/>, instead.</summary>
    [Obsolete("Always null since the ownership redesign (issue 16, CORE-03): the handler picks the connection. Use SocketLedger or server-side counts.")]
    public long? ConnectionId => null;

    /// <summary>Always false, for the same reason as <see cref="ConnectionId"/>.</summary>
    [Obsolete("Always false since the ownership redesign (issue 16, CORE-03): the handler picks the connection. Use SocketLedger or server-side counts.")]
    public bool ConnectionReused => false;

    /// <summary>Returns this response when it is 2xx, else throws its <see cref="FetchException"/>.</summary>
    /// <returns>This response.</returns>
    /// <exception cref="FetchException">The code is not 2xx.</exception>
    public FetchResponse EnsureSuccess() => IsSuccess ? this : throw (Error ?? FetchException.ForStatus(this));

    /// <summary>Releases the connection of a streamed response; nothing for a buffered one. A body read to the end
    /// leaves its connection to the pool; an unfinished one closes its HTTP/1.1 connection (no background drain) or
    /// resets its HTTP/2 stream. Idempotent.</summary>
    public void Dispose() => _stream?.Dispose();

    /// <inheritdoc cref="Dispose"/>
    public ValueTask DisposeAsync() => _stream?.DisposeAsync() ?? ValueTask.CompletedTask;

    /// <inheritdoc />
    public override string ToString() => $"{Code} {Reason} ({Body.Length} bytes from {Redaction.Uri(EffectiveUrl)})";

    // UTF-32 BE has no cached instance on Encoding.
    private static readonly UTF32Encoding Utf32BigEndian = new(bigEndian: true, byteOrderMark: true);

    // HttpContent.ReadBufferAsString (dotnet/runtime), plus the UTF-32 BE mark, on the body array itself: no copy of
    // the body is made.
    private string DecodeText()
    {
        var body = Body;
        var charset = Headers.Get("Content-Type") is { } contentType
            && System.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media)
            ? media.CharSet
            : null;
        Encoding encoding;
        int bom;
        if (charset is not null)
        {
            // At most one pair of quotes is removed, as HttpContent does.
            var name = charset is ['"', _, _, ..] && charset[^1] == '"' ? charset[1..^1] : charset;
            try
            {
                encoding = Encoding.GetEncoding(name);
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                throw new InvalidOperationException(
                    $"The response's Content-Type names charset '{name}', which .NET cannot decode, so Text has no value " +
                    "(Tether does not guess another encoding). Read the bytes from Body and decode them yourself, or, for a " +
                    "legacy code page such as windows-1252, call Encoding.RegisterProvider(System.Text.CodePagesEncodingProvider.Instance) " +
                    "once at startup.",
                    e);
            }

            bom = StartsWith(body, encoding.Preamble) ? encoding.Preamble.Length : 0;
        }
        else
        {
            (encoding, bom) = body switch
            {
                [0xEF, 0xBB, 0xBF, ..] => (Encoding.UTF8, 3),
                [0xFF, 0xFE, 0x00, 0x00, ..] => (Encoding.UTF32, 4), // before UTF-16 LE, whose mark it starts with
                [0xFF, 0xFE, ..] => (Encoding.Unicode, 2),
                [0xFE, 0xFF, ..] => (Encoding.BigEndianUnicode, 2),
                [0x00, 0x00, 0xFE, 0xFF, ..] => (Utf32BigEndian, 4),
                _ => (Encoding.UTF8, 0),
            };
        }

        return encoding.GetString(body, bom, body.Length - bom);
    }

    private static bool StartsWith(byte[] body, ReadOnlySpan<byte> preamble) =>
        !preamble.IsEmpty && body.AsSpan().StartsWith(preamble);
}

/// <summary>Standard reason phrases for servers that send none.</summary>
internal static class ReasonPhrases
{
    /// <summary>The phrase .NET's <see cref="HttpResponseMessage"/> reports for <paramref name="code"/> ("Not Found",
    /// the same one an HTTP/2 response gets), or "Unknown" when it has none (599, 999), as Tornado's
    /// <c>httputil.responses.get(code, "Unknown")</c>. Not the enum name: <c>HttpStatusCode.NotFound</c> has no space,
    /// and undefined codes would print as numbers.</summary>
    public static string For(int code)
    {
        if (code is < 0 or > 999)
        {
            return "Unknown"; // HttpResponseMessage refuses these; the handler never reports one
        }

        using var standard = new HttpResponseMessage((HttpStatusCode)code);
        return standard.ReasonPhrase is { Length: > 0 } phrase ? phrase : "Unknown";
    }
}
