using System.Net;
using System.Net.Http.Headers;

namespace Tether;

public sealed partial class AsyncHttpClient
{
    /// <summary>Fetches <paramref name="url"/> with GET and buffers the body.</summary>
    /// <param name="url">An absolute http or https URL.</param>
    /// <param name="cancellationToken">Cancels the fetch; throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The response.</returns>
    /// <exception cref="FetchException">A non-2xx status (unless <see cref="FetchSettings.RaiseOnError"/> is off), or
    /// code 599 when no response arrived; <see cref="FetchException.Kind"/> says why.</exception>
    /// <exception cref="ArgumentException">The URL or request is invalid (nothing was sent).</exception>
    /// <exception cref="ClientClosedException">The client is closed.</exception>
    /// <exception cref="LoopMisuseException">The client belongs to another loop, or its loop has ended.</exception>
    public Task<FetchResponse> FetchAsync(string url, CancellationToken cancellationToken = default) =>
        FetchAsync(new FetchRequest(url), cancellationToken);

    /// <summary>Fetches <paramref name="request"/> and buffers the body (or hands it to
    /// <see cref="FetchRequest.StreamingCallback"/>).</summary>
    /// <param name="request">The request; never modified.</param>
    /// <param name="cancellationToken">Cancels the fetch; throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The response.</returns>
    /// <exception cref="FetchException">A non-2xx status (unless <see cref="FetchSettings.RaiseOnError"/> is off), or
    /// code 599 when no response arrived; <see cref="FetchException.Kind"/> says why.</exception>
    /// <exception cref="ArgumentException">The URL or request is invalid (nothing was sent).</exception>
    /// <exception cref="ClientClosedException">The client is closed.</exception>
    /// <exception cref="LoopMisuseException">The client belongs to another loop, or its loop has ended.</exception>
    public Task<FetchResponse> FetchAsync(FetchRequest request, CancellationToken cancellationToken = default) =>
        Start(request, streamed: false, cancellationToken);

    /// <summary>Fetches <paramref name="url"/> and returns once the headers arrive; the body is an open
    /// <see cref="FetchResponse.BodyStream"/> that the caller must read to the end or dispose.</summary>
    /// <param name="url">An absolute http or https URL.</param>
    /// <param name="cancellationToken">Cancels the fetch until the headers arrive.</param>
    /// <returns>The response, holding its connection until disposed.</returns>
    /// <exception cref="FetchException">See <see cref="FetchAsync(FetchRequest, CancellationToken)"/>.</exception>
    public Task<FetchResponse> FetchStreamAsync(string url, CancellationToken cancellationToken = default) =>
        FetchStreamAsync(new FetchRequest(url), cancellationToken);

    /// <summary>Fetches <paramref name="request"/> and returns once the headers arrive; the body is an open
    /// <see cref="FetchResponse.BodyStream"/> that the caller must read to the end or dispose. Until then the response
    /// holds a <c>MaxClients</c> slot and its connection; closing the client or its loop closes that connection.</summary>
    /// <param name="request">The request; never modified.</param>
    /// <param name="cancellationToken">Cancels the fetch until the headers arrive.</param>
    /// <returns>The response.</returns>
    /// <exception cref="FetchException">See <see cref="FetchAsync(FetchRequest, CancellationToken)"/>.</exception>
    public Task<FetchResponse> FetchStreamAsync(FetchRequest request, CancellationToken cancellationToken = default) =>
        Start(request, streamed: true, cancellationToken);

    private readonly ResolvedSettingsCache _settingsCache = new();

    private Task<FetchResponse> Start(FetchRequest request, bool streamed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var loop = EventLoop.Current;
        EnsureUsable(loop);
        var settings = RequestBuilder.Resolve(request, Options.Defaults, _settingsCache, out var target, cacheUrl: true);
        var operation = new FetchOperation(this, loop, request, settings) { Target = target };
        if (streamed)
        {
            operation.AllocationSite = Diagnostics.CallSite.Capture();
        }

        Register(operation);
        var task = RunAsync(operation, streamed, cancellationToken);
        operation.Task = task;
        if (operation.AbortKind is not null)
        {
            // Closed while starting: make sure the abandoned task is observed.
            operation.AbortWith(operation.AbortKind.Value, operation.AbortMessage ?? "closed");
        }

        return task;
    }

