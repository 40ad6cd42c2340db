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
        var settings = RequestBuilder.Resolve(request, Options.Defaults, _settingsCache, out var target);
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
            fetchSource = cancellationToken.CanBeCanceled
                ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken)
                : new CancellationTokenSource();
            if (settings.RequestTimeout != Timeout.InfiniteTimeSpan)
            {
                fetchSource.CancelAfter(settings.RequestTimeout);
            }

            token = fetchSource.Token;
            op.LinkAbort(fetchSource);
        }

        using var ownedSource = fetchSource;
        op.FetchToken = token;
        var bodyTimedOut = new BodyTimeoutFlag();
        HttpResponseMessage? message = null;
        var handedOff = false;
        try
        {
            if (!await _slots!.WaitAsync(settings.QueueTimeout, token).ConfigureAwait(false))
            {
                throw FetchErrors.QueueTimeout(op, settings.QueueTimeout, _slots);
            }

            op.MarkDequeued(holdsSlot: true);
            var target = op.Target!;
            if (!settings.AllowIPv6 && target.HostNameType == UriHostNameType.IPv6)
            {
                throw new FetchException(FetchException.NoResponse, FetchErrorKind.NameResolution,
                    $"IPv6 not allowed ({target.Host}:{target.Port}): the URL names an IPv6 address but AllowIPv6 = false; " +
                    "set AllowIPv6 = true or use an IPv4 address or host name.", op.Request);
            }

            var method = op.Request.Method;
            var body = op.Request.Body;
            var headers = op.Request.Headers; // copied before a redirect changes it (the request is never modified)
            var headersCopied = false;
            var (user, password) = RequestBuilder.Credentials(target, settings);
            var redirects = 0;
            var digestTried = false;
            while (true)
            {
                op.CurrentUrl = target.OriginalString;
                op.CurrentMethod = method;
                op.SetPoolLease(await _pool!.AcquireAsync(Redaction.HostKey(target), op, token).ConfigureAwait(false));
                HttpRequestMessage NewRequest()
                {
                    var built = RequestBuilder.Build(target, method, headers, body, op.Request.BodyProducer, settings, user, password);
                    if (digestTried && op.DigestAuthorization is { } digest)
                    {
                        built.Headers.TryAddWithoutValidation("Authorization", digest);
                    }

                    return built;
                }

                // The handler re-sends what the protocol marks safe (REFUSED_STREAM, above a GOAWAY's last stream id,
                // a connection that died before the request went out) on its own; Tether adds no retry of its own.
                var request = NewRequest();
                try
                {
                    message = await _pool.SendAsync(request, op, token).ConfigureAwait(false);
                }
                finally
                {
                    request.Dispose();
                }

                op.OnResponse(message);
                ProtocolChecks.Validate(message, op);
                var code = (int)message.StatusCode;
                if (code == 401 && settings.AuthMode == AuthMode.Digest && !digestTried && user is not null
                    && DigestAuth.TryRespond(message, method, target, user, password ?? string.Empty, out var authorization))
                {
                    digestTried = true;
                    op.DigestAuthorization = authorization;
                    await DiscardAsync(message, op).ConfigureAwait(false);
                    message = null;
                    continue;
                }

                if (settings.FollowRedirects && Redirects.IsRedirect(code) && message.Headers.Location is { } location)
                {
                    if (++redirects > settings.MaxRedirects)
                    {
                        // As in Tornado: the error carries the last 3xx (a response did arrive), whose Location is
                        // the hop that was not followed.
                        var last = await ReadLastRedirectAsync(message, op, target, token).ConfigureAwait(false);
                        message = null;
                        throw new FetchException(last.Code, FetchErrorKind.TooManyRedirects,
                            $"Too many redirects: more than MaxRedirects = {settings.MaxRedirects}; the last response " +
                            $"({last.Code} from {Redaction.Uri(last.EffectiveUrl)}) points to {Redaction.Url(last.Headers["Location"] ?? "?")}. " +
                            "Raise MaxRedirects or fix the redirect chain.",
                            op.Request, last);
                    }

                    var next = Redirects.Next(op, target, location, settings);
                    if (!headersCopied)
                    {
                        headers = headers.Clone();
                        headersCopied = true;
                    }

                    if (!Redirects.SameOrigin(target, next))
                    {
                        Redirects.StripCredentials(headers);
                        user = null;
                        password = null;
                    }

                    if (Redirects.ChangesToGet(code, method))
                    {
                        method = method == "HEAD" ? "HEAD" : "GET";
                        body = null;
                        headers.Remove("Content-Length");
                        headers.Remove("Content-Type");
                        headers.Remove("Transfer-Encoding");
                    }

                    await DiscardAsync(message, op).ConfigureAwait(false);
                    message = null;
                    target = next;
                    continue;
                }

                break;
            }

            InvokeHeaderCallback(op, message);
            var responseBody = ResponseBody.Open(message, op, settings, bodyTimedOut);
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
            var mapped = FetchErrors.Map(ex, op, cancellationToken, requestTimedOut, bodyTimedOut.Fired);
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
            if (!handedOff)
            {
                op.Complete();
            }
        }
    }

    private static void InvokeHeaderCallback(FetchOperation op, HttpResponseMessage message)
    {
        if (op.Request.HeaderCallback is not { } callback)
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
            throw new CallbackException("HeaderCallback", ex);
        }
    }

    /// <summary>Buffers the 3xx that went over MaxRedirects (its body is small) so the error can carry it.</summary>
    private static async Task<FetchResponse> ReadLastRedirectAsync(HttpResponseMessage message, FetchOperation op, Uri target,
        CancellationToken cancellationToken)
    {
        try
        {
            var bytes = await message.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            return FetchResponse.Buffered(op, message, target, bytes);
        }
        finally
        {
            message.Dispose();
        }
    }

    /// <summary>Reads and drops a small intermediate body (redirect, digest challenge) so the connection can be
    /// reused; a large one is cut off by disposing, which closes the connection instead.</summary>
    private static async Task DiscardAsync(HttpResponseMessage message, FetchOperation op)
    {
        try
        {
            var stream = await message.Content.ReadAsStreamAsync().ConfigureAwait(false);
            var buffer = new byte[4096];
            long total = 0;
            int n;
            while (total < 64 * 1024 && (n = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                total += n;
            }
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            // The next hop opens its own connection.
        }
        finally
        {
            message.Dispose();
            op.ReleaseHop();
        }
    }
}
