namespace Tether;

public sealed partial class AsyncHttpClient
{
    /// <summary>
    /// The <see cref="TetherHttpMessageHandler"/> path: sends a caller-built <see cref="HttpRequestMessage"/> through
    /// the same queue (MaxClients), pool lease (per-host and total slots) and close-on-owner-close as
    /// <see cref="FetchAsync(FetchRequest, CancellationToken)"/>, but leaves the request and the response as they are
    /// (no redirects, digest, decoding or raise-on-error: HttpClient pipelines do those themselves). The response
    /// content is swapped for a stream that completes the operation (slot, lease and connection back) at end of body
    /// or on dispose; disposing early discards the connection, so no half-read socket goes back to the pool.
    /// </summary>
    internal async Task<HttpResponseMessage> SendThroughPoolAsync(HttpRequestMessage request, CancellationToken cancellationToken)
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
        var fetchRequest = new FetchRequest(target) { Method = request.Method.Method };
        var settings = RequestBuilder.Resolve(fetchRequest, Options.Defaults, _settingsCache, out _);
        var op = new FetchOperation(this, loop, fetchRequest, settings) { CurrentMethod = request.Method.Method };
        Register(op);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, op.AbortToken);
        HttpResponseMessage? message = null;
        try
        {
            if (!await _slots!.WaitAsync(settings.QueueTimeout, linked.Token).ConfigureAwait(false))
            {
                throw FetchErrors.QueueTimeout(op, settings.QueueTimeout, _slots);
            }

            op.MarkDequeued(holdsSlot: true);
            op.SetPoolLease(await _pool!.AcquireAsync(Redaction.HostKey(target), op, linked.Token).ConfigureAwait(false));
            message = await _pool.SendAsync(request, op, linked.Token).ConfigureAwait(false);
            op.OnResponse(message);

            var original = message.Content;
            var body = await original.ReadAsStreamAsync(linked.Token).ConfigureAwait(false);
            var content = new StreamContent(new BridgeBodyStream(body, original, op));
            foreach (var (name, values) in original.Headers.NonValidated)
            {
                content.Headers.TryAddWithoutValidation(name, values);
            }

            message.Content = content;
            return message;
        }
        catch (Exception ex)
        {
            var mapped = FetchErrors.Map(ex, op, cancellationToken, requestTimedOut: false, bodyTimedOut: false);
            op.Complete(discardConnection: true);
            message?.Dispose();
            if (mapped is FetchException { Kind: FetchErrorKind.PoolClosed or FetchErrorKind.ClientClosed } closed)
            {
                // Item 12: a closed pool or client is a usage error, not a transient HttpRequestException to retry.
                throw new ObjectDisposedException(closed.Message, closed);
            }

            if (mapped is FetchException fetch)
            {
                // HttpClient callers and resilience pipelines expect HttpRequestException for transport failures; the
                // Tether diagnosis (kind, limits, holders) rides along as the inner exception.
                var error = ToHttpRequestError(fetch.Kind, ex is HttpRequestException http ? http.HttpRequestError : HttpRequestError.Unknown);
                throw new HttpRequestException(error, fetch.Message, fetch);
            }

            if (ReferenceEquals(mapped, ex))
            {
                throw;
            }

            throw mapped;
        }
    }

    /// <summary>The bridged response body: completes its <see cref="FetchOperation"/> at end of body (connection kept)
    /// or on dispose before the end (connection discarded).</summary>
    private sealed class BridgeBodyStream(Stream inner, HttpContent original, FetchOperation op) : Stream
    {
        private int _done;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
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

            if (n == 0 && buffer.Length > 0)
            {
                Finish(discard: false);
            }

            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n;
            try
            {
                n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                Finish(discard: true);
                throw;
            }

            if (n == 0 && buffer.Length > 0)
            {
                Finish(discard: false);
            }

            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Finish(discard: true);
            }

            base.Dispose(disposing);
        }

        private void Finish(bool discard)
        {
            if (Interlocked.Exchange(ref _done, 1) != 0)
            {
                return;
            }

            if (discard)
            {
                // Abort first: disposing the handler's content on a half-read body would otherwise try to drain it.
                op.Complete(discardConnection: true);
                inner.Dispose();
                original.Dispose();
            }
            else
            {
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
        FetchErrorKind.Proxy => HttpRequestError.ProxyTunnelError,
        _ => fallback,
    };
}
