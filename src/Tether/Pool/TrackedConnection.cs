using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tether.Diagnostics;

namespace Tether;

/// <summary>
/// The live ledger record of one socket. Owned by its <see cref="ConnectionPool"/>; the socket itself is owned by
/// the <see cref="LedgerStream"/> that the handler holds, and closing that stream (by the handler, by
/// <see cref="Abort"/> or by <see cref="CloseGracefully"/>) removes this record.
/// </summary>
/// <remarks>Mutable fields are written by the request flow that holds the connection and read by snapshots;
/// they are volatile or guarded by <c>_gate</c>.</remarks>
internal sealed class TrackedConnection
{
    private static long s_nextId;
    private readonly object _gate = new();
    private readonly long _createdTimestamp = Stopwatch.GetTimestamp();
    private volatile FetchOperation? _lease;
    private ConnectionState _state = ConnectionState.Connecting;
    private long _lastUsedTimestamp;
    private long _requests;
    private string? _ownerClient;
    private string? _ownerLoop;
    private FetchOperation? _currentRequest; // described only when a snapshot asks (same lifetime as _lease)
    private int _closed;
    private TagList _metricTags;
    private ConnectionState? _metricState;
    private long _connectedTimestamp;

    public TrackedConnection(ConnectionPool pool, string hostKey, string allocationSite, TimeSpan lifetime)
    {
        Id = Interlocked.Increment(ref s_nextId);
        Pool = pool;
        HostKey = hostKey;
        AllocationSite = allocationSite;
        CreatedAt = DateTimeOffset.UtcNow;
        LastUsedAt = CreatedAt;
        _lastUsedTimestamp = _createdTimestamp;
        ExpiresAtTimestamp = lifetime == Timeout.InfiniteTimeSpan
            ? long.MaxValue
            : _createdTimestamp + (long)(lifetime.TotalSeconds * Stopwatch.Frequency);
        Transitioned?.Invoke(Id, ConnectionState.Connecting);
    }

    public long Id { get; }

    public ConnectionPool Pool { get; }

    public string HostKey { get; }

    public string AllocationSite { get; }

    public DateTimeOffset CreatedAt { get; }

    public DateTimeOffset LastUsedAt { get; private set; }

    public long ExpiresAtTimestamp { get; }

    public Socket? Socket { get; set; }

    /// <summary>Set while the connect races the host's addresses (no socket is recorded yet): <see cref="Abort"/>
    /// cancels it, which closes every attempt's socket (<see cref="AddressConnector"/>).</summary>
    public CancellationTokenSource? ConnectAttempts { get; set; }

    public IPEndPoint? LocalEndPoint { get; set; }

    public IPEndPoint? RemoteEndPoint { get; set; }

    public ConnectionState State
    {
        get { lock (_gate) { return _state; } }
    }

    public FetchOperation? Lease => _lease;

    public long RequestsServed => Interlocked.Read(ref _requests);

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    public TimeSpan IdleFor
    {
        get
        {
            lock (_gate)
            {
                return _state == ConnectionState.Idle ? Stopwatch.GetElapsedTime(_lastUsedTimestamp) : TimeSpan.Zero;
            }
        }
    }

    public bool IsExpired => Stopwatch.GetTimestamp() >= ExpiresAtTimestamp;

    public void MarkConnected(Socket socket, Uri origin, Version version)
    {
        Socket = socket;
        LocalEndPoint = socket.LocalEndPoint as IPEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint as IPEndPoint;
        lock (_gate)
        {
            if (_state == ConnectionState.Connecting)
            {
                _connectedTimestamp = Stopwatch.GetTimestamp();
                _lastUsedTimestamp = _connectedTimestamp;
                if (TetherMetrics.OpenConnections.Enabled || TetherMetrics.ConnectionDuration.Enabled)
                {
                    // Decided once per connection, so every +1 has its -1 even if a listener comes or goes.
                    _metricTags = new TagList
                    {
                        { "server.address", origin.IdnHost },
                        { "server.port", origin.Port },
                        { "url.scheme", origin.Scheme },
                        { "network.protocol.version", TetherMetrics.ProtocolVersion(version) },
                    };
                    _metricState = ConnectionState.Idle;
                    AddOpen(ConnectionState.Idle, 1);
                }

                SetState(ConnectionState.Idle);
            }
        }
    }

    /// <summary>Test and diagnostics hook: called under the record's lock on every state change (including the
    /// final one to "gone", reported as null). Null by default, so the hot path pays one static read.</summary>
    internal static Action<long, ConnectionState?>? Transitioned { get; set; }

