using System.Net;
using System.Net.Sockets;
using Tether.Diagnostics;

namespace Tether;

/// <summary>The connect callback: every socket the handler uses is made, recorded and bounded here. A connection
/// attempt belongs to the pool, not to the request that made the handler start it (the handler may give the
/// connection to another request, or start it for a request that has already gone): its deadline is its own.</summary>
public sealed partial class ConnectionPool
{
    private AsyncFifoSemaphore? _socketSlots;

    /// <summary>Whether a connection attempt is waiting for a socket slot under
    /// <see cref="ConnectionPoolOptions.MaxConnectionsTotal"/> (for tests).</summary>
    internal bool HasSocketSlotWaiters => _socketSlots is { HasWaiters: true };

    /// <summary>Called with each connection record as it is added to the ledger (for tests).</summary>
    internal Action<TrackedConnection>? RecordAdded { get; set; }

    /// <summary>Awaited as each connection attempt begins, before it reads anything from the request that caused it
    /// (for tests: the handler can start an attempt after that request's fetch is over, as a loaded machine shows).</summary>
    internal Func<ValueTask>? AttemptStarting { get; set; }

    /// <summary>Makes every socket the handler uses: takes a socket slot (making room under the total limit by
    /// closing an idle connection), records it in the ledger, and bounds the attempt (DNS, TCP, then TLS) by its own
    /// connect deadline (CORE-04).</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, Transport transport, CancellationToken cancellationToken)
    {
        // The handler starts an attempt for a request that may be over by the time the attempt runs (on a loaded
        // machine, after the loop that owned the pool closed it). Such an attempt makes no socket and no ledger record:
        // a stress run saw one listed, "Connecting", for a moment after FAULT-14's loop had closed its pool. Until its
        // record is added the attempt is counted (_unrecordedAttempts), so a close that races this check does not
        // report the pool drained before the attempt has added its record and seen the close (the check after it).
        Interlocked.Increment(ref _unrecordedAttempts);
        var unrecorded = true;
        try
        {
            if (AttemptStarting is { } starting)
            {
                await starting().ConfigureAwait(false);
            }

            if (IsClosed)
            {
                throw ClosedError();
            }

            // What the request that caused the attempt says about it is read once, as values: the attempt keeps no
            // reference to that fetch (it may be over already, and must stay collectable). Its deadline and address
            // rules were copied onto the request when it was sent, so an attempt the handler starts after the fetch was
            // cancelled still ends at that fetch's ConnectTimeout (a CI run saw one take the 20 s default, ended only
            // by the handler's own 5 s cancel of attempts whose request is gone).
            var attempt = AttemptOf(context.InitialRequestMessage);
            var connectTimeout = attempt?.ConnectTimeout ?? ResolvedSettings.DefaultConnectTimeout;
            var allowIPv6 = attempt?.AllowIPv6 ?? true;
            var site = attempt?.Site ?? "unknown";
            var operation = OperationOf(context.InitialRequestMessage);
            var openedBy = operation?.Client.Name;
            var openedByLoop = operation?.Loop?.Name;
            operation = null;

            var uri = context.InitialRequestMessage.RequestUri!;
            var hostKey = Redaction.HostKey(uri);
            var lifetime = Options.MaxLifetime;
            if (lifetime != Timeout.InfiniteTimeSpan && Options.LifetimeJitter > 0)
            {
                lifetime -= lifetime * (Random.Shared.NextDouble() * Options.LifetimeJitter);
            }

            // The attempt's deadline runs on the pool's clock (issue 13); with the system clock these are the same sources
            // as new CancellationTokenSource() / new CancellationTokenSource(connectTimeout).
            var started = Clock.Now(Time);
            using var deadline = connectTimeout == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(connectTimeout, Time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
            try
            {
                await TakeSocketSlotAsync(hostKey, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new ConnectTimeoutException(connectTimeout, hostKey, new TimeoutException(
                    $"No socket slot became free under MaxConnectionsTotal = {Options.MaxConnectionsTotal}.", ex),
                    socketSlotHolders: DescribeSocketHolders());
            }
            catch (OperationCanceledException) when (IsClosed)
            {
                throw ClosedError();
            }

            // The record exists (and holds the socket slot) from here; its socket is the race's winner, taken below.
            var connection = new TrackedConnection(this, hostKey, site, openedBy, openedByLoop, lifetime);
            // The socket keeps its handler in use until its fd closes. A retired handler is being disposed: its attempt
            // still gets a record (the cleanup below releases it), and fails at the closed check or with the handler.
            connection.Transport = transport.TryUse() ? transport : null;
            _connections[connection.Id] = connection;
            SocketLedger.Add(connection);
            RecordAdded?.Invoke(connection);
            unrecorded = false;
            AttemptRecorded();
            if (IsClosed)
            {
                connection.Abort();
                throw ClosedError();
            }

            // Whatever the connect is doing when the attempt gives up (its deadline, the handler's cancel) or the pool
            // aborts the record, cancelling the race closes every attempt's socket: a connect never outlives its deadline
            // holding an fd and a socket slot.
            connection.ConnectAttempts = linked;
            using var closeOnCancel = linked.Token.UnsafeRegister(static s => ((TrackedConnection)s!).Abort(), connection);
            Socket socket;
            try
            {
                var host = context.DnsEndPoint.Host;
                var port = context.DnsEndPoint.Port;
                IPAddress[] addresses;
                if (IPAddress.TryParse(host, out var literal))
                {
                    if (literal.AddressFamily == AddressFamily.InterNetworkV6 && !allowIPv6)
                    {
                        throw new SocketException((int)SocketError.AddressFamilyNotSupported);
                    }

                    addresses = [literal];
                }
                else
                {
                    var family = !allowIPv6 ? AddressFamily.InterNetwork : AddressFamily.Unspecified;
                    addresses = Options.HostResolver is { } resolve
                        ? await resolve(host, family, linked.Token).ConfigureAwait(false)
                        : await Dns.GetHostAddressesAsync(host, family, linked.Token).ConfigureAwait(false);
                    if (addresses.Length == 0)
                    {
                        throw new SocketException((int)SocketError.HostNotFound);
                    }
                }

                // CORE-12: several addresses are raced (RFC 8305), so one that drops SYNs costs ConnectAttemptDelay, not
                // the whole ConnectTimeout.
                socket = await AddressConnector.ConnectAsync(addresses, port, Options.ConnectAttemptDelay, linked.Token, Time)
                    .ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                connection.ConnectAttempts = null;
                connection.Abort();
                if (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    throw new ConnectTimeoutException(connectTimeout, $"{context.DnsEndPoint.Host}:{context.DnsEndPoint.Port}", ex);
                }

                throw;
            }

            connection.ConnectAttempts = null;
            connection.Socket = socket;
            if (connection.Stage == ConnectionState.Closing)
            {
                // Aborted between the race's end and the line above (Abort saw no socket yet): close the winner here.
                socket.Dispose();
                connection.Abort();
                if (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    throw new ConnectTimeoutException(connectTimeout, $"{context.DnsEndPoint.Host}:{context.DnsEndPoint.Port}",
                        new OperationCanceledException(linked.Token));
                }

                linked.Token.ThrowIfCancellationRequested();
                throw ClosedError();
            }

            connection.MarkConnected(socket);
            if (IsClosed)
            {
                connection.Abort();
                throw ClosedError();
            }

            // The stream is made before the handshake deadline is armed: a deadline (or a close) that aborts the socket
            // first would make the NetworkStream constructor throw "not allowed on non-connected sockets", a transport
            // failure, where the caller is owed a connect timeout or the closed error (a fake clock advanced as soon as
            // the timer was armed found this).
            LedgerStream stream;
            try
            {
                stream = new LedgerStream(socket, connection, connectTimeout);
            }
            catch (IOException) when (connection.Stage == ConnectionState.Closing && IsClosed)
            {
                // The pool's close aborted the socket between MarkConnected and here.
                throw ClosedError();
            }

            var viaProxy = !string.Equals(context.DnsEndPoint.Host, uri.IdnHost, StringComparison.OrdinalIgnoreCase)
                || context.DnsEndPoint.Port != uri.Port;
            connection.SharedAcrossOrigins = viaProxy && uri.Scheme == Uri.UriSchemeHttp;
            if (uri.Scheme == Uri.UriSchemeHttps && !viaProxy)
            {
                // ConnectTimeout covers the TLS handshake too, as in Tornado. The handler runs it after this callback
                // returns, so the attempt arms its own deadline for it; the PlaintextStreamFilter disarms it when the
                // handshake is done (MarkOpen). Through a proxy tunnel the TLS stream does not sit on this stream
                // directly, so the handshake is not bounded here (the request's own timeouts still apply to the fetch).
                if (connectTimeout != Timeout.InfiniteTimeSpan)
                {
                    var remaining = connectTimeout - Clock.Since(Time, started);
                    connection.ArmHandshakeDeadline(remaining > TimeSpan.Zero ? remaining : TimeSpan.FromMilliseconds(1));
                }
            }
            else
            {
                connection.MarkOpen();
            }

            StartReaper();
            return stream;
        }
        finally
        {
            if (unrecorded)
            {
                AttemptRecorded();
            }
        }
    }

    // The attempt's record is in the ledger and in _connections (or the attempt gave up before making one): the close
    // sees it from here.
    private void AttemptRecorded()
    {
        Interlocked.Decrement(ref _unrecordedAttempts);
        CheckDrained();
    }

    /// <summary>
    /// A hard cap on live sockets: MaxConnectionsTotal counts every socket the pool owns, idle and closing ones
    /// included, until its fd is closed. When none is free, an idle connection (another origin's first) is closed to
    /// make room; otherwise the attempt waits in FIFO order for a socket to close, woken by that close (or by a
    /// released fetch slot that leaves an origin idle), bounded by the attempt's deadline in
    /// <paramref name="cancellationToken"/>. No polling, no timer of its own.
    /// </summary>
    private async ValueTask TakeSocketSlotAsync(string hostKey, CancellationToken cancellationToken)
    {
        var slots = _socketSlots!;
        if (slots.TryTake())
        {
            return;
        }

        MakeRoom(hostKey);
        // The close wakes the waiters (_closing) rather than leaving them to their connect deadline: the pool is not
        // drained while an attempt waits here (_unrecordedAttempts).
        using var waitOrClose = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
        await slots.WaitAsync(Timeout.InfiniteTimeSpan, waitOrClose.Token).ConfigureAwait(false);
    }

    /// <summary>The sockets that hold the pool's socket slots, by origin and state, for a connect that waited for one
    /// until its deadline (an attempt whose fetch was cancelled keeps its socket until its own ConnectTimeout:
    /// encode/httpcore#1099).</summary>
    private string DescribeSocketHolders()
    {
        var groups = _connections.Values
            .GroupBy(static c => (c.HostKey, c.State))
            .OrderBy(static g => g.Key.HostKey, StringComparer.Ordinal)
            .Take(10)
            .Select(static g => $"{g.Key.HostKey} {g.Key.State.ToString().ToLowerInvariant()} x{g.Count()}");
        return $"MaxConnectionsTotal = {Options.MaxConnectionsTotal} sockets in use, none idle: {string.Join(", ", groups)}.";
    }

    /// <summary>Closes one exactly-idle connection (no request to its origin in flight), another origin's first and
    /// the longest-quiet first, when the socket cap is reached.</summary>
    private void MakeRoom(string? hostKey)
    {
        if (_connections.Count < Options.MaxConnectionsTotal)
        {
            return;
        }

        CloseIdle(static (_, _) => true, preferAwayFrom: hostKey, max: 1);
    }
}
