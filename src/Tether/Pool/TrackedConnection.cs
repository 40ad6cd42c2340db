using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tether.Diagnostics;

namespace Tether;

/// <summary>
/// The live ledger record of one socket. Owned by its <see cref="ConnectionPool"/>; the socket itself is owned by
/// the <see cref="LedgerStream"/> that the handler holds, and closing that stream (by the handler, by
/// <see cref="Abort"/> or by <see cref="CloseIdle"/>) removes this record.
/// </summary>
/// <remarks>
/// <para>What the record knows is exact: <c>Connecting</c> while the pool's connect callback (DNS, TCP) or the TLS
/// handshake runs, <c>Closing</c> from the moment the pool or the handler closes it, bytes and last activity from the
/// kernel's own counters when a snapshot is taken (<see cref="TcpInfo"/>, Linux) or else counted by the stream. Which request rides the connection is the handler's choice and is not recorded (CORE-03); whether it is
/// idle is derived from the pool's slots (no request to its origin is in flight), see
/// <see cref="ConnectionPool"/>.</para>
/// <para>Mutable fields are written by the connect callback, the stream and the pool and read by snapshots; they
/// are volatile, interlocked or guarded by <c>_gate</c>.</para>
/// </remarks>
internal sealed class TrackedConnection
{
    private static long s_nextId;
    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly long _createdTimestamp;
    private ConnectionState _state = ConnectionState.Connecting;
    private long _openedTimestamp;
    private long _connectedTimestamp;
    private long _lastActivityTimestamp;
    private long _bytesRead;
    private long _bytesWritten;
    private int _closed;
    private ITimer? _handshakeDeadline;
    private volatile bool _http2;
    private TaskCompletionSource? _handlerReleased;

    public TrackedConnection(ConnectionPool pool, string hostKey, string allocationSite, string? openedBy, string? openedByLoop,
        TimeSpan lifetime)
    {
        Id = Interlocked.Increment(ref s_nextId);
        Pool = pool;
        // Issue 13: ages, idle times and the lifetime are on the pool's clock, like the reaper that reads them.
        _time = pool.Time;
        _createdTimestamp = Clock.Now(_time);
        HostKey = hostKey;
        AllocationSite = allocationSite;
        OpenedBy = openedBy;
        OpenedByLoop = openedByLoop;
        CreatedAt = _time.GetUtcNow();
        _lastActivityTimestamp = _createdTimestamp;
        ExpiresAtTimestamp = lifetime == Timeout.InfiniteTimeSpan
            ? long.MaxValue
            : _createdTimestamp + Clock.Ticks(_time, lifetime);
        Transitioned?.Invoke(Id, ConnectionState.Connecting);
    }

    public long Id { get; }

    public ConnectionPool Pool { get; }

    public string HostKey { get; }

    public string AllocationSite { get; }

    /// <summary>The name of the client whose request made the handler open this socket (a fact about its origin,
    /// not an owner: the handler may serve any client leasing the pool on it).</summary>
    public string? OpenedBy { get; }

    public string? OpenedByLoop { get; }

    /// <summary>A plain-http connection to a proxy: the handler shares it across origins, so it is idle only when the
    /// whole pool is.</summary>
    public bool SharedAcrossOrigins { get; set; }

    public DateTimeOffset CreatedAt { get; }

    public long ExpiresAtTimestamp { get; }

    public Socket? Socket { get; set; }

    /// <summary>Set while the connect races the host's addresses (no socket is recorded yet): <see cref="Abort"/>
    /// cancels it, which closes every attempt's socket (<see cref="AddressConnector"/>).</summary>
    public CancellationTokenSource? ConnectAttempts { get; set; }

    /// <summary>The handler this socket belongs to, counted as used while the socket is open.</summary>
    public Transport? Transport { get; set; }

    public IPEndPoint? LocalEndPoint { get; private set; }

    public IPEndPoint? RemoteEndPoint { get; private set; }

    /// <summary>Connecting, Open or Closing: the socket's own stage (see <see cref="Pool"/> for Idle).</summary>
    public ConnectionState Stage
    {
        get { lock (_gate) { return _state; } }
    }

    /// <summary>The state the ledger reports: <see cref="Stage"/>, except that an open socket whose origin has no
    /// request in flight in this pool is reported <see cref="ConnectionState.Idle"/> (exact: nothing can be using it).</summary>
    public ConnectionState State
    {
        get
        {
            var stage = Stage;
            return stage == ConnectionState.Open && Pool.IsIdle(this) ? ConnectionState.Idle : stage;
        }
    }

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    public bool IsOpen => Stage == ConnectionState.Open;