    private async Task<FetchResponse> RunAsync(FetchOperation op, bool streamed, CancellationToken cancellationToken)
    {
        var settings = op.Settings;

        // One token source per fetch, and none when nothing but an abort can cancel it: the request timeout runs on
        // it (CancelAfter), the caller's token is linked only when it can be cancelled, and an abort (client, loop
        // or pool closing) cancels it directly (FetchOperation.LinkAbort) instead of through a linked source.
        CancellationTokenSource? fetchSource = null;
        CancellationToken token;
        if (settings.RequestTimeout == Timeout.InfiniteTimeSpan && !cancellationToken.CanBeCanceled)
        {
            token = op.AbortToken;
        }
        else
        {
            // On the client's clock (issue 13); with TimeProvider.System these are the same sources as before.
            fetchSource = cancellationToken.CanBeCanceled
                ? Clock.NewLinkedSource(cancellationToken, _time)
                : Clock.NewSource(_time);
            if (settings.RequestTimeout != Timeout.InfiniteTimeSpan)
            {
                fetchSource.CancelAfter(settings.RequestTimeout);
            }

            token = fetchSource.Token;
            op.LinkAbort(fetchSource);
        }

        op.FetchToken = token;
        HttpResponseMessage? message = null;
        var handedOff = false;
        try
        {
            var slotWait = _slots!.WaitAsync(settings.QueueTimeout, token);
            var queued = !slotWait.IsCompleted;
            if (!(queued ? await QueueWaitAsync(slotWait, op, fetchSource, cancellationToken).ConfigureAwait(false) : await slotWait.ConfigureAwait(false)))
            {
                throw FetchErrors.QueueTimeout(op, settings.QueueTimeout, _slots);
            }

            op.MarkDequeued(holdsSlot: true, waited: queued);
            var target = op.Target!;
            if (!settings.AllowIPv6 && target.HostNameType == UriHostNameType.IPv6)
            {
                throw new FetchException(FetchException.NoResponse, FetchErrorKind.NameResolution,
                    $"IPv6 not allowed ({target.Host}:{target.Port}): the URL names an IPv6 address but AllowIPv6 = false; " +
                    "set AllowIPv6 = true or use an IPv4 address or host name.", op.Request);
            }

            // The first hop, inline: most fetches have no other, and keeping the redirect and digest state out of this
            // method keeps its state machine (allocated per fetch) small.
            var replay = BodyReplay.Capture(op.Request.Body);
            op.CurrentUrl = target.OriginalString;
            op.CurrentMethod = op.Request.Method;
            await _pool!.AcquireAsync(Redaction.HostKey(target), op, token).ConfigureAwait(false);
            var request = BuildHop(target, op.Request.Method, op.Request.HeadersOrEmpty, op.Request.Body,
                op.Request.BodyProducer, settings, RequestBuilder.Credentials(target, settings), digestAnswer: null);
            try
            {
                // The handler re-sends what the protocol marks safe (REFUSED_STREAM, above a GOAWAY's last stream id,
                // a connection that died before the request went out) on its own; Tether adds no retry of its own.
                message = await _pool.SendAsync(request, op, token).ConfigureAwait(false);
            }
            finally
            {
                request.Dispose();
            }

            AcceptHop(op, message);
            var code = (int)message.StatusCode;
            if ((code == 401 && settings.AuthMode == AuthMode.Digest) || (settings.FollowRedirects && Redirects.IsRedirect(code)))
            {
                (message, target) = await FollowAsync(op, message, target, replay, settings, token).ConfigureAwait(false);
            }

            InvokeHeaderCallback(op, message);
            var responseBody = ResponseBody.Open(message, op, settings);
            FetchResponse response;
            if (streamed)
            {
                response = FetchResponse.Streamed(op, message, target, responseBody);
                handedOff = true;
            }
            else
            {
                var bytes = await responseBody.ReadAllAsync(op.Request.StreamingCallback, op.Request.StreamingCallbackAsync, token)
                    .ConfigureAwait(false);
                await responseBody.DisposeAsync().ConfigureAwait(false);
                message.Dispose();
                op.Complete();
                response = FetchResponse.Buffered(op, message, target, bytes);
            }

            if (!response.IsSuccess && settings.RaiseOnError)
            {
                if (streamed)
                {
                    await response.DisposeAsync().ConfigureAwait(false);
                }

                throw FetchException.ForStatus(response);
            }

            if (streamed)
            {
                op.MarkHandedOff();
                responseBody.TrackLeaks();
            }

            return response;
        }
        catch (Exception ex)
        {
            // The fetch's source was cancelled by its timer unless the caller or an abort did it (Map checks those
            // first, as before).
            var requestTimedOut = fetchSource is not null && fetchSource.IsCancellationRequested
                && settings.RequestTimeout != Timeout.InfiniteTimeSpan;
            var mapped = FetchErrors.Map(ex, op, cancellationToken, requestTimedOut, op.BodyTimedOut);
            if (mapped is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                // Cancelled by the caller: the socket may be mid-request, so it must not go back to the pool.
                op.Complete(discardConnection: true);
            }
            else
            {
                op.Complete(discardConnection: mapped is not FetchException { Kind: FetchErrorKind.HttpStatus });
            }

            message?.Dispose();
            if (ReferenceEquals(mapped, ex))
            {
                throw;
            }

            throw mapped;
        }
        finally
        {
            try
            {
                if (!handedOff)
                {
                    op.Complete();
                }
            }
            finally
            {
                // Disposed here rather than by a `using` copy of it, which the state machine (allocated per fetch)
                // would keep as a second field (issue 16, sixth pass).
                fetchSource?.Dispose();
            }
        }
    }

