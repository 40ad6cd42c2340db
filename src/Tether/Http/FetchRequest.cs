namespace Tether;

/// <summary>One HTTP request: URL, method, headers, body, and any <see cref="FetchSettings"/> that differ from the
/// client's defaults.</summary>
/// <remarks>
/// <example>
/// <code>
/// var request = new FetchRequest("http://127.0.0.1:8080/echo")
/// {
///     Method = "POST",
///     Body = "hello",
///     Headers = { { "X-Trace", "1" } },
///     RequestTimeout = TimeSpan.FromSeconds(5),
/// };
/// FetchResponse response = await client.FetchAsync(request);
/// </code>
/// </example>
/// A request may be fetched again (for example from <see cref="FetchResponse.Request"/>); a fetch never modifies it.
/// </remarks>
public sealed class FetchRequest : FetchSettings
{
    /// <summary>Creates a GET request for <paramref name="url"/>.</summary>
    /// <param name="url">An absolute http or https URL; validated when fetched.</param>
    public FetchRequest(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        Url = url;
    }

    /// <summary>Creates a GET request for <paramref name="url"/>.</summary>
    /// <param name="url">An absolute http or https URL.</param>
    public FetchRequest(Uri url)
        : this((url ?? throw new ArgumentNullException(nameof(url))).OriginalString)
    {
    }

    /// <summary>The absolute http or https URL. <c>user:pass@</c> in it becomes Basic auth.</summary>
    public string Url { get; set; }

    /// <summary>The method, e.g. GET or POST.</summary>
    /// <value>Default GET.</value>
    public string Method { get; set; } = "GET";

    private FetchHeaders? _headers;

    /// <summary>Request headers (multi-valued). Created when first read, so a request without headers of its own
    /// allocates none.</summary>
    /// <exception cref="ArgumentNullException">Set to null (use an empty <see cref="FetchHeaders"/>).</exception>
    public FetchHeaders Headers
    {
        get => _headers ??= new FetchHeaders();
        set => _headers = value ?? throw new ArgumentNullException(nameof(value), "Headers cannot be null; assign an empty FetchHeaders instead.");
    }

    /// <summary>The headers, or a shared empty collection when none were ever asked for. Read-only use: a fetch that
    /// must change them (a redirect) clones first.</summary>
    internal FetchHeaders HeadersOrEmpty => _headers ?? FetchHeaders.Empty;

    /// <summary>The request body, if any. Mutually exclusive with <see cref="BodyProducer"/>.</summary>
    public FetchBody? Body { get; set; }

    /// <summary>Writes the body as it is produced (streaming upload with backpressure: each write waits for the
    /// socket). Sent chunked unless a Content-Length header is set.</summary>
    public Func<Stream, CancellationToken, Task>? BodyProducer { get; set; }

    /// <summary>Receives each body chunk as it arrives; the response's <see cref="FetchResponse.Body"/> is then empty.
    /// The chunk's memory is the callback's: Tether never writes to it again, so it may be kept (as Tornado's
    /// <c>streaming_callback=chunks.append</c>). An exception thrown here fails the fetch (as inner exception) and
    /// discards the connection.</summary>
    public Action<ReadOnlyMemory<byte>>? StreamingCallback { get; set; }

    /// <summary>Like <see cref="StreamingCallback"/>, but asynchronous: each returned task is awaited before the next
    /// read, so a slow consumer slows the download instead of buffering it. Used when set (before
    /// <see cref="StreamingCallback"/>); an exception fails the fetch (as inner exception) and discards the connection.</summary>
    public Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask>? StreamingCallbackAsync { get; set; }

    /// <summary>Receives the final response's status line, then each header line (without CRLF), then an empty string
    /// marking the end of the headers, all before the first body chunk. Redirect and digest-challenge hops are not
    /// reported.</summary>
    public Action<string>? HeaderCallback { get; set; }

    /// <summary>Receives the head of each redirect response that is followed, in the same lines as
    /// <see cref="HeaderCallback"/> (status line, header lines, an empty string), before the next hop is sent. For the
    /// CLI's <c>-i -L</c>, which prints every hop's head as curl does; not public (Tornado has no such callback).</summary>
    internal Action<string>? RedirectHeaderCallback { get; set; }

    /// <inheritdoc />
    public override string ToString() => $"{Method} {Redaction.Url(Url)}";
}
