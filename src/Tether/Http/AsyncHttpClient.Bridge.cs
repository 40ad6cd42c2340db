using System.Net;
using System.Net.Http.Headers;

namespace Tether;

public sealed partial class AsyncHttpClient
{
    /// <summary>
    /// The <see cref="TetherHttpMessageHandler"/> path: sends a caller-built <see cref="HttpRequestMessage"/> (any
    /// method, any content, as given: HttpClient validated it) straight to the pool's handler, through the same queue
    /// (MaxClients), per-hop pool lease (per-host and total slots), ledger attribution and close-on-owner-close as
    /// <see cref="FetchAsync(FetchRequest, CancellationToken)"/>, but with SocketsHttpHandler's semantics instead of
    /// Tornado's: redirects by dotnet/runtime's RedirectHandler rules (the last 3xx is returned, not an error),
    /// cookies through the handler's <see cref="CookieContainer"/>, optional automatic decompression, no digest and
    /// no raise-on-error. The response content is swapped for a stream that completes the operation (slot, lease and
    /// connection back) at end of body or on dispose; disposing early discards the connection.
    /// </summary>
    /// <remarks>The request is not converted or validated and no settings are resolved per request (the client's
    /// cached defaults are used): the bridge adds one FetchOperation (with an empty FetchRequest shell naming the URL
    /// for errors), one linked token source and one wrapped response content per request; redirects, cookies and
    /// decoding cost only when they happen or are enabled.</remarks>
    internal async Task<HttpResponseMessage> SendThroughPoolAsync(HttpRequestMessage request, TetherHttpMessageHandler handler,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var target = request.RequestUri;
        if (target is null || !target.IsAbsoluteUri || (target.Scheme != Uri.UriSchemeHttp && target.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException(
                $"RequestUri = '{target}': the Tether handler needs an absolute http or https URL; set HttpClient.BaseAddress " +
                "or pass an absolute URI.", nameof(request));
        }

        var loop = EventLoop.Current;
        EnsureUsable(loop);
        if (_pool!.IsClosed)
        {
            throw new ObjectDisposedException(_pool.Name, $"{_pool.Name} is closed: the handler {Name} cannot send; create a new pool.");
        }

        var settings = _settingsCache.Get(Options.Defaults);
        var op = new FetchOperation(this, loop, new FetchRequest(target) { Method = request.Method.Method }, settings)
        {
            CurrentMethod = request.Method.Method,
            Target = target,
            // Where the caller asked (the first frame outside Tether and the framework: the HttpClient caller), for the
            // warning if the response is dropped undisposed (DIAG-09 through the bridge). A stack walk costs ~25 us
            // (measured on the test machine), a quarter of a loopback request, so it is taken only once a response of
            // this handler has been dropped: the first warning names where the handler was created, the later ones the
            // calling method (ResponseLeakSentinel). Never when leak warnings are off.
            AllocationSite = NamesBridgeCallers && Diagnostics.TetherDiagnostics.Policy != Diagnostics.LeakPolicy.Off
                ? Diagnostics.CallSite.Capture()
                : null,
        };
        Register(op);
        var cookies = handler.Cookies;
        var decompression = handler.AutomaticDecompression;
        AddAcceptEncoding(request, decompression);

        // The user's own Cookie header (sent first, before the container's cookies, as SocketsHttpHandler does). The
        // container's cookies are in the request only while a hop is sent: SocketsHttpHandler writes them on the wire and
        // never into the caller's message, and a delegating handler that sends the message again would otherwise send
        // each of them twice (review 2026-12-02).
        string? userCookie = null;
        string[]? userCookieValues = null;
        if (cookies is not null && request.Headers.NonValidated.TryGetValues("Cookie", out var userCookies))
        {
            userCookieValues = [.. userCookies];
            userCookie = string.Join("; ", userCookieValues);
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, op.AbortToken);
        var token = linked.Token;
        op.FetchToken = token;
        HttpResponseMessage? message = null;

        // The caller's content is sent through a watch on its writes, so a connection that breaks under them is
        // RequestWrite here too, as in FetchAsync (tour 2026-12-01: a failed upload through the bridge was Other). The
        // caller's message gets its own content back afterwards (unless a redirect removed it, as HttpClient's does).
        var callerContent = request.Content;
        WriteWatchedContent? watchedContent = null;
        if (callerContent is not null)
        {
            watchedContent = new WriteWatchedContent(callerContent);
            foreach (var (name, values) in callerContent.Headers.NonValidated)
            {
                watchedContent.Headers.TryAddWithoutValidation(name, values);
            }

            request.Content = watchedContent;
        }

        try
        {
            if (!await _slots!.WaitAsync(settings.QueueTimeout, token).ConfigureAwait(false))
            {
                throw FetchErrors.QueueTimeout(op, settings.QueueTimeout, _slots);
            }

            op.MarkDequeued(holdsSlot: true);
            var redirects = 0;
            while (true)
            {
                var uri = request.RequestUri!;
                op.CurrentUrl = uri.OriginalString;
                op.CurrentMethod = request.Method.Method;
                await _pool.AcquireAsync(Redaction.HostKey(uri), op, token).ConfigureAwait(false);
                if (cookies is not null)
                {
                    SetCookieHeader(request, userCookie, cookies.GetCookieHeader(uri));
                }

                try
                {
                    message = await _pool.SendAsync(request, op, token).ConfigureAwait(false);
                }
                finally
                {
                    if (cookies is not null)
                    {
                        RestoreCookieHeader(request, userCookie is null ? null : userCookieValues);
                    }
                }
                op.OnResponse(message);

                if (ProtocolChecks.ForbidsReuse(message))
                {
                    op.DiscardOnComplete = true;
                }

                if (cookies is not null)
                {
                    StoreCookies(cookies, uri, message);
                }

                if (!handler.AllowAutoRedirect || RedirectTarget(uri, message) is not { } next)
                {
                    break;
                }

                if (++redirects > handler.MaxAutomaticRedirections)
                {
                    // As SocketsHttpHandler: over the limit, the last 3xx is the response (no exception).
                    break;
                }

                var code = (int)message.StatusCode;
                await DiscardHopAsync(message, op, token).ConfigureAwait(false);
                message = null;

                // Authorization never follows a redirect (as dotnet/runtime's RedirectHandler). HTTP-03, beyond
                // SocketsHttpHandler: a Cookie or Proxy-Authorization header the caller set does not cross origins.
                request.Headers.Authorization = null;
                if (!SameOrigin(uri, next))
                {
                    request.Headers.ProxyAuthorization = null;
                    request.Headers.Remove("Cookie");
                    userCookie = null;
                }

                request.RequestUri = next;
                if (RedirectForcesGet(code, request.Method))
                {
                    // RFC 9110 §15.4: the method becomes GET; the content and with it every Content-* header go.
                    request.Method = HttpMethod.Get;
                    request.Content = null;
                    if (request.Headers.TransferEncodingChunked == true)
                    {
                        request.Headers.TransferEncodingChunked = false;
                    }
                }
            }

            var original = message.Content;
            var body = await original.ReadAsStreamAsync(token).ConfigureAwait(false);

            // DIAG-09 through the bridge (newcomer review 2026-12-01): nothing rooted may reach the caller's response,
            // or one the caller drops is never collected and its connection or stream stays open and in the ledger for
            // ever. The fetch, which the client lists in flight, keeps the handler's side (what closes the connection
            // or resets the stream) and the caller's message only weakly. An HTTP/2 stream keeps the message the
            // handler made, so over HTTP/2 the caller gets a message of its own (trailers copied at the end of the
            // body); an HTTP/1.1 connection keeps none, so its message is handed over as it is (no copy).
            var caller = message.Version.Major >= 2 ? CallerCopy(message) : message;
            var bridged = new BridgeBodyStream(body, original, op, ReferenceEquals(caller, message) ? null : (message, caller),
                http11: message.Version.Major < 2);
            var content = new StreamContent(bridged);
            foreach (var (name, values) in original.Headers.NonValidated)
            {
                content.Headers.TryAddWithoutValidation(name, values);
            }

            caller.Content = Decompress(content, decompression, op);
            op.ReplaceResponse(new BridgedResponse(caller, ReferenceEquals(caller, message) ? original : message));
            bridged.TrackLeaks();
            return caller;
        }
        catch (Exception ex)
        {
            op.Complete(discardConnection: true);
            message?.Dispose();
            if (ex is FetchException { Kind: FetchErrorKind.ClientClosed or FetchErrorKind.LoopClosed or FetchErrorKind.PoolClosed }
                || op.AbortKind is FetchErrorKind.ClientClosed or FetchErrorKind.LoopClosed or FetchErrorKind.PoolClosed
                || ((IsClosed || _pool.IsClosed) && !cancellationToken.IsCancellationRequested))
            {
                // A closed handler, client or pool is not a transient network failure: HttpClient over a disposed
                // SocketsHttpHandler throws ObjectDisposedException, which resilience pipelines do not retry.
                var reason = op.AbortMessage ?? (_pool.IsClosed ? $"{_pool.Name} is closed" : $"{Name} is closed");
                throw new ObjectDisposedException($"{reason}: the request {op.Describe()} was not completed.", ex);
            }

            var mapped = FetchErrors.Map(ex, op, cancellationToken, requestTimedOut: false, bodyTimedOut: false);
            if (mapped is FetchException fetch)
            {
                // HttpClient callers and resilience pipelines expect HttpRequestException for transport failures; the
                // Tether diagnosis (kind, limits, holders) rides along as the inner exception.
                var error = ToHttpRequestError(fetch.Kind, ex is HttpRequestException http ? http.HttpRequestError : HttpRequestError.Unknown);
                throw new HttpRequestException(error, fetch.Message, fetch);
            }

            if (mapped is OperationCanceledException && ex is OperationCanceledException cancelled)
            {
                // As SocketsHttpHandler: a cancellation is a TaskCanceledException for the token the handler was given,
                // with the cause the handler saw (IOException, ...) inside. HttpClient passes it on as it is when neither
                // the caller's token nor its Timeout caused it (CancelPendingRequests, a DelegatingHandler's own token),
                // so anything else would reach the caller as another type or another inner exception than with a plain
                // HttpClient (review 2026-12-02).
                throw new TaskCanceledException(cancelled.Message, cancelled.InnerException, cancellationToken);
            }

            if (ReferenceEquals(mapped, ex))
            {
                throw;
            }

            throw mapped;
        }
        finally
        {
            if (watchedContent is not null && ReferenceEquals(request.Content, watchedContent))
            {
                request.Content = callerContent;
            }
        }
    }

    /// <summary>Where a response redirects to, or null when it is not followed: dotnet/runtime RedirectHandler's
    /// rules (300, 301, 302, 303, 307, 308 with a Location; relative resolved against the request; the request's
    /// fragment kept when the Location has none; https to http refused so the 3xx is returned), plus: a Location
    /// with a scheme other than http or https is not followed either.</summary>
    private static Uri? RedirectTarget(Uri current, HttpResponseMessage message)
    {
        if ((int)message.StatusCode is not (300 or 301 or 302 or 303 or 307 or 308) || message.Headers.Location is not { } location)
        {
            return null;
        }

        var next = location.IsAbsoluteUri ? location : new Uri(current, location);
        if (next.Scheme != Uri.UriSchemeHttp && next.Scheme != Uri.UriSchemeHttps)
        {
            return null;
        }

        if (current.Scheme == Uri.UriSchemeHttps && next.Scheme == Uri.UriSchemeHttp)
        {
            return null;
        }

        if (current.Fragment.Length > 0 && next.Fragment.Length == 0)
        {
            next = new UriBuilder(next) { Fragment = current.Fragment[1..] }.Uri;
        }

        return next;
    }

    /// <summary>dotnet/runtime's RequestRequiresForceGet (RFC 9110 §15.4.2-4): 300/301/302 change POST, and only POST,
    /// to GET; 303 changes every method but GET and HEAD; 307 and 308 never change it.</summary>
    private static bool RedirectForcesGet(int code, HttpMethod method) => code switch
    {
        300 or 301 or 302 => method == HttpMethod.Post,
        303 => method != HttpMethod.Get && method != HttpMethod.Head,
        _ => false,
    };

    private static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    /// <summary>The request's Cookie header for one hop: the caller's own value first, then the container's cookies
    /// for this URL, in one header (as SocketsHttpHandler writes it).</summary>
    private static void SetCookieHeader(HttpRequestMessage request, string? userCookie, string fromContainer)
    {
        if (fromContainer.Length == 0)
        {
            if (userCookie is null)
            {
                request.Headers.Remove("Cookie");
            }

            return;
        }

        request.Headers.Remove("Cookie");
        request.Headers.TryAddWithoutValidation("Cookie", userCookie is null ? fromContainer : userCookie + "; " + fromContainer);
    }

    /// <summary>Puts the caller's own Cookie header back (none when it had none, or when a redirect to another origin
    /// dropped it) once a hop's request is sent: the container's cookies never stay in the caller's message.</summary>
    private static void RestoreCookieHeader(HttpRequestMessage request, string[]? userCookieValues)
    {
        request.Headers.Remove("Cookie");
        if (userCookieValues is not null)
        {
            request.Headers.TryAddWithoutValidation("Cookie", userCookieValues);
        }
    }

    /// <summary>Stores every Set-Cookie of a response (redirects included) for the URL that answered; a malformed or
    /// refused cookie is ignored, as SocketsHttpHandler does.</summary>
    private static void StoreCookies(CookieContainer cookies, Uri uri, HttpResponseMessage message)
    {
        if (!message.Headers.NonValidated.TryGetValues("Set-Cookie", out var values))
        {
            return;
        }

        foreach (var value in values)
        {
            try
            {
                cookies.SetCookies(uri, value);
            }
            catch (CookieException)
            {
                // Ignored, like SocketsHttpHandler's CookieHelper.
            }
        }
    }

    private static readonly StringWithQualityHeaderValue s_gzip = new("gzip");
    private static readonly StringWithQualityHeaderValue s_deflate = new("deflate");
    private static readonly StringWithQualityHeaderValue s_brotli = new("br");

    /// <summary>Adds each enabled coding to Accept-Encoding unless the request already names it.</summary>
    private static void AddAcceptEncoding(HttpRequestMessage request, DecompressionMethods methods)
    {
        if (methods == DecompressionMethods.None)
        {
            return;
        }

        var accept = request.Headers.AcceptEncoding;
        if ((methods & DecompressionMethods.GZip) != 0 && !accept.Contains(s_gzip))
        {
            accept.Add(s_gzip);
        }

        if ((methods & DecompressionMethods.Deflate) != 0 && !accept.Contains(s_deflate))
        {
            accept.Add(s_deflate);
        }

        if ((methods & DecompressionMethods.Brotli) != 0 && !accept.Contains(s_brotli))
        {
            accept.Add(s_brotli);
        }
    }

    /// <summary>Wraps <paramref name="content"/> in a decoder when its last Content-Encoding is an enabled coding.</summary>
    private static HttpContent Decompress(HttpContent content, DecompressionMethods methods, FetchOperation op)
    {
        if (methods == DecompressionMethods.None || content.Headers.ContentEncoding.Count == 0)
        {
            return content;
        }

        var last = content.Headers.ContentEncoding.Last();
        var coding = last.ToLowerInvariant() switch
        {
            "gzip" when (methods & DecompressionMethods.GZip) != 0 => DecompressionMethods.GZip,
            "deflate" when (methods & DecompressionMethods.Deflate) != 0 => DecompressionMethods.Deflate,
            "br" when (methods & DecompressionMethods.Brotli) != 0 => DecompressionMethods.Brotli,
            _ => DecompressionMethods.None,
        };
        return coding == DecompressionMethods.None ? content : new DecodedContent(content, coding, op);
    }

    /// <summary>Reads and drops a redirect's body (at most 64 KiB and 2 s, with the request's token) so its connection can be
    /// reused; for a longer one the handler's own response disposal decides (it drains up to its MaxResponseDrainSize
    /// or closes that connection). Then releases the hop.</summary>
    private static async Task DiscardHopAsync(HttpResponseMessage message, FetchOperation op, CancellationToken token)
    {
        using var drain = Clock.NewLinkedSource(token, op.Client.Time);
        drain.CancelAfter(BodyDrain.Timeout);
        try
        {
            var stream = await message.Content.ReadAsStreamAsync(drain.Token).ConfigureAwait(false);
            await BodyDrain.ReadToEndAsync(stream, BodyDrain.Limit, drain.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException
            || (ex is OperationCanceledException && !token.IsCancellationRequested))
        {
            // A broken or stalled 3xx body: its connection is given up (the handler closes a cancelled read's
            // connection); the next hop opens or rents another.
        }
        finally
        {
            message.Dispose();
            op.ReleaseHop();
        }
    }

    /// <summary>A response body decoded from gzip, deflate (zlib-wrapped or raw, told apart by the first two bytes) or
    /// brotli; its headers are the original's without Content-Length and without the decoded (last) coding. The decoder
    /// is <see cref="FetchAsync(FetchRequest, CancellationToken)"/>'s (<see cref="ContentDecoding.DecodeLayer"/>), so a
    /// coded stream cut short fails here too (see <see cref="DecodedStream"/>); corrupt data throws what the decoder
    /// throws, as with a plain HttpClient.</summary>
    private sealed class DecodedContent : HttpContent
    {
        private readonly HttpContent _original;
        private readonly DecompressionMethods _coding;
        private readonly FetchOperation _op;

        public DecodedContent(HttpContent original, DecompressionMethods coding, FetchOperation op)
        {
            _original = original;
            _coding = coding;
            _op = op;
            foreach (var (name, values) in original.Headers.NonValidated)
            {
                if (!name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
                    && !name.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase))
                {
                    Headers.TryAddWithoutValidation(name, values);
                }
            }

            var codings = original.Headers.ContentEncoding.ToList();
            for (var i = 0; i < codings.Count - 1; i++)
            {
                Headers.ContentEncoding.Add(codings[i]);
            }

            // Unknown, and stays unknown once the body is buffered (HttpContent would otherwise report the buffer's
            // length): what a plain HttpClient's decompressed content reports.
            Headers.ContentLength = null;
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            var decoded = await CreateContentReadStreamAsync(cancellationToken).ConfigureAwait(false);
            await using var _ = decoded.ConfigureAwait(false);
            await decoded.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
        {
            var raw = await _original.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var (kind, flag) = _coding switch
            {
                DecompressionMethods.GZip => ("gzip", "GZip"),
                DecompressionMethods.Brotli => ("br", "Brotli"),
                _ => ("deflate", "Deflate"),
            };
            return new DecodedStream(ContentDecoding.DecodeLayer(raw, kind, uniformErrors: false), raw, _op, flag);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _original.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>The decoder's output; at the decoder's end it reads the raw body to its end (a few bytes at most: a
    /// well-formed encoded body ends where the framing does), so the bridged body sees EOF and its connection goes
    /// back to the pool instead of being discarded (BrotliStream and ZLibStream stop at their own end marker).
    /// A coded stream cut short (<see cref="TruncatedCodingException"/>: its framing ended, the coding's end marker did
    /// not come) is what a plain HttpClient throws for a body that ends before its Content-Length: an
    /// <see cref="HttpIOException"/> with <see cref="HttpRequestError.ResponseEnded"/>, which HttpContent wraps in an
    /// <see cref="HttpRequestException"/> ("Error while copying content to a stream.", ResponseEnded) for a buffered
    /// read, as it does the handler's; the Tether diagnosis (a 599 <see cref="FetchException"/> of kind
    /// <see cref="FetchErrorKind.TruncatedBody"/>) is its inner exception (with the decoder's own error inside, if it
    /// choked on the end; not the <see cref="TruncatedCodingException"/>, whose advice is FetchAsync's). Synchronous
    /// reads wait for the async one.</summary>
    private sealed class DecodedStream(Stream decoder, Stream raw, FetchOperation op, string flag) : ReadOnlyStream
    {
        private const int TrailingLimit = 16 * 1024;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n;
            try
            {
                n = await decoder.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (TruncatedCodingException cut)
            {
                throw Truncated(cut);
            }

            if (n == 0 && buffer.Length > 0)
            {
                var scratch = new byte[256];
                var total = 0;
                int m;
                while (total < TrailingLimit && (m = await raw.ReadAsync(scratch, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    total += m;
                }
            }

            return n;
        }

        private HttpIOException Truncated(TruncatedCodingException cut)
        {
            var text = TruncatedCodingException.Describe(cut.Coding, cut.Compressed, cut.Decoded, "request",
                $"AutomaticDecompression without DecompressionMethods.{flag}");
            var diagnosis = new FetchException(FetchException.NoResponse, FetchErrorKind.TruncatedBody,
                $"Truncated body from {Redaction.Url(op.CurrentUrl)}: {text}", op.Request, inner: cut.InnerException);
            return new HttpIOException(HttpRequestError.ResponseEnded, "The response ended prematurely: " + text, diagnosis);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                decoder.Dispose();
                raw.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>What aborting or discarding a bridged fetch disposes once its response is the caller's: the caller's
    /// message if it is still alive (its body then fails the caller's reads, as before the hand-off), then the handler's
    /// content, which closes the HTTP/1.1 connection or resets the HTTP/2 stream of an unfinished body (the pool's
    /// handlers do not drain). The caller's message is held weakly so that a dropped response can be collected.</summary>
    private sealed class BridgedResponse(HttpResponseMessage caller, IDisposable handlerSide) : IDisposable
    {
        private readonly WeakReference<HttpResponseMessage> _caller = new(caller);

        public void Dispose()
        {
            if (_caller.TryGetTarget(out var message))
            {
                message.Dispose();
            }

            handlerSide.Dispose();
        }
    }

    /// <summary>The caller's own message for an HTTP/2 response: status, version, reason, request and headers of the
    /// handler's (content and its headers are set by the caller of this method; trailers at the end of the body).</summary>
    private static HttpResponseMessage CallerCopy(HttpResponseMessage message)
    {
        var copy = new HttpResponseMessage(message.StatusCode)
        {
            Version = message.Version,
            ReasonPhrase = message.ReasonPhrase,
            RequestMessage = message.RequestMessage,
        };
        foreach (var (name, values) in message.Headers.NonValidated)
        {
            copy.Headers.TryAddWithoutValidation(name, values);
        }

        return copy;
    }

    /// <summary>The bridged response body: completes its <see cref="FetchOperation"/> at end of body (connection kept)
    /// or on dispose before the end (connection discarded, unless a small known remainder of an HTTP/1.x body is
    /// drained in the background first, see <see cref="TryDrain"/>). Dropped undisposed, its leak sentinel completes
    /// the fetch with the connection discarded and warns with the site that sent the request (DIAG-09).</summary>
    private sealed class BridgeBodyStream(Stream inner, HttpContent original, FetchOperation op,
        (HttpResponseMessage Handler, HttpResponseMessage Caller)? trailers, bool http11) : ReadOnlyStream
    {
        private int _done;
        private int _draining;
        private long _read;
        private ResponseLeakSentinel? _sentinel;

        /// <summary>The response is the caller's now: warn and close its connection if it is collected unfinished.</summary>
        public void TrackLeaks() => _sentinel = new ResponseLeakSentinel(op, nameof(HttpResponseMessage));

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            ThrowIfDraining();
            int n;
            try
            {
                n = inner.Read(buffer);
            }
            catch
            {
                Finish(discard: true);
                throw;
            }

            _read += n;
            if (n == 0 && buffer.Length > 0)
            {
                Finish(discard: false);
            }

            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ThrowIfDraining();
            int n;
            var bodyTimeout = op.Settings.BodyTimeout;
            CancellationTokenSource? perRead = null;
            try
            {
                if (bodyTimeout == Timeout.InfiniteTimeSpan)
                {
                    n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    // The client's BodyTimeout bounds each read of a bridged body too (HTTP-05/HTTP-06 through the
                    // bridge): a body that stalls fails the read instead of holding the connection and the slots.
                    perRead = Clock.NewLinkedSource(cancellationToken, op.Client.Time);
                    perRead.CancelAfter(bodyTimeout);
                    n = await inner.ReadAsync(buffer, perRead.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException ex) when (perRead is { IsCancellationRequested: true } && !cancellationToken.IsCancellationRequested)
            {
                Finish(discard: true);
                var message = $"Body timeout: no byte of the response body from {Redaction.Url(op.CurrentUrl)} within " +
                    $"BodyTimeout = {bodyTimeout}; the connection was closed.";
                throw new HttpIOException(HttpRequestError.Unknown, message,
                    new FetchException(FetchException.NoResponse, FetchErrorKind.BodyTimeout, message, op.Request,
                        inner: new TimeoutException(message, ex)));
            }
            catch
            {
                Finish(discard: true);
                throw;
            }
            finally
            {
                perRead?.Dispose();
            }

            _read += n;
            if (n == 0 && buffer.Length > 0)
            {
                Finish(discard: false);
            }

            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !TryDrain())
            {
                Finish(discard: true);
            }

            base.Dispose(disposing);
        }

        private void ThrowIfDraining()
        {
            if (Volatile.Read(ref _draining) != 0)
            {
                throw new ObjectDisposedException(nameof(HttpResponseMessage), "The response was disposed; its body can no longer be read.");
            }
        }

        /// <summary>
        /// As SocketsHttpHandler drains a response disposed before the end of its body (in the background, up to its
        /// MaxResponseDrainSize, 1 MiB, within its ResponseDrainTimeout, 2 s) so that the connection is reused, a small
        /// known remainder of an HTTP/1.x body (Content-Length, not decoded; at most 64 KiB, the limit of Tether's other
        /// drains) is read and dropped in the background within 2 s, stopped by an abort of the fetch; the fetch and its
        /// slots end when the drain does. Anything else (a larger or unknown remainder, a decoded body, HTTP/2, where the
        /// handler resets only that stream) closes the connection at once, as before (review 2026-12-02: five 64 KiB
        /// responses read for 100 bytes and disposed took five connections through the bridge, one through a plain
        /// HttpClient). Returns whether the drain owns the end of the fetch.
        /// </summary>
        private bool TryDrain()
        {
            if (Volatile.Read(ref _draining) != 0)
            {
                return true; // disposed again while draining: the drain ends the fetch
            }

            if (!http11 || Volatile.Read(ref _done) != 0 || op.AbortKind is not null || op.IsCompleted
                || original.Headers.ContentLength is not { } length || length - _read is < 0 or > BodyDrain.Limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _draining, 1, 0) != 0)
            {
                return true; // a concurrent dispose started it
            }

            _sentinel?.Disarm(); // disposed by its owner: no leak to report
            _ = DrainAsync(length - _read);
            return true;
        }

        private async Task DrainAsync(long remaining)
        {
            var reachedEnd = false;
            try
            {
                using var timeout = Clock.NewLinkedSource(op.AbortToken, op.Client.Time);
                timeout.CancelAfter(BodyDrain.Timeout);
                // More than the Content-Length announced stops the drain: the handler fails such a body anyway.
                var (drained, ended) = await BodyDrain.ReadToEndAsync(inner, remaining, timeout.Token).ConfigureAwait(false);
                reachedEnd = ended && drained == remaining;
            }
            catch (Exception)
            {
                // Best effort, and nobody awaits it: a drain that fails (reset, stall past 2 s, abort, close) closes the
                // connection below, which is what the dispose would have done without it.
            }

            Finish(discard: !reachedEnd);
        }

        private void Finish(bool discard)
        {
            if (Interlocked.Exchange(ref _done, 1) != 0)
            {
                return;
            }

            _sentinel?.Disarm();
            if (discard)
            {
                // Abort first: disposing the handler's content on a half-read body would otherwise try to drain it.
                op.Complete(discardConnection: true);
                inner.Dispose();
                original.Dispose();
            }
            else
            {
                if (trailers is var (handler, caller))
                {
                    // The handler put the trailers (HTTP/2 trailing HEADERS) on its own message before the end of body.
                    foreach (var (name, values) in handler.TrailingHeaders.NonValidated)
                    {
                        caller.TrailingHeaders.TryAddWithoutValidation(name, values);
                    }
                }

                inner.Dispose();
                original.Dispose();
                op.Complete();
            }
        }
    }

    /// <summary>The <see cref="HttpRequestError"/> a plain HttpClient caller (or a resilience pipeline) would expect for
    /// Tether's diagnosis, so that the handler's internal retry attempts do not hide the original failure.</summary>
    private static HttpRequestError ToHttpRequestError(FetchErrorKind kind, HttpRequestError fallback) => kind switch
    {
        FetchErrorKind.ConnectionClosed or FetchErrorKind.TruncatedBody => HttpRequestError.ResponseEnded,
        FetchErrorKind.ConnectionRefused or FetchErrorKind.ConnectionReset or FetchErrorKind.ConnectTimeout => HttpRequestError.ConnectionError,
        FetchErrorKind.Tls => HttpRequestError.SecureConnectionError,
        FetchErrorKind.Protocol => HttpRequestError.InvalidResponse,
        FetchErrorKind.NameResolution => HttpRequestError.NameResolutionError,
        FetchErrorKind.HeadersTooLarge => HttpRequestError.ConfigurationLimitExceeded,
        // The handler's own error when it has one: a proxy that refuses the connection is ConnectionError for a plain
        // HttpClient (HTTP-11), a failed tunnel ProxyTunnelError.
        FetchErrorKind.Proxy => fallback != HttpRequestError.Unknown ? fallback : HttpRequestError.ProxyTunnelError,
        _ => fallback,
    };
}
