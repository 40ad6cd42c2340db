using System.Collections.Concurrent;
using Tether.Diagnostics;

namespace Tether;

/// <summary>
/// Owns keep-alive connections and every socket under them, on top of <see cref="SocketsHttpHandler"/>.
/// </summary>
/// <remarks>
/// <para>
/// How it works: the handler owns connections (rent and return, HTTP/2 multiplexing, the re-sends the protocol marks
/// safe); Tether owns scopes. The pool keeps one <see cref="SocketsHttpHandler"/> per <c>TransportKey</c> (certificate
/// trust, client certificate, proxy, IPv6, header limit); the handler pools per scheme, host and port. Every socket is
/// made by the pool's <c>ConnectCallback</c>, recorded in the <see cref="SocketLedger"/>, and bounded by a deadline
/// owned by that connection attempt. Before a request is handed to the handler it takes a per-host slot and a total
/// slot (FIFO, with <see cref="ConnectionPoolOptions.PoolWaitTimeout"/>), held by its fetch until the response is read
/// or disposed, so no request ever waits invisibly inside the handler and the pool knows exactly which fetches hold
/// it. An origin with no slot held has no request in flight, so its connections are exactly idle: only those are
/// closed by the reaper (server closed them, <see cref="ConnectionPoolOptions.IdleTimeout"/>, jittered
/// <see cref="ConnectionPoolOptions.MaxLifetime"/>), by <see cref="CloseIdleConnections"/> and to make room under
/// <see cref="ConnectionPoolOptions.MaxConnectionsTotal"/>, with <see cref="ConnectionPoolOptions.IdleCloseMode"/>.
/// </para>
/// <para>
/// Ownership: a pool created by a client is owned and closed by that client. A pool created with
/// <c>new ConnectionPool()</c> is owned by the caller, who must close it. <see cref="Process"/> is owned by the
/// process and cannot be closed. Closing a pool closes its exactly-idle connections with
/// <see cref="ConnectionPoolOptions.IdleCloseMode"/> (a FIN by default), fails every fetch holding its slots and aborts
/// (RST) every other socket it owns, including sockets held by responses nobody disposed, and returns when the ledger
/// holds none of them.
/// Aborting one fetch never touches a socket: it cancels the fetch and disposes its response, and the handler closes
/// exactly that HTTP/1.1 connection or resets exactly that HTTP/2 stream.
/// </para>
/// <para>Files: this one (lifecycle and close paths), <c>ConnectionPool.Slots.cs</c> (per-host and total slots, the
/// holders), <c>ConnectionPool.Transports.cs</c> (handlers and sending), <c>ConnectionPool.Connect.cs</c> (the connect
/// callback and the socket cap), <c>ConnectionPool.Reaper.cs</c> (closing idle connections).</para>
/// <para>Thread-safety: all members are thread-safe.</para>
/// </remarks>
public sealed partial class ConnectionPool : IAsyncDisposable
{
    private static readonly Lazy<ConnectionPool> s_process = new(
        () => new ConnectionPool(
            // CORE-07: no per-host or total cap below a default SocketsHttpHandler's (MaxConnectionsPerServer = int.MaxValue).
            new ConnectionPoolOptions { MaxConnectionsPerHost = int.MaxValue, MaxConnectionsTotal = int.MaxValue },
            "ConnectionPool.Process", isProcess: true));

    private static long s_nextId;
    private readonly object _gate = new();
    private readonly ConcurrentDictionary<long, TrackedConnection> _connections = NewTable<long, TrackedConnection>();
    private readonly bool _isProcess;
    private int _state; // 0 new, 1 started, 2 closed
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Cancelled by the close: wakes the connection attempts still waiting for a socket slot, so they give up at once
    // instead of at their connect deadline (ConnectionPool.Connect.cs).
    private readonly CancellationTokenSource _closing = new();

    // Connection attempts between their first closed check and the ledger record that makes them visible to the close
    // (ConnectionPool.Connect.cs). The pool is drained only when this is 0 as well: a stress run saw an attempt that had
    // waited for a socket slot add its record a moment after CloseAsync had returned.
    private int _unrecordedAttempts;

