using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Tether;

/// <summary>The pool's handlers, one per <see cref="TransportKey"/>, and the send through them.</summary>
public sealed partial class ConnectionPool
{
    internal const string OperationKey = "tether.operation";
    // The request carries a handle that the fetch clears when it completes, not the fetch itself: the handler may keep
    // a request message (and so its options) after the fetch is over, and that must not keep the client alive. The
    // connect callback reads from it only what the attempt needs (connect timeout, names for the ledger), as values.
    private static readonly HttpRequestOptionsKey<OperationRef> s_operationKey = new(OperationKey);
    private readonly ConcurrentDictionary<TransportKey, Transport> _transports = NewTable<TransportKey, Transport>();

    /// <summary>Hands <paramref name="request"/> to the handler of its transport. The handler picks or opens the
    /// connection, multiplexes HTTP/2, and re-sends what the protocol marks safe (REFUSED_STREAM, above a GOAWAY's
    /// last stream id, a connection that died before the request was sent); cancelling
    /// <paramref name="cancellationToken"/> makes it close that HTTP/1.1 connection or reset that HTTP/2 stream.</summary>
    internal Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, FetchOperation operation, CancellationToken cancellationToken)
    {
        EnsureStarted();
        if (request is TetherRequestMessage own)
        {
            operation.Name(own); // no Options dictionary and no handle object per request
        }
        else
        {
            request.Options.Set(s_operationKey, operation.Handle);
        }

        Transport transport;
        var settings = operation.Settings;
        // Settings in the process-wide table may hint only the process pool (a closed pool must not stay reachable
        // from a static table); for any other pool their hint is kept by the client, which holds that pool anyway.
        var clientHeld = settings.IsShared && !IsProcessPool;
        var hint = clientHeld ? operation.Client.TransportHint : settings.TransportHint;
        if (hint is not null && ReferenceEquals(hint.Pool, this) && (!clientHeld || ReferenceEquals(hint.Settings, settings))
            && (!operation.HoldsSlots || operation.UseTransport(hint.Transport)))
        {
            // The handler these settings were sent through last time: no key hashing per fetch. A retired handler
            // fails UseTransport and is looked up below.
            transport = hint.Transport;
        }
        else
        {
            transport = LookUpTransport(operation);
            if (clientHeld)
            {
                operation.Client.TransportHint = new TransportHint(this, transport, settings);
            }
            else
            {
                settings.TransportHint = new TransportHint(this, transport, null);
            }
        }

        if (IsClosed)
        {
            // Closed between the check and GetOrAdd: do not leave a fresh handler behind.
            transport.Dispose();
            throw ClosedError();
        }

        if (settings.ProxyPassword is { } proxyPassword)
        {
            transport.ProxyCredentials?.Offer(proxyPassword);
        }

        operation.OnSending(request);
        return transport.Invoker.SendAsync(request, cancellationToken);
    }

    private bool IsProcessPool => s_process.IsValueCreated && ReferenceEquals(this, s_process.Value);

    private Transport LookUpTransport(FetchOperation operation)
    {
        Transport transport;
        while (true)
        {
            if (!_transports.TryGetValue(operation.Settings.Transport, out transport!))
            {
                transport = AddTransport(operation.Settings);
            }

            // The fetch's slots keep the handler in use until its response is done (the reaper retires only unused
            // handlers); a handler retired in between is looked up again.
            if (!operation.HoldsSlots || operation.UseTransport(transport))
            {
                break;
            }

            _transports.TryRemove(new KeyValuePair<TransportKey, Transport>(operation.Settings.Transport, transport));
        }

        return transport;
    }

    // Separate from SendAsync so that the hot path allocates no closure for the (rare) first use of a transport.
    private Transport AddTransport(ResolvedSettings settings) =>
        _transports.GetOrAdd(settings.Transport, key =>
        {
            var transport = new Transport(Time);
            transport.Invoker = new HttpMessageInvoker(CreateHandler(key, settings, transport), disposeHandler: true);
            return transport;
        });

    /// <summary>Retires handlers that nothing has used for an idle timeout (reaper, CORE-05).</summary>
    private void EvictUnusedTransports()
    {
        var idle = Options.IdleTimeout == Timeout.InfiniteTimeSpan ? TimeSpan.FromMinutes(1) : Options.IdleTimeout;
        foreach (var (key, transport) in _transports)
        {
            if (transport.TryRetire(idle))
            {
                _transports.TryRemove(new KeyValuePair<TransportKey, Transport>(key, transport));
                transport.Dispose();
            }
        }
    }

    /// <summary>The stream an <see cref="SslStream"/> runs over (a protected property, read without reflection).</summary>
    [System.Runtime.CompilerServices.UnsafeAccessor(System.Runtime.CompilerServices.UnsafeAccessorKind.Method, Name = "get_InnerStream")]
    private static extern Stream InnerStreamOf(AuthenticatedStream stream);

    /// <summary>The fetch that sends <paramref name="request"/>, if it is still running.</summary>
    private static FetchOperation? OperationOf(HttpRequestMessage request) =>
        request is TetherRequestMessage own ? own.Operation
        : request.Options.TryGetValue(s_operationKey, out var handle) ? handle.Operation : null;

    /// <summary>What the fetch that sent <paramref name="request"/> gives a connection attempt, even once that fetch
    /// is over; null for a request no fetch sent.</summary>
    private static AttemptSettings? AttemptOf(HttpRequestMessage request) =>
        request is TetherRequestMessage own ? own.Attempt
        : request.Options.TryGetValue(s_operationKey, out var handle) ? handle.Attempt : null;

    private SocketsHttpHandler CreateHandler(TransportKey key, ResolvedSettings settings, Transport transport)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = (context, cancellationToken) => ConnectAsync(context, transport, cancellationToken),
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            // The container's meter factory for the DI pool (null: the shared System.Net.Http meter), so an app's
            // meter-factory listeners see requests sent through UseTether() as they see a default handler's (CORE-08).
            MeterFactory = MeterFactory,
            MaxConnectionsPerServer = Options.MaxConnectionsPerHost,
            PooledConnectionIdleTimeout = Options.IdleTimeout,
            PooledConnectionLifetime = Options.MaxLifetime,
            // Connect deadlines belong to each connection attempt (ConnectAsync and the TLS deadline it arms), with
            // the ConnectTimeout of the request that caused it: a per-request value cannot be a per-handler setting.
            ConnectTimeout = Timeout.InfiniteTimeSpan,
            // An unfinished response that is disposed (caller, abort, leak sentinel) closes its HTTP/1.1 connection at
            // once instead of draining it in the background; HTTP/2 resets only that stream either way. Tether drains
            // small redirect and challenge bodies itself (DiscardAsync) so those connections are still reused.
            MaxResponseDrainSize = 0,
            MaxResponseHeadersLength = key.MaxResponseHeadersKiB, // a power-of-two bucket, see TransportKey
            // CORE-11: HTTP/2 PING health check, so a connection whose server went silent is retired (documented defaults
            // on ConnectionPoolOptions).
            KeepAlivePingDelay = Options.KeepAlivePingDelay,
            KeepAlivePingTimeout = Options.KeepAlivePingTimeout,
            KeepAlivePingPolicy = Options.KeepAlivePingPolicy,
            EnableMultipleHttp2Connections = false,
            // Header values outside ASCII travel as Latin-1 both ways (RequestBuilder rejects what Latin-1 cannot hold).
            RequestHeaderEncodingSelector = static (_, _) => System.Text.Encoding.Latin1,
            ResponseHeaderEncodingSelector = static (_, _) => System.Text.Encoding.Latin1,
            // Called once per connection when the handler's setup (TCP, TLS) is complete: the exact moment the ledger
            // record leaves Connecting, found through the stream itself (no attribution to a request).
            PlaintextStreamFilter = static (context, _) =>
            {
                var stream = context.PlaintextStream;
                var http2 = context.NegotiatedHttpVersion.Major == 2;
                if (stream is SslStream ssl && InnerStreamOf(ssl) is LedgerStream tls)
                {
                    tls.Connection.MarkOpen(http2);
                }
                else if (stream is LedgerStream plain)
                {
                    plain.Connection.MarkOpen(http2);
                }

                return ValueTask.FromResult(stream);
            },
        };

        if (settings.Proxy is { } proxyUri)
        {
            var proxy = new WebProxy(proxyUri) { BypassProxyOnLocal = false };
            if (settings.ProxyUsername is not null)
            {
                // The password is looked up per challenge, not fixed here: it is not part of the key (CORE-06).
                var lookup = new ProxyCredentialLookup(settings.ProxyUsername, settings.ProxyPassword);
                transport.ProxyCredentials = lookup;
                proxy.Credentials = lookup;
            }

            handler.Proxy = proxy;
            handler.UseProxy = true;
        }
        else if (settings.UseDefaultProxy)
        {
            // As a default SocketsHttpHandler: Proxy null means HttpClient.DefaultProxy (http_proxy, https_proxy,
            // all_proxy, no_proxy on Linux), credentials from the variable's user info included. Connections to that
            // proxy go through ConnectCallback like any other, so the ledger records them (remote = the proxy).
            handler.Proxy = null;
            handler.UseProxy = true;
        }
        else
        {
            handler.UseProxy = false;
        }

        var ssl = new SslClientAuthenticationOptions();
        if (!settings.ValidateCertificate)
        {
            ssl.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        }
        else if (settings.CaCertificates is { Count: > 0 } roots)
        {
            ssl.CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            // The pool's own copies (issue 16 review finding): the handler outlives the client whose collection made
            // its key, and every client with the same thumbprints shares it.
            foreach (var root in roots)
            {
                ssl.CertificateChainPolicy.CustomTrustStore.Add(transport.Own(root));
            }
        }

        if (settings.ClientCertificate is { } clientCertificate)
        {
            // Issue 16 review finding: the handler is keyed by the thumbprint and shared by every client (of this pool)
            // with the same certificate, and it presents the certificate on every connection it opens, long after the
            // client that created it may have disposed its object. It presents the pool's own copy (same certificate
            // and key, its own handles), disposed when the handler is retired or the pool closes. Selecting the
            // certificate per connection from the "current" fetch is not possible: a connection attempt belongs to the
            // pool, not to a fetch (CORE-03), and the handler's selection callback is given no request.
            ssl.ClientCertificates = new X509CertificateCollection { transport.Own(clientCertificate) };
        }

        handler.SslOptions = ssl;
        return handler;
    }
}
