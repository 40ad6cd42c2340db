using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Tether.Diagnostics;

namespace Tether;

/// <summary>
/// Owns keep-alive connections and every socket under them, on top of <see cref="SocketsHttpHandler"/>.
/// </summary>
/// <remarks>
/// <para>
/// How it works: the pool keeps one <see cref="SocketsHttpHandler"/> per <c>TransportKey</c> (certificate trust,
/// client certificate, proxy, IPv6, header limit); the handler pools per scheme, host and port. Every socket is made
/// by the pool's <c>ConnectCallback</c>, recorded in the <see cref="SocketLedger"/> and wrapped in a stream that the
/// pool can abort. Before a request is handed to the handler it takes a per-host slot and a total slot (FIFO, with
/// <see cref="ConnectionPoolOptions.PoolWaitTimeout"/>), so no request ever waits invisibly inside the handler. A
/// reaper timer (only while the pool has connections) closes idle connections the server has closed (so no
/// CLOSE_WAIT lingers), idle ones past <see cref="ConnectionPoolOptions.IdleTimeout"/>, and idle ones past their
/// jittered <see cref="ConnectionPoolOptions.MaxLifetime"/>.
/// </para>
/// <para>
/// Ownership: a pool created by a client is owned and closed by that client. A pool created with
/// <c>new ConnectionPool()</c> is owned by the caller, who must close it. <see cref="Process"/> is owned by the
/// process and cannot be closed. Closing a pool aborts every socket it owns, including sockets held by responses
/// nobody disposed, and returns when the ledger holds none of them.
/// </para>
/// <para>Thread-safety: all members are thread-safe.</para>
/// </remarks>
public sealed class ConnectionPool : IAsyncDisposable
{
    internal const string OperationKey = "tether.operation";
    // The request carries a handle that the fetch clears when it completes, not the fetch itself: the handler may keep
    // a request message (and so its options) after the fetch is over, and that must not keep the client alive.
    private static readonly HttpRequestOptionsKey<OperationRef> s_operationKey = new(OperationKey);
    private static readonly Lazy<ConnectionPool> s_process = new(
        () => new ConnectionPool(
            // CORE-07: no per-host or total cap below a default SocketsHttpHandler's (MaxConnectionsPerServer = int.MaxValue).
            new ConnectionPoolOptions { MaxConnectionsPerHost = int.MaxValue, MaxConnectionsTotal = int.MaxValue },
            "ConnectionPool.Process", isProcess: true));

    private static long s_nextId;
    private readonly object _gate = new();
    private readonly ConcurrentDictionary<TransportKey, HttpMessageInvoker> _transports = new();
    private readonly ConcurrentDictionary<long, TrackedConnection> _connections = new();
    private readonly ConcurrentDictionary<string, AsyncFifoSemaphore> _hostSlots = new();
    private readonly bool _isProcess;
    private AsyncFifoSemaphore? _totalSlots;
    private AsyncFifoSemaphore? _socketSlots;
    private Timer? _reaper;
    private int _state; // 0 new, 1 started, 2 closed
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Creates a pool owned by the caller, who must close it.</summary>
    /// <param name="options">Limits and timeouts; validated at first use.</param>
    public ConnectionPool(ConnectionPoolOptions? options = null)
        : this(options ?? new ConnectionPoolOptions(), $"ConnectionPool#{Interlocked.Increment(ref s_nextId)}", isProcess: false)
    {
    }

    private ConnectionPool(ConnectionPoolOptions options, string name, bool isProcess)
    {
        Options = options;
        Name = name;
        _isProcess = isProcess;
        Kind = isProcess ? PoolKinds.Process : PoolKinds.Caller;
    }

    /// <summary>Who owns the pool (<c>client</c>, <c>caller</c>, <c>process</c>): the <c>tether.pool.kind</c>
    /// attribute, and whether first connections count towards churn warnings.</summary>
    internal string Kind { get; init; }