    /// <summary>A per-pool table, sized for the usual pool (a few origins, handlers and sockets): the default size
    /// (31 buckets) made each of a private pool's three tables cost ~0.4 KB, and a loop per call makes a pool per fetch.
    /// It grows as needed.</summary>
    private static ConcurrentDictionary<TKey, TValue> NewTable<TKey, TValue>() where TKey : notnull =>
        new(Environment.ProcessorCount, capacity: 4);

    /// <summary>Creates a pool owned by the caller, who must close it.</summary>
    /// <param name="options">Limits and timeouts; validated at first use.</param>
    public ConnectionPool(ConnectionPoolOptions? options = null)
        : this(options ?? new ConnectionPoolOptions(), name: null, isProcess: false)
    {
    }

    private ConnectionPool(ConnectionPoolOptions options, string? name, bool isProcess)
    {
        Options = options;
        _id = name is null ? Interlocked.Increment(ref s_nextId) : 0;
        _name = name; // the default name is formatted when first asked for (a loop per call makes a pool per fetch)
        _isProcess = isProcess;
        Kind = isProcess ? PoolKinds.Process : PoolKinds.Caller;
    }

    /// <summary>Who owns the pool (<c>client</c>, <c>caller</c>, <c>process</c>): the <c>tether.pool.kind</c>
    /// attribute, and whether first connections count towards churn warnings.</summary>
    internal string Kind { get; init; }

    /// <summary>The clock used when <see cref="ConnectionPoolOptions.TimeProvider"/> is not set: a client's private
    /// pool gets the client's.</summary>
    internal TimeProvider? InheritedTime { get; init; }