    /// <summary>When the socket finished connecting (0 while connecting), on the pool's clock.</summary>
    public long OpenedTimestamp => Interlocked.Read(ref _openedTimestamp);

    public bool IsExpired => Clock.Now(_time) >= ExpiresAtTimestamp;

    /// <summary>Bytes and last activity come from the kernel (<see cref="TcpInfo"/>), read when a snapshot asks, and
    /// the stream counts nothing. Decided once the socket is connected; otherwise <see cref="LedgerStream"/> counts.</summary>
    public bool KernelCounts { get; private set; }

    private volatile bool _setupDone;
    private volatile bool _deadlineArmed;

    /// <summary>The connection setup (TCP, and TLS when there is one) is complete: a lock-free read of what
    /// <see cref="MarkOpen"/> did, for the stream's hot path.</summary>
    public bool SetupDone => _setupDone;

    /// <summary>Takes the kernel's current counts (no-op unless <see cref="KernelCounts"/>; a closed socket keeps the
    /// last counts read).</summary>
    private void RefreshFromKernel()
    {
        if (!KernelCounts || Socket is not { } socket || !TcpInfo.TryRead(socket, out var counters))
        {
            return;
        }

        Interlocked.Exchange(ref _bytesRead, counters.BytesRead);
        Interlocked.Exchange(ref _bytesWritten, counters.BytesWritten);
        // A direction with no data yet reports the time since boot: the clamp to the creation time covers it.
        var ago = Math.Min(counters.MsSinceDataReceived, counters.MsSinceDataSent);
        var last = Clock.Now(_time) - (long)(ago / 1000.0 * Stopwatch.Frequency);
        Volatile.Write(ref _lastActivityTimestamp, Math.Max(_createdTimestamp, last));
    }

    /// <summary>Test and diagnostics hook: called under the record's lock on every stage change (including the
    /// final one to "gone", reported as null). Null by default, so the hot path pays one static read.</summary>
    internal static Action<long, ConnectionState?>? Transitioned { get; set; }

    /// <summary>TCP connected: endpoints are known. With TLS still to come the record stays Connecting until
    /// <see cref="MarkOpen"/>.</summary>
    public void MarkConnected(Socket socket)
    {
        Socket = socket;
        Interlocked.Exchange(ref _connectedTimestamp, Clock.Now(_time));
        KernelCounts = TcpInfo.CountsFor(socket, _time);
        LocalEndPoint = socket.LocalEndPoint as IPEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint as IPEndPoint;
    }

    /// <summary>The handler's connection setup (TCP, and TLS when there is one) is complete.</summary>
    /// <param name="http2">The handler speaks HTTP/2 on it (ALPN h2, or prior knowledge).</param>
    public void MarkOpen(bool http2 = false)
    {
        _http2 = http2;
        var deadline = Interlocked.Exchange(ref _handshakeDeadline, null);
        deadline?.Dispose();
        // Only a setup that beat its deadline: when the deadline's timer took it first, it is about to set
        // HandshakeTimedOut and abort the socket, and the stream must keep mapping that failure to a connect timeout.
        _setupDone = deadline is not null || !_deadlineArmed;
        lock (_gate)
        {
            if (_state == ConnectionState.Connecting)
            {
                _openedTimestamp = Clock.Now(_time);
                SetState(ConnectionState.Open);
            }
        }
    }