    /// <summary>The process-wide pool: lease from it (<see cref="AsyncHttpClientOptions.Pool"/>) so that clients
    /// created per loop or per call share keep-alive connections. Owned by the process; cannot be closed. Its
    /// <see cref="ConnectionPoolOptions.MaxConnectionsPerHost"/> and <see cref="ConnectionPoolOptions.MaxConnectionsTotal"/>
    /// are <see cref="int.MaxValue"/> (no cap, like a default SocketsHttpHandler; CORE-07); the ledger still lists every
    /// socket.</summary>
    public static ConnectionPool Process => s_process.Value;

    /// <summary>A name for logs and the ledger.</summary>
    public string Name { get; }

    /// <summary>The pool's options (frozen at first use).</summary>
    public ConnectionPoolOptions Options { get; }

    /// <summary>Whether the pool has been closed.</summary>
    public bool IsClosed => Volatile.Read(ref _state) == 2;

    /// <summary>The number of sockets this pool owns right now.</summary>
    public int Count => _connections.Count;

    /// <summary>A snapshot of this pool's sockets.</summary>
    /// <returns>The ledger entries of this pool, ordered by id.</returns>
    public IReadOnlyList<LedgerEntry> Snapshot() =>
        _connections.Values.Select(static c => c.ToEntry()).OrderBy(static e => e.Id).ToArray();

    /// <summary>Closes the pool: aborts every socket it owns (idle, active, connecting, and those held by undisposed
    /// responses), fails their fetches with a "pool closed" 599, and completes when none is left. Idempotent.</summary>
    /// <param name="cancellationToken">Stops waiting (the sockets are already closed when the abort returns).</param>
    /// <returns>A task that completes when the pool owns no socket.</returns>
    /// <exception cref="LoopMisuseException">This is <see cref="Process"/>, which the process owns.</exception>
    public Task CloseAsync(CancellationToken cancellationToken = default)
    {
        if (_isProcess)
        {
            throw LoopMisuseException.SharedClose("ConnectionPool.Process");
        }

        CloseNow(FetchErrorKind.PoolClosed, $"{Name} was closed");
        return _drained.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);

    /// <summary>Closes every idle keep-alive connection now (gracefully); active ones are left alone. Allowed on
    /// <see cref="Process"/> too, e.g. before a census or at the end of a test.</summary>
    /// <returns>The number of connections closed.</returns>
    public int CloseIdleConnections()
    {
        var closed = 0;
        foreach (var connection in _connections.Values)
        {
            if (connection.TryCloseIdle())
            {
                closed++;
            }
        }

        return closed;
    }

    /// <summary>Synchronous close used by owners: every fd is closed when this returns.</summary>
    internal void CloseNow(FetchErrorKind kind, string reason)
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
        {
            return;
        }

        lock (_gate)
        {
            _reaper?.Dispose();
            _reaper = null;
        }

        foreach (var connection in _connections.Values)
        {
            if (connection.Lease is { } operation)
            {
                operation.AbortWith(kind, reason);
            }

            connection.Abort();
        }

        foreach (var invoker in _transports.Values)
        {
            invoker.Dispose();
        }