    /// <summary>Waits for a <c>MaxClients</c> slot. A fetch that never left the queue fails with
    /// <see cref="FetchErrorKind.QueueTimeout"/> (Tornado: "Timeout in request queue") also when its request timer
    /// fires first, as long as the request timeout is not shorter than the queue timeout: with the defaults both are 20 s
    /// (QueueTimeout = min(ConnectTimeout, RequestTimeout)) and the request timer, armed first, won the tie, reporting
    /// a RequestTimeout with the advice to raise it (newcomer review 2026-12-01). A request timeout shorter than the
    /// queue timeout stays a RequestTimeout: time queued counts against it (TIMEOUT-05).</summary>
    // A ValueTask, as the slot wait itself: RunAsync then keeps one awaiter field for both (issue 16, sixth pass).
    private async ValueTask<bool> QueueWaitAsync(ValueTask<bool> slotWait, FetchOperation op, CancellationTokenSource? fetchSource,
        CancellationToken cancellationToken)
    {
        try
        {
            return await slotWait.ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (fetchSource is { IsCancellationRequested: true }
            && !cancellationToken.IsCancellationRequested && op.AbortKind is null
            && op.Settings.QueueTimeout != Timeout.InfiniteTimeSpan && op.Settings.RequestTimeout != Timeout.InfiniteTimeSpan
            && op.Settings.RequestTimeout >= op.Settings.QueueTimeout)
        {
            throw FetchErrors.QueueTimeout(op, op.Settings.QueueTimeout, _slots!, ex);
        }
    }

    /// <summary>A hop's response head arrived: the fetch owns it from now on (an abort disposes it), and it must pass
    /// the protocol and framing checks before anything reads it.</summary>
    private static void AcceptHop(FetchOperation op, HttpResponseMessage message)
    {
        op.OnResponse(message);
        // Looked up once for both checks: the handler has parsed Content-Length already, so each lookup formats the
        // number back into a new string.
        var hasLengths = message.Content.Headers.NonValidated.TryGetValues("Content-Length", out var lengths);
        ProtocolChecks.Validate(message, op, hasLengths, lengths);
        FramingChecks.Validate(message, op, hasLengths, lengths);
    }

    /// <summary>Builds one hop's request (HTTP-02: a replayable body is sent from where it started; HTTP-03: a
    /// Digest answer is for this very URL and method).</summary>
    private static HttpRequestMessage BuildHop(Uri target, string method, FetchHeaders headers,
        FetchBody? body, Func<Stream, CancellationToken, Task>? producer, ResolvedSettings settings,
        (string? User, string? Password) credentials, string? digestAnswer)
    {
        var request = RequestBuilder.Build(target, method, headers, body, producer, settings, credentials.User, credentials.Password);
        if (digestAnswer is { } digest)
        {
            // Computed for this very URL and method (HTTP-03: cleared on every redirect).
            request.Headers.TryAddWithoutValidation("Authorization", digest);
        }

        return request;
    }

    /// <summary>Follows what the first hop's response asks for (a Digest challenge, a redirect), hop by hop, and
    /// returns the final response and its URL. Every intermediate response is read (within limits) and disposed; on a
    /// failure the current one is disposed too.</summary>
    private async Task<(HttpResponseMessage Message, Uri Target)> FollowAsync(FetchOperation op, HttpResponseMessage message,
        Uri target, BodyReplay replay, ResolvedSettings settings, CancellationToken token)
    {
        var method = op.Request.Method;
        var body = op.Request.Body;
        var headers = op.Request.HeadersOrEmpty; // cloned before a redirect changes it (the request is never modified)
        var headersCopied = false;
        var (user, password) = RequestBuilder.Credentials(target, settings);
        var redirects = 0;
        var producer = op.Request.BodyProducer;
        string? digestAnswer = null; // computed for the current hop's URL and method only (HTTP-03)
        HttpResponseMessage? current = message;
        try
        {
            while (true)
            {
                message = current!;
                var code = (int)message.StatusCode;
                if (code == 401 && settings.AuthMode == AuthMode.Digest && digestAnswer is null && user is not null
                    && replay.CanReplay
                    && DigestAuth.TryRespond(message, method, target, user, password ?? string.Empty, out var authorization))
                {
                    // One answer per hop. A body that cannot be sent again (non-seekable stream) is never replaced by
                    // an empty one: the 401 is the response (HTTP-02).
                    digestAnswer = authorization;
                    current = null;
                    await DiscardAsync(message, op, settings, token).ConfigureAwait(false);
                }
                else if (settings.FollowRedirects && Redirects.IsRedirect(code)
                    && Redirects.LocationOf(message) is { } locationText && Redirects.Resolve(target, locationText) is { } location)
                {
                    var changesToGet = Redirects.ChangesToGet(code, method);
                    var hasBody = body is not null || producer is not null;
                    if (hasBody && !changesToGet && !replay.CanReplay)
                    {
                        // HTTP-02: 307/308 (or 301/302 of a non-POST) must resend the body, and a non-seekable stream
                        // cannot be: the 3xx is the response (Go net/http does the same), never an empty body.
                        return (message, target);
                    }

                    if (++redirects > settings.MaxRedirects)
                    {
                        // As in Tornado: the error carries the last 3xx (a response did arrive), whose Location is
                        // the hop that was not followed.
                        current = null;
                        var (last, note) = await ReadLastRedirectAsync(message, op, target, settings, token).ConfigureAwait(false);
                        throw new FetchException(last.Code, FetchErrorKind.TooManyRedirects,
                            $"Too many redirects: more than MaxRedirects = {settings.MaxRedirects}; the last response " +
                            $"({last.Code} from {Redaction.Uri(last.EffectiveUrl)}) points to {Redaction.Url(last.Headers["Location"] ?? "?")}. " +
                            "Raise MaxRedirects or fix the redirect chain." + note,
                            op.Request, last);
                    }

                    // The CLI's `-i -L` prints every hop's head, as curl does (HeaderCallback, as Tornado's
                    // header_callback, sees only the final response).
                    InvokeHeaderCallback(op.Request.RedirectHeaderCallback, "RedirectHeaderCallback", message);
                    var next = Redirects.Next(op, target, location, settings);
                    if (!headersCopied)
                    {
                        headers = headers.Clone();
                        headersCopied = true;
                    }

                    // HTTP-03: a Digest answer is computed for one URL and method; the next hop may be challenged anew.
                    digestAnswer = null;
                    if (!Redirects.SameOrigin(target, next))
                    {
                        // HTTP-03: no credential of any kind reaches another origin, and the user's credentials are
                        // forgotten, so the new origin's challenge is not answered either (curl, Go).
                        Redirects.StripCredentials(headers);

                        // A Host the caller set names the first origin's virtual host; sent to another server it
                        // misroutes the request (psf/requests#3941). The next hop gets its own URL's Host, as curl (which
                        // keeps a custom Host only for the same host), Go (only for a relative Location) and Tornado
                        // (never across a redirect) do; within the origin it stays.
                        headers.Remove("Host");
                        user = null;
                        password = null;
                    }

                    if (changesToGet)
                    {
                        // HTTP-01: the body goes, with every header that described it (no "GET with Content-Length: 0").
                        method = "GET";
                        body = null;
                        producer = null;
                        replay = default;
                        Redirects.StripContentHeaders(headers);
                    }

                    current = null;
                    await DiscardAsync(message, op, settings, token).ConfigureAwait(false);
                    target = next;
                }
                else
                {
                    return (message, target);
                }

                // The next hop.
                op.CurrentUrl = target.OriginalString;
                op.CurrentMethod = method;
                await _pool!.AcquireAsync(Redaction.HostKey(target), op, token).ConfigureAwait(false);
                // HTTP-02: a seekable stream body goes out again from where it started, never from where the last hop
                // left it (that would be an empty or truncated body).
                replay.Rewind();
                var request = BuildHop(target, method, headers, body, producer, settings, (user, password), digestAnswer);
                try
                {
                    current = await _pool.SendAsync(request, op, token).ConfigureAwait(false);
                }
                finally
                {
                    request.Dispose();
                }

                AcceptHop(op, current);
            }
        }
        catch
        {
            // A response this method received and had not handed on: not the caller's to dispose.
            current?.Dispose();
            throw;
        }
    }

    private static void InvokeHeaderCallback(FetchOperation op, HttpResponseMessage message) =>
        InvokeHeaderCallback(op.Request.HeaderCallback, "HeaderCallback", message);

    private static void InvokeHeaderCallback(Action<string>? callback, string callbackName, HttpResponseMessage message)
    {
        if (callback is null)
        {
            return;
        }

        try
        {
            callback($"HTTP/{message.Version.Major}.{message.Version.Minor} {(int)message.StatusCode} {message.ReasonPhrase}");
            foreach (var (name, values) in message.Headers.NonValidated)
            {
                foreach (var value in values)
                {
                    callback($"{name}: {value}");
                }
            }

            foreach (var (name, values) in message.Content.Headers.NonValidated)
            {
                foreach (var value in values)
                {
                    callback($"{name}: {value}");
                }
            }

            callback(string.Empty);
        }
        catch (Exception ex)
        {
            throw new CallbackException(callbackName, ex);
        }
    }

    /// <summary>The longest a discarded 3xx/401 body is drained (HTTP-05), also when <see cref="FetchSettings.BodyTimeout"/>
    /// is infinite (<see cref="BodyDrain.Timeout"/>). Past it the connection is closed instead.</summary>
    internal static TimeSpan DiscardTimeout => BodyDrain.Timeout;

    /// <summary>Buffers the 3xx that went over MaxRedirects so the error can carry it (HTTP-05): under the fetch's token
    /// (RequestTimeout, caller, abort), each read bounded by BodyTimeout, and at most MaxBodySize bytes (never more than
    /// the 100 MiB default). A body that is
    /// over MaxBodySize or stalls past BodyTimeout is dropped (the error still says TooManyRedirects, and its message
    /// says why the body is empty) and its connection closed.</summary>
    private static async Task<(FetchResponse Response, string Note)> ReadLastRedirectAsync(HttpResponseMessage message,
        FetchOperation op, Uri target, ResolvedSettings settings, CancellationToken token)
    {
        var note = string.Empty;
        byte[] bytes = [];
        try
        {
            // The 3xx body only illustrates the error: never buffered past the default cap, even when MaxBodySize was
            // raised for streamed downloads (the tether CLI sets it to long.MaxValue).
            var cap = Math.Min(settings.MaxBodySize, ResolvedSettings.DefaultMaxBodySize);
            if (message.Content.Headers.ContentLength is { } announced && announced > cap)
            {
                note = $" Its body ({announced} bytes announced) was dropped: over MaxBodySize = {cap}.";
            }
            else
            {
                using var perRead = Clock.NewLinkedSource(token, op.Client.Time);
                try
                {
                    var stream = await message.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
                    using var kept = new MemoryStream();
                    var buffer = new byte[16 * 1024];
                    while (true)
                    {
                        if (settings.BodyTimeout != Timeout.InfiniteTimeSpan)
                        {
                            perRead.CancelAfter(settings.BodyTimeout);
                        }

                        var n = await stream.ReadAsync(buffer, perRead.Token).ConfigureAwait(false);
                        if (n == 0)
                        {
                            bytes = kept.ToArray();
                            break;
                        }

                        if (kept.Length + n > cap)
                        {
                            note = $" Its body was dropped: over MaxBodySize = {cap}.";
                            break;
                        }

                        kept.Write(buffer, 0, n);
                    }
                }
                catch (OperationCanceledException) when (!token.IsCancellationRequested)
                {
                    note = $" Its body was dropped: no byte for BodyTimeout = {settings.BodyTimeout.TotalSeconds:0.###} s.";
                }
                catch (Exception ex) when (ex is IOException or HttpRequestException)
                {
                    note = " Its body was dropped: the connection failed while it was read.";
                }
            }

            return (FetchResponse.Buffered(op, message, target, bytes), note);
        }
        finally
        {
            // Not read to its end: disposing closes that HTTP/1.x connection or resets that HTTP/2 stream (the pool's
            // handlers have MaxResponseDrainSize = 0).
            message.Dispose();
        }
    }

    /// <summary>Reads and drops an intermediate body (redirect, digest challenge) so the connection can be reused, within
    /// limits (HTTP-05): at most <see cref="BodyDrain.Limit"/> bytes, for at most BodyTimeout and
    /// <see cref="DiscardTimeout"/> (whichever is shorter), all under the fetch's token (RequestTimeout, the caller's
    /// token, an abort: when that fires the fetch ends). Past a limit the connection is closed instead and the fetch
    /// goes on to its next hop.</summary>
    private static async Task DiscardAsync(HttpResponseMessage message, FetchOperation op, ResolvedSettings settings,
        CancellationToken token)
    {
        try
        {
            if (message.Content.Headers.ContentLength is not > BodyDrain.Limit)
            {
                using var limit = Clock.NewLinkedSource(token, op.Client.Time);
                limit.CancelAfter(settings.BodyTimeout == Timeout.InfiniteTimeSpan || settings.BodyTimeout > DiscardTimeout
                    ? DiscardTimeout
                    : settings.BodyTimeout);
                var stream = await message.Content.ReadAsStreamAsync(limit.Token).ConfigureAwait(false);
                await BodyDrain.ReadToEndAsync(stream, BodyDrain.Limit, limit.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            // A drain limit, not the fetch's deadline: close this connection and go on.
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            // The next hop opens its own connection.
        }
        finally
        {
            // A body not read to its end is not drained in the background: the pool's handlers have
            // MaxResponseDrainSize = 0, so disposing closes that HTTP/1.x connection, or resets that HTTP/2 stream.
            message.Dispose();
            op.ReleaseHop();
        }
    }
}