    /// <summary>Arms the attempt's own deadline for the part of the setup that runs after the connect callback
    /// (TLS): unless <see cref="MarkOpen"/> comes first, the socket is aborted, which fails the handshake (CORE-04).
    /// The deadline belongs to the connection attempt, not to the fetch that triggered it.</summary>
    public void ArmHandshakeDeadline(TimeSpan remaining)
    {
        _deadlineArmed = true;
        var timer = Clock.CreateTimer(_time, static s =>
        {
            var connection = (TrackedConnection)s!;
            if (Interlocked.Exchange(ref connection._handshakeDeadline, null) is { } t)
            {
                t.Dispose();
                connection.HandshakeTimedOut = true;
                connection.Abort();
            }
        }, this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Interlocked.Exchange(ref _handshakeDeadline, timer)?.Dispose();
        timer.Change(remaining, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Set when the setup outlived its connect deadline and the socket was aborted.</summary>
    public volatile bool HandshakeTimedOut;

    public void OnRead(int bytes)
    {
        if (bytes > 0)
        {
            Interlocked.Add(ref _bytesRead, bytes);
            Volatile.Write(ref _lastActivityTimestamp, Clock.Now(_time));
        }
    }

    public void OnWrite(int bytes)
    {
        Interlocked.Add(ref _bytesWritten, bytes);
        Volatile.Write(ref _lastActivityTimestamp, Clock.Now(_time));
    }

    private void SetState(ConnectionState state)
    {
        if (_state == state)
        {
            return;
        }

        _state = state;
        Transitioned?.Invoke(Id, state);
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

    /// <summary>The abort path: RST (linger 0), so neither side keeps TIME_WAIT or CLOSE_WAIT. Used only when the
    /// whole pool closes, or for a connection attempt that failed or outlived its deadline: never for one fetch.</summary>
    public void Abort()
    {
        Interlocked.Exchange(ref _handshakeDeadline, null)?.Dispose();
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

    /// <summary>The idle-close path (CORE-09): a connection known idle is closed with <paramref name="mode"/>, a FIN
    /// (graceful) or an RST (abortive).</summary>
    public void CloseIdle(IdleCloseMode mode)
    {
        if (mode == IdleCloseMode.Abortive)
        {
            Abort();
            return;
        }

        BeginClose();
        var socket = Socket;
        if (socket is not null)
        {
            // FIN first. .NET turns a close that cancels a pending receive into an abortive one (RST) unless the send
            // side was shut down first (SafeSocketHandle.CloseHandle), and an HTTP/2 connection always has its
            // reader's receive pending: without this, a graceful idle close of an HTTP/2 connection was an RST.
            try
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already closed or reset underneath: the dispose below closes the fd.
            }

            socket.Dispose();
        }

        OnSocketClosed();
    }

    /// <summary>The idle-close path for a connection the handler still holds: closes it (see <see cref="CloseIdle"/>)
    /// and, for an HTTP/2 connection, returns a task that completes when the handler has let go of it too (disposed
    /// its stream, the second close of this record). Until then the handler may still pick the connection for a new
    /// request, which then fails with it instead of being sent on a new connection: the handler keeps an HTTP/2
    /// connection in its pool until its reader loop sees the read fail, while it checks an idle HTTP/1.1 connection
    /// before reusing it (null: nothing to wait for).</summary>
    public Task? CloseIdleUnderHandler(IdleCloseMode mode)
    {
        TaskCompletionSource? released = null;
        if (_http2)
        {
            released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _handlerReleased, released);
        }

        CloseIdle(mode);
        return released?.Task;
    }

    /// <summary>The fd is closed: leave the ledger. Idempotent.</summary>
    public void OnSocketClosed()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            // The second close: the pool's and the handler's (its stream's Dispose) have both happened. The first caller
            // may still be between its exchange above and leaving the ledger (a stress run caught one preempted there:
            // the pool's abort returned, its loop's Run ended, and the record was still listed, "Closing"), so this
            // caller leaves it too: each closed the fd before calling, and leaving is idempotent (the slot is released
            // once, by whichever removal wins).
            Pool.OnConnectionClosed(this);
            Volatile.Read(ref _handlerReleased)?.TrySetResult();
            return;
        }

        Interlocked.Exchange(ref _handshakeDeadline, null)?.Dispose();
        lock (_gate)
        {
            SetState(ConnectionState.Closing);
            Transitioned?.Invoke(Id, null);
        }

        Pool.OnConnectionClosed(this);
    }

    public LedgerEntry ToEntry()
    {
        RefreshFromKernel();
        var state = State;
        var last = Volatile.Read(ref _lastActivityTimestamp);
        return new LedgerEntry(
            Id,
            LocalEndPoint,
            RemoteEndPoint,
            HostKey,
            state,
            Pool.Name,
            OpenedBy,
            OpenedByLoop,
            CreatedAt,
            CreatedAt + Clock.Between(_time, _createdTimestamp, last),
            Clock.Since(_time, _createdTimestamp),
            0,
            null,
            AllocationSite)
        {
            BytesRead = Interlocked.Read(ref _bytesRead),
            BytesWritten = Interlocked.Read(ref _bytesWritten),
            ConnectDuration = Interlocked.Read(ref _connectedTimestamp) is var connected and not 0
                ? Clock.Between(_time, _createdTimestamp, connected) : null,
            SetupDuration = OpenedTimestamp is var opened and not 0 ? Clock.Between(_time, _createdTimestamp, opened) : null,
        };
    }
}