        _transports.Clear();
        CheckDrained();
    }

    /// <summary>Aborts the sockets held by <paramref name="client"/>'s fetches (a leasing client closing), leaving
    /// idle connections to the pool.</summary>
    internal void AbortHeldBy(AsyncHttpClient client)
    {
        foreach (var connection in _connections.Values)
        {
            if (connection.Lease?.Client == client)
            {
                connection.Abort();
            }
        }
    }

    internal void EnsureStarted()
    {
        if (Volatile.Read(ref _state) != 0)
        {
            if (IsClosed)
            {
                throw new ObjectDisposedException(Name, $"{Name} is closed; create a new pool or client.");
            }

            return;
        }

        lock (_gate)
        {
            if (_state == 0)
            {
                OptionChecks.ThrowIfAny(nameof(ConnectionPoolOptions), Options.Validate());
                Options.Freeze();
                _totalSlots = new AsyncFifoSemaphore(Options.MaxConnectionsTotal);
                _socketSlots = new AsyncFifoSemaphore(Options.MaxConnectionsTotal);
                _state = 1;
            }
        }
    }

    /// <summary>Takes a per-host and a total slot, or fails with a pool-wait 599 naming the limits and holders.</summary>
    /// <remarks>The fast path (a free slot, nobody waiting) allocates nothing. A wait counts in
    /// <c>tether.pool.waits</c>; one still waiting after <see cref="TetherDiagnostics.SlowPoolWaitThreshold"/> logs the
    /// holders (DIAG-14) without losing its place in the FIFO queue.</remarks>
    internal async ValueTask<PoolLease> AcquireAsync(string hostKey, FetchOperation operation, CancellationToken cancellationToken)
    {
        EnsureStarted();
        if (!_hostSlots.TryGetValue(hostKey, out var host))
        {
            host = _hostSlots.GetOrAdd(hostKey, _ => new AsyncFifoSemaphore(Options.MaxConnectionsPerHost));
            // A loop's own Shared client is one per loop by design (LOOP-03): not churn the caller could fix there.
            if (Kind == PoolKinds.Client && !operation.Client.IsShared)
            {
                LeakTracker.OnPrivatePoolConnect(hostKey, operation.Client.AllocationSite, operation.Client.Options.Logger);
            }
        }

        var total = _totalSlots!;
        var wait = Options.PoolWaitTimeout;
        var started = Stopwatch.GetTimestamp();
        var hostWait = host.WaitAsync(wait, cancellationToken);
        var waited = !hostWait.IsCompleted;
        using var slow = waited ? WatchSlowWait(hostKey, operation, started) : null;
        if (!await hostWait.ConfigureAwait(false))
        {
            throw PoolWaitTimeout(hostKey, operation);
        }

        var remaining = wait == Timeout.InfiniteTimeSpan ? wait : wait - Stopwatch.GetElapsedTime(started);
        bool gotTotal;
        try
        {
            if (remaining > TimeSpan.Zero || remaining == Timeout.InfiniteTimeSpan)
            {
                var totalWait = total.WaitAsync(remaining, cancellationToken);
                if (!totalWait.IsCompleted && !waited)
                {
                    waited = true;
                }

                using var slowTotal = waited && slow is null ? WatchSlowWait(hostKey, operation, started) : null;
                gotTotal = await totalWait.ConfigureAwait(false);
            }
            else
            {
                gotTotal = false;
            }
        }
        catch
        {
            host.Release();
            throw;
        }

        if (!gotTotal)
        {
            host.Release();
            throw PoolWaitTimeout(hostKey, operation);
        }

        if (waited && TetherMetrics.PoolWaits.Enabled)
        {
            TetherMetrics.PoolWaits.Add(1, new KeyValuePair<string, object?>("tether.pool.kind", Kind));
        }

        if (TetherMetrics.TimeInQueue.Enabled)
        {
            RecordTimeInQueue(operation, Stopwatch.GetElapsedTime(started));
        }

        return new PoolLease(host, total);
    }

    private static void RecordTimeInQueue(FetchOperation operation, TimeSpan elapsed)
    {
        if (Uri.TryCreate(operation.CurrentUrl, UriKind.Absolute, out var uri))
        {
            TetherMetrics.TimeInQueue.Record(elapsed.TotalSeconds,
                new KeyValuePair<string, object?>("http.request.method", operation.CurrentMethod),
                new KeyValuePair<string, object?>("server.address", uri.IdnHost),
                new KeyValuePair<string, object?>("server.port", uri.Port),
                new KeyValuePair<string, object?>("url.scheme", uri.Scheme),
                new KeyValuePair<string, object?>("network.protocol.version", "1.1"));
        }
    }

    /// <summary>Arms a one-shot timer that logs the holders if the wait outlives the slow-wait threshold.</summary>
    private IDisposable? WatchSlowWait(string hostKey, FetchOperation operation, long started)
    {
        var threshold = TetherDiagnostics.SlowPoolWaitThreshold;
        if (threshold == Timeout.InfiniteTimeSpan || TetherDiagnostics.Policy == LeakPolicy.Off)
        {
            return null;
        }

        using (ExecutionContext.SuppressFlow())
        {
            return new Timer(_ =>
            {
                var holders = Holders();
                LeakTracker.OnSlowPoolWait(hostKey, Stopwatch.GetElapsedTime(started), this, operation.Client.AllocationSite,
                    operation.Client.Options.Logger, holders, DescribeHolders(holders));
            }, null, threshold, Timeout.InfiniteTimeSpan);
        }
    }

    private List<LedgerEntry> Holders() =>
        Snapshot().Where(static e => e.State is ConnectionState.Active or ConnectionState.Connecting).ToList();

    private static string DescribeHolders(List<LedgerEntry> holders) => holders.Count == 0
        ? " No socket is active: the slots are held by fetches that are still connecting or by responses not yet read."
        : string.Concat(holders.Take(20).Select(e =>
            $"{Environment.NewLine}  - socket {e.Id} to {e.HostKey}, owner {e.OwnerClient ?? "?"}, age {e.Age.TotalSeconds:F1}s, " +
            $"in flight: {e.CurrentRequest ?? "(response not yet read)"}, allocated at {e.AllocationSite}"));

    private FetchException PoolWaitTimeout(string hostKey, FetchOperation operation)
    {
        if (TetherMetrics.PoolWaitTimeouts.Enabled)
        {
            TetherMetrics.PoolWaitTimeouts.Add(1, new KeyValuePair<string, object?>("tether.pool.kind", Kind));
        }

        var lines = DescribeHolders(Holders());
        var message =
            $"Timed out after {Options.PoolWaitTimeout} waiting for a connection to {hostKey} in {Name}: " +
            $"MaxConnectionsPerHost = {Options.MaxConnectionsPerHost}, MaxConnectionsTotal = {Options.MaxConnectionsTotal}. " +
            "Dispose or read streamed responses, raise the limits, or raise PoolWaitTimeout. Holders:" + lines;
        return new FetchException(FetchException.NoResponse, FetchErrorKind.PoolWaitTimeout, message, operation.Request,
            inner: new TimeoutException(message));
    }

    internal Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, FetchOperation operation, CancellationToken cancellationToken)
    {
        EnsureStarted();
        if (request is TetherRequestMessage own)
        {
            own.Operation = operation.Handle; // no Options dictionary per request
        }
        else
        {
            request.Options.Set(s_operationKey, operation.Handle);
        }

        if (!_transports.TryGetValue(operation.Settings.Transport, out var invoker))
        {
            invoker = AddTransport(operation.Settings);
        }

        if (IsClosed)
        {
            // Closed between the check and GetOrAdd: do not leave a fresh handler behind.
            invoker.Dispose();
            throw new ObjectDisposedException(Name, $"{Name} is closed; create a new pool or client.");
        }

        return TetherMetrics.RequestDuration.Enabled || TetherMetrics.ActiveRequests.Enabled
            ? SendMeasuredAsync(invoker, request, cancellationToken)
            : invoker.SendAsync(request, cancellationToken);
    }

    /// <summary>The send with <c>http.client.request.duration</c> and <c>http.client.active_requests</c>; only taken
    /// when a listener is attached.</summary>
    private static async Task<HttpResponseMessage> SendMeasuredAsync(HttpMessageInvoker invoker, HttpRequestMessage request,
        CancellationToken cancellationToken)
    {
        var uri = request.RequestUri!;
        var tags = new TagList
        {
            { "http.request.method", request.Method.Method },
            { "server.address", uri.IdnHost },
            { "server.port", uri.Port },
            { "url.scheme", uri.Scheme },
        };
        var active = TetherMetrics.ActiveRequests.Enabled;
        if (active)
        {
            TetherMetrics.ActiveRequests.Add(1, tags);
        }

        var started = Stopwatch.GetTimestamp();
        HttpResponseMessage? response = null;
        string? error = null;
        try
        {
            response = await invoker.SendAsync(request, cancellationToken).ConfigureAwait(false);
            return response;
        }
        catch (Exception ex)
        {
            error = ex is HttpRequestException { HttpRequestError: var e and not HttpRequestError.Unknown }
                ? e.ToString()
                : ex is OperationCanceledException ? "cancelled" : ex.GetType().FullName;
            throw;
        }
        finally
        {
            if (active)
            {
                TetherMetrics.ActiveRequests.Add(-1, tags);
            }

            if (TetherMetrics.RequestDuration.Enabled)
            {
                var duration = tags;
                if (response is not null)
                {
                    duration.Add("http.response.status_code", (int)response.StatusCode);
                    duration.Add("network.protocol.version", TetherMetrics.ProtocolVersion(response.Version));
                }
                else
                {
                    duration.Add("error.type", error);
                }

                TetherMetrics.RequestDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, duration);
            }
        }
    }

    // Separate from SendAsync so that the hot path allocates no closure for the (rare) first use of a transport.
    private HttpMessageInvoker AddTransport(ResolvedSettings settings) =>
        _transports.GetOrAdd(settings.Transport, key => new HttpMessageInvoker(CreateHandler(key, settings), disposeHandler: true));

    /// <summary>The fetch that sends <paramref name="request"/>, if it is still running.</summary>
    private static FetchOperation? OperationOf(HttpRequestMessage request) =>
        request is TetherRequestMessage own ? own.Operation?.Operation
        : request.Options.TryGetValue(s_operationKey, out var handle) ? handle.Operation : null;

    private SocketsHttpHandler CreateHandler(TransportKey key, ResolvedSettings settings)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = ConnectAsync,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            MaxConnectionsPerServer = Options.MaxConnectionsPerHost,
            PooledConnectionIdleTimeout = Options.IdleTimeout,
            PooledConnectionLifetime = Options.MaxLifetime,
            ConnectTimeout = Timeout.InfiniteTimeSpan,
            MaxResponseHeadersLength = Math.Max(1, key.MaxHeaderSize / 1024),
            EnableMultipleHttp2Connections = true,
            // Header values outside ASCII travel as Latin-1 both ways (RequestBuilder rejects what Latin-1 cannot hold).
            RequestHeaderEncodingSelector = static (_, _) => System.Text.Encoding.Latin1,
            ResponseHeaderEncodingSelector = static (_, _) => System.Text.Encoding.Latin1,
            PlaintextStreamFilter = static (context, _) =>
            {
                if (OperationOf(context.InitialRequestMessage) is { } op
                    && context.InitialRequestMessage.RequestUri?.Scheme == Uri.UriSchemeHttps)
                {
                    op.OnTlsEnd();
                }

                return ValueTask.FromResult(context.PlaintextStream);
            },
        };

        if (settings.Proxy is { } proxyUri)
        {
            var proxy = new WebProxy(proxyUri) { BypassProxyOnLocal = false };
            if (settings.ProxyUsername is not null)
            {
                proxy.Credentials = new NetworkCredential(settings.ProxyUsername, settings.ProxyPassword ?? string.Empty);
            }

            handler.Proxy = proxy;
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
            ssl.CertificateChainPolicy.CustomTrustStore.AddRange(roots);
        }

        if (settings.ClientCertificate is { } clientCertificate)
        {
            ssl.ClientCertificates = new X509CertificateCollection { clientCertificate };
        }

        handler.SslOptions = ssl;
        return handler;
    }

    /// <summary>Makes every socket the handler uses: records it, bounds the connect by the fetch's connect timeout,
    /// and makes room under the total limit by closing the longest-idle connection to another host.</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var operation = OperationOf(context.InitialRequestMessage);
        if (operation is { IsCompleted: true })
        {
            // The handler may start a connection for a request that has already finished (it fills its pool for the
            // requests still queued): that fetch's tokens are disposed, so the attempt runs on the pool's own terms.
            operation = null;
        }

        var uri = context.InitialRequestMessage.RequestUri!;
        var settings = operation?.Settings;
        var lifetime = Options.MaxLifetime;
        if (lifetime != Timeout.InfiniteTimeSpan && Options.LifetimeJitter > 0)
        {
            lifetime -= lifetime * (Random.Shared.NextDouble() * Options.LifetimeJitter);
        }

        if (operation is { RetryAllowed: false })
        {
            // The handler's automatic retry of a request that must not be re-sent: fail before opening a socket.
            throw new RetryRefusedException(operation.RetryRefusal());
        }

        await TakeSocketSlotAsync(Redaction.HostKey(uri), operation, cancellationToken).ConfigureAwait(false);
        var connection = new TrackedConnection(this, Redaction.HostKey(uri),
            operation?.AllocationSite ?? operation?.Client.AllocationSite ?? "unknown", lifetime);
        Socket socket;
        try
        {
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        }
        catch
        {
            _socketSlots!.Release(); // no socket, no ledger entry: give the slot back here
            throw;
        }

        connection.Socket = socket;
        _connections[connection.Id] = connection;
        SocketLedger.Add(connection);
        if (IsClosed)
        {
            connection.Abort();
            throw new ObjectDisposedException(Name, $"{Name} is closed; create a new pool or client.");
        }

        operation?.OnConnectStart();
        var connectStarted = Stopwatch.GetTimestamp();
        var connectTimeout = settings?.ConnectTimeout ?? ResolvedSettings.DefaultConnectTimeout;
        using var timeout = new CancellationTokenSource(connectTimeout);
        CancellationTokenSource linked;
        try
        {
            linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token,
                operation?.AbortToken ?? CancellationToken.None, operation?.FetchToken ?? CancellationToken.None);
        }
        catch
        {
            // The fetch completed in the meantime (its token sources are disposed): the socket is registered and holds
            // a slot, so it must be closed here, on this failure path too.
            connection.Abort();
            throw;
        }

        using var linkedScope = linked;
        // Whatever the connect is doing when the fetch gives up (timeout, cancel, close), closing the socket ends it:
        // a connect must never outlive its deadline holding an fd and a socket slot.
        using var closeOnCancel = linked.Token.UnsafeRegister(static s => ((TrackedConnection)s!).Abort(), connection);
        try
        {
            var host = context.DnsEndPoint.Host;
            var port = context.DnsEndPoint.Port;
            if (IPAddress.TryParse(host, out var literal))
            {
                if (literal.AddressFamily == AddressFamily.InterNetworkV6 && settings is { AllowIPv6: false })
                {
                    throw new SocketException((int)SocketError.AddressFamilyNotSupported);
                }

                await socket.ConnectAsync(new IPEndPoint(literal, port), linked.Token).ConfigureAwait(false);
            }
            else
            {
                var addresses = await Dns.GetHostAddressesAsync(host,
                    settings is { AllowIPv6: false } ? AddressFamily.InterNetwork : AddressFamily.Unspecified, linked.Token).ConfigureAwait(false);
                if (addresses.Length == 0)
                {
                    throw new SocketException((int)SocketError.HostNotFound);
                }

                await socket.ConnectAsync(addresses, port, linked.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            connection.Abort();
            if (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new ConnectTimeoutException(connectTimeout, $"{context.DnsEndPoint.Host}:{context.DnsEndPoint.Port}", ex);
            }

            throw;
        }

        operation?.OnConnectEnd();
        connection.MarkConnected(socket, uri, context.InitialRequestMessage.Version);
        if (IsClosed)
        {
            connection.Abort();
            throw new ObjectDisposedException(Name, $"{Name} is closed; create a new pool or client.");
        }

        if (operation is not null && uri.Scheme == Uri.UriSchemeHttps && connectTimeout != Timeout.InfiniteTimeSpan)
        {
            // ConnectTimeout covers the TLS handshake (and a proxy's CONNECT) too, as in Tornado: the handler does
            // those after this callback returns, so a deadline aborts the socket if they are not done in time.
            var remaining = connectTimeout - Stopwatch.GetElapsedTime(connectStarted);
            operation.ArmHandshakeDeadline(connection, remaining > TimeSpan.Zero ? remaining : TimeSpan.FromMilliseconds(1));
        }

        StartReaper();
        return new LedgerStream(socket, connection);
    }

    /// <remarks>Known race: the handler may be picking the victim for a request to its host at the same moment; that
    /// request then fails with a transport error. Victims are taken from other hosts first (whose requests, if any,
    /// hold total slots too), and the longest idle first, to make that unlikely.</remarks>
    /// <summary>
    /// A hard cap on live sockets: MaxConnectionsTotal counts every socket the pool owns, idle and closing ones
    /// included, until its fd is closed. When none is free, the longest-idle connection (another host's first) is
    /// closed to make room and this connect waits for its slot, bounded by the connect timeout.
    /// </summary>
    private async ValueTask TakeSocketSlotAsync(string hostKey, FetchOperation? operation, CancellationToken cancellationToken)
    {
        var slots = _socketSlots!;
        if (slots.TryTake())
        {
            return;
        }

        var wait = operation?.Settings.ConnectTimeout ?? ResolvedSettings.DefaultConnectTimeout;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken,
            operation?.AbortToken ?? CancellationToken.None, operation?.FetchToken ?? CancellationToken.None);
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            // Close the longest-idle connection to make room; while every socket is busy, look again every 50 ms,
            // because a connection that goes idle later is not announced to the waiters.
            MakeRoom(hostKey);
            var left = wait == Timeout.InfiniteTimeSpan ? TimeSpan.FromMilliseconds(50) : wait - Stopwatch.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                throw new ConnectTimeoutException(wait, hostKey, new TimeoutException(
                    $"No socket slot became free under MaxConnectionsTotal = {Options.MaxConnectionsTotal}."));
            }

            if (await slots.WaitAsync(left < TimeSpan.FromMilliseconds(50) ? left : TimeSpan.FromMilliseconds(50), linked.Token)
                .ConfigureAwait(false))
            {
                return;
            }
        }
    }

    private void MakeRoom(string hostKey)
    {
        if (_connections.Count < Options.MaxConnectionsTotal)
        {
            return;
        }

        var victims = _connections.Values
            .Where(static c => c.State == ConnectionState.Idle)
            .OrderBy(c => c.HostKey == hostKey ? 1 : 0)
            .ThenByDescending(static c => c.IdleFor);
        foreach (var victim in victims)
        {
            if (victim.TryCloseIdle())
            {
                return;
            }
        }
    }

    private void StartReaper()
    {
        lock (_gate)
        {
            if (_reaper is not null || IsClosed)
            {
                return;
            }

            // No ExecutionContext flows into the timer: it must not capture a fetch's AsyncLocals.
            using (ExecutionContext.SuppressFlow())
            {
                _reaper = new Timer(static s => ((ConnectionPool)s!).Reap(), this, Options.ReaperInterval, Options.ReaperInterval);
            }
        }
    }

    private void Reap()
    {
        foreach (var connection in _connections.Values)
        {
            if (connection.State != ConnectionState.Idle)
            {
                continue;
            }

            var idleTooLong = Options.IdleTimeout != Timeout.InfiniteTimeSpan && connection.IdleFor > Options.IdleTimeout;
            if (idleTooLong || connection.IsExpired || PeerClosed(connection.Socket))
            {
                connection.TryCloseIdle();
            }
        }

        lock (_gate)
        {
            if (_connections.IsEmpty && _reaper is not null)
            {
                _reaper.Dispose();
                _reaper = null;
            }
        }
    }

    /// <summary>An idle socket that is readable with nothing to read has seen the server's FIN (or RST): it sits in
    /// CLOSE_WAIT until we close it.</summary>
    private static bool PeerClosed(Socket? socket)
    {
        if (socket is null)
        {
            return false;
        }

        try
        {
            return socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return true;
        }
    }

    internal void OnConnectionReleased(TrackedConnection connection)
    {
        if (connection.IsExpired)
        {
            connection.TryCloseIdle();
        }
    }

    internal void OnConnectionClosed(TrackedConnection connection)
    {
        if (_connections.TryRemove(connection.Id, out _))
        {
            _socketSlots?.Release();
        }

        SocketLedger.Remove(connection);
        CheckDrained();
    }

    private void CheckDrained()
    {
        if (IsClosed && _connections.IsEmpty)
        {
            _drained.TrySetResult();
        }
    }
}
