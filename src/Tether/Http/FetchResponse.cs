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
        Reason = message.ReasonPhrase ?? ReasonPhrases.For(Code);
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

    /// <summary>The reason phrase from the status line (or the standard one when the server sent none).</summary>
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

    /// <summary>The body decoded with the charset named in Content-Type, or UTF-8 when none is named.</summary>
    public string Text => _text ??= DecodeText();

    /// <summary>Total time of the fetch (same as <see cref="TimeInfo"/>.Total).</summary>
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

    private string DecodeText()
    {
        var charset = Headers.Get("Content-Type") is { } contentType
            && System.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media)
            ? media.CharSet?.Trim('"')
            : null;
        Encoding encoding;
        try
        {
            encoding = charset is null ? Encoding.UTF8 : Encoding.GetEncoding(charset);
        }
        catch (ArgumentException)
        {
            encoding = Encoding.UTF8;
        }

        return encoding.GetString(Body);
    }
}

/// <summary>Standard reason phrases for servers that send none.</summary>
internal static class ReasonPhrases
{
    public static string For(int code) => code switch
    {
        200 => "OK",
        _ => ((HttpStatusCode)code).ToString(),
    };
}