    private void SetState(ConnectionState state)
    {
        if (_state == state)
        {
            return;
        }

        _state = state;
        Transitioned?.Invoke(Id, state);
        if (_metricState is { } counted && state is ConnectionState.Idle or ConnectionState.Active && counted != state)
        {
            AddOpen(counted, -1);
            AddOpen(state, 1);
            _metricState = state;
        }
    }

    private void AddOpen(ConnectionState state, long delta)
    {
        var tags = _metricTags;
        tags.Add("http.connection.state", TetherMetrics.StateName(state));
        TetherMetrics.OpenConnections.Add(delta, tags);
    }

    /// <summary>Called from the request flow when the handler writes a request on this connection.</summary>
    /// <returns>False when the connection is already closing (the pool evicted or reaped it): the write will fail
    /// and the fetch may send once more.</returns>
    public bool Attach(FetchOperation operation)
    {
        lock (_gate)
        {
            if (_state == ConnectionState.Closing)
            {
                return false;
            }

            SetState(ConnectionState.Active);
            _lastUsedTimestamp = Stopwatch.GetTimestamp();
            LastUsedAt = DateTimeOffset.UtcNow;
            _ownerClient = operation.Client.Name;
            _ownerLoop = operation.Loop?.Name;
            _currentRequest = operation;
            _lease = operation;
        }

        var served = Interlocked.Increment(ref _requests);
        operation.OnConnectionAttached(this, reused: served > 1);
        return true;
    }

    /// <summary>Closes the connection gracefully only if it is idle, deciding under the same lock that
    /// <see cref="Attach"/> takes: a request the handler is starting on it either attached first (then it is left
    /// alone) or finds it closing (then its fetch knows nothing reached the server).</summary>
    /// <returns>True when it was idle and is now closed.</returns>
    public bool TryCloseIdle()
    {
        lock (_gate)
        {
            if (_state != ConnectionState.Idle)
            {
                return false;
            }

            SetState(ConnectionState.Closing);
        }

        CloseGracefully();
        return true;
    }

    /// <summary>Called when the fetch that held this connection finished with it.</summary>
    public void Detach(FetchOperation operation)
    {
        lock (_gate)
        {
            if (_lease != operation)
            {
                return;
            }

            _lease = null;
            _currentRequest = null;
            if (_state == ConnectionState.Active)
            {
                SetState(ConnectionState.Idle);
                _lastUsedTimestamp = Stopwatch.GetTimestamp();
                LastUsedAt = DateTimeOffset.UtcNow;
            }
        }

        Pool.OnConnectionReleased(this);
    }

    /// <summary>Marks the record closing. Returns false when it already was.</summary>
    public bool BeginClose()
    {
        lock (_gate)
        {
            if (_state == ConnectionState.Closing)
            {
                return false;
            }

            SetState(ConnectionState.Closing);
            return true;
        }
    }

    /// <summary>Hard close: RST (linger 0), so neither side keeps TIME_WAIT or CLOSE_WAIT. For connections that are
    /// mid-request or held by a response nobody will read.</summary>
    public void Abort()
    {
        BeginClose();
        try
        {
            ConnectAttempts?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The connect is over; its socket, if any, is closed below.
        }

        var socket = Socket;
        if (socket is not null)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already closed underneath: nothing to reset.
            }

            socket.Dispose();
        }

        OnSocketClosed();
    }

    /// <summary>Graceful close (FIN) of an idle connection.</summary>
    public void CloseGracefully()
    {
        BeginClose();
        Socket?.Dispose();
        OnSocketClosed();
    }

    /// <summary>The fd is closed: leave the ledger. Idempotent.</summary>
    public void OnSocketClosed()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        lock (_gate)
        {
            SetState(ConnectionState.Closing);
            if (_metricState is { } counted)
            {
                _metricState = null;
                AddOpen(counted, -1);
                TetherMetrics.ConnectionDuration.Record(Stopwatch.GetElapsedTime(_connectedTimestamp).TotalSeconds, _metricTags);
            }

            Transitioned?.Invoke(Id, null);
        }

        Pool.OnConnectionClosed(this);
    }

    public LedgerEntry ToEntry()
    {
        lock (_gate)
        {
            return new LedgerEntry(
                Id,
                LocalEndPoint,
                RemoteEndPoint,
                HostKey,
                _state,
                Pool.Name,
                _ownerClient,
                _ownerLoop,
                CreatedAt,
                LastUsedAt,
                Stopwatch.GetElapsedTime(_createdTimestamp),
                Interlocked.Read(ref _requests),
                _currentRequest?.Describe(),
                AllocationSite);
        }
    }
}