    /// <summary>The meter factory of the pool's <see cref="SocketsHttpHandler"/>s (their <c>System.Net.Http</c>
    /// instruments), as IHttpClientFactory gives a default primary handler the container's (dotnet/runtime#86888): the DI
    /// pool gets the container's <see cref="System.Diagnostics.Metrics.IMeterFactory"/>. Null: the handler's shared meter.</summary>
    internal System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }

    /// <summary>The clock of the pool's timers (resolved at first use; <see cref="TimeProvider.System"/> before).</summary>
    internal TimeProvider Time { get; private set; } = TimeProvider.System;

    /// <summary>The process-wide pool: lease from it (<see cref="AsyncHttpClientOptions.Pool"/>) so that clients
    /// created per loop or per call share keep-alive connections. Owned by the process; cannot be closed. Its
    /// <see cref="ConnectionPoolOptions.MaxConnectionsPerHost"/> and <see cref="ConnectionPoolOptions.MaxConnectionsTotal"/>
    /// are <see cref="int.MaxValue"/> (no cap, like a default SocketsHttpHandler; CORE-07); the ledger still lists every
    /// socket.</summary>
    public static ConnectionPool Process => s_process.Value;

    /// <summary>A name for logs and the ledger.</summary>
    public string Name => _name ??= $"ConnectionPool#{_id}";

    private readonly long _id;
    private string? _name;

    /// <summary>The pool's options (frozen at first use).</summary>
    public ConnectionPoolOptions Options { get; }

    /// <summary>Whether the pool has been closed.</summary>
    public bool IsClosed => Volatile.Read(ref _state) == 2;

    /// <summary>The error for any use of a closed pool (a fetch, a connect attempt, a handler).</summary>
    private ObjectDisposedException ClosedError() => new(Name, $"{Name} is closed; create a new pool or client.");

    /// <summary>The number of sockets this pool owns right now.</summary>
    public int Count => _connections.Count;

    /// <summary>A snapshot of this pool's sockets.</summary>
    /// <returns>The ledger entries of this pool, ordered by id.</returns>
    public IReadOnlyList<LedgerEntry> Snapshot() =>
        _connections.Values.Select(static c => c.ToEntry()).OrderBy(static e => e.Id).ToArray();

    /// <summary>The sizes of the pool's per-key tables: origins with slot state, and handlers (CORE-06).</summary>
    internal (int HostKeys, int Transports) TableSizes() => (_hostSlots.Count, _transports.Count);

    /// <summary>Closes the pool: closes its exactly-idle connections with <see cref="ConnectionPoolOptions.IdleCloseMode"/>
    /// (CORE-09), fails every fetch holding its slots with a "pool closed" 599, aborts (RST) every other socket it owns
    /// (in use, connecting, and those held by undisposed responses), and completes when none is left. Idempotent.</summary>
    /// <param name="cancellationToken">Stops waiting (the sockets are already closed when the abort returns).</param>
    /// <returns>A task that completes when the pool owns no socket.</returns>
    /// <exception cref="LoopMisuseException">This is <see cref="Process"/>, which the process owns.</exception>
    public Task CloseAsync(CancellationToken cancellationToken = default)
    {
        if (_isProcess)
        {
            throw LoopMisuseException.SharedClose("ConnectionPool.Process", "new ConnectionPool()", owner: null);
        }

        CloseNow(FetchErrorKind.PoolClosed, $"{Name} was closed", closedBy: null);
        return _drained.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);

    /// <summary>Closes every idle keep-alive connection now, with <see cref="ConnectionPoolOptions.IdleCloseMode"/>.
    /// A connection counts as idle when no request to its origin is in flight in this pool (exact: the pool's slots
    /// say so); connections of an origin with a request in flight are left alone. Allowed on <see cref="Process"/>
    /// too, e.g. before a census or at the end of a test.</summary>
    /// <returns>The number of connections closed.</returns>
    public int CloseIdleConnections() => CloseIdle(static (_, _) => true, preferAwayFrom: null, max: int.MaxValue);

    /// <summary>Synchronous close used by owners: every fd is closed when this returns.</summary>
    /// <param name="kind">The error kind of the fetches that still hold slots (they fail with it).</param>
    /// <param name="reason">Their error text; null to ask <paramref name="closedBy"/> for it, only if such a fetch
    /// exists (a loop per call closes a private pool per fetch, usually with none).</param>
    /// <param name="closedBy">The client that owns this pool and is closing it.</param>
    internal void CloseNow(FetchErrorKind kind, string? reason, AsyncHttpClient? closedBy = null)
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
        {
            return;
        }

        StopReaper();
        _closing.Cancel();

        // CORE-09: the connections that are exactly idle now (open, no request to their origin in flight) take the
        // idle-close path with IdleCloseMode; decided before any fetch is failed below, whose slot release would
        // make its connection look idle. Everything else (in flight, connecting, handshaking) is aborted (RST).
        var idle = new List<TrackedConnection>();
        foreach (var connection in _connections.Values)
        {
            if (connection.IsOpen && IsIdle(connection))
            {
                idle.Add(connection);
            }
        }

        if (HeldBy() is { } held)
        {
            reason ??= closedBy?.CloseReason(kind) ?? $"{Name} was closed";
            foreach (var operation in held)
            {
                operation.AbortWith(kind, reason);
            }
        }

        foreach (var connection in idle)
        {
            connection.CloseIdle(Options.IdleCloseMode);
        }

        foreach (var connection in _connections.Values)
        {
            connection.Abort();
        }

        foreach (var transport in _transports.Values)
        {
            transport.Dispose();
        }

        _transports.Clear();
        CheckDrained();
    }

    internal void EnsureStarted()
    {
        if (Volatile.Read(ref _state) != 0)
        {
            if (IsClosed)
            {
                throw ClosedError();
            }

            return;
        }

        lock (_gate)
        {
            if (_state == 0)
            {
                Options.ValidateAndFreeze();
                Time = Options.TimeProvider ?? InheritedTime ?? TimeProvider.System;
                _totalSlots = new AsyncFifoSemaphore(Options.MaxConnectionsTotal, Time);
                _socketSlots = new AsyncFifoSemaphore(Options.MaxConnectionsTotal, Time);
                _state = 1;
            }
        }
    }

    internal void OnConnectionClosed(TrackedConnection connection)
    {
        if (_connections.TryRemove(connection.Id, out _))
        {
            _socketSlots?.Release();
            connection.Transport?.Release();
        }

        SocketLedger.Remove(connection);
        CheckDrained();
    }

    /// <summary>Whether the pool is closed and drained: the task of <see cref="CloseAsync"/> has completed (for tests).</summary>
    internal bool IsDrained => _drained.Task.IsCompleted;

    private void CheckDrained()
    {
        if (IsClosed && _connections.IsEmpty && Volatile.Read(ref _unrecordedAttempts) == 0)
        {
            _drained.TrySetResult();
        }
    }
}
