using System.Net;
using System.Net.Sockets;

namespace Tether;

/// <summary>Limits and timeouts of a <see cref="ConnectionPool"/>. Validated once, when the pool is first used;
/// frozen after that.</summary>
public sealed class ConnectionPoolOptions
{
    private bool _frozen;
    private int _maxConnectionsPerHost = 64;
    private int _maxConnectionsTotal = 256;
    private TimeSpan _poolWaitTimeout = TimeSpan.FromSeconds(30);
    private TimeSpan _idleTimeout = TimeSpan.FromSeconds(60);
    private TimeSpan _maxLifetime = TimeSpan.FromMinutes(10);
    private double _lifetimeJitter = 0.1;
    private TimeSpan _reaperInterval = TimeSpan.FromMilliseconds(250);
    private IdleCloseMode _idleCloseMode = IdleCloseMode.Graceful;

    private TimeSpan _connectAttemptDelay = AddressConnector.DefaultAttemptDelay;
    private TimeSpan _keepAlivePingDelay = TimeSpan.FromSeconds(30);
    private TimeSpan _keepAlivePingTimeout = TimeSpan.FromSeconds(15);
    private HttpKeepAlivePingPolicy _keepAlivePingPolicy = HttpKeepAlivePingPolicy.Always;
    private TimeProvider? _timeProvider;

    /// <summary>Most connections to one origin (scheme, host, port) at once. An HTTP/2 origin gets one connection, as
    /// with a default <see cref="System.Net.Http.SocketsHttpHandler"/>: its requests share it, and those beyond the
    /// server's stream limit wait for a free stream (docs/design.md, "One HTTP/2 connection per origin").</summary>
    /// <value>1 or more; default 64.</value>
    public int MaxConnectionsPerHost { get => _maxConnectionsPerHost; set => Set(ref _maxConnectionsPerHost, value); }

    /// <summary>Most connections to all origins at once; idle connections (another host's first) are closed to make
    /// room.</summary>
    /// <value>1 or more; default 256.</value>
    public int MaxConnectionsTotal { get => _maxConnectionsTotal; set => Set(ref _maxConnectionsTotal, value); }

    /// <summary>How long a request may wait for a connection slot before failing with a pool-wait 599 that names
    /// the holders.</summary>
    /// <value>Positive or <see cref="Timeout.InfiniteTimeSpan"/>; default 30 s.</value>
    public TimeSpan PoolWaitTimeout { get => _poolWaitTimeout; set => Set(ref _poolWaitTimeout, value); }

    /// <summary>An idle keep-alive connection is closed after this long unused.</summary>
    /// <value>Positive or <see cref="Timeout.InfiniteTimeSpan"/>; default 60 s.</value>
    public TimeSpan IdleTimeout { get => _idleTimeout; set => Set(ref _idleTimeout, value); }

    /// <summary>A connection serves no new request after this age (plus jitter) and is closed once idle.</summary>
    /// <value>Positive or <see cref="Timeout.InfiniteTimeSpan"/>, and not shorter than <see cref="IdleTimeout"/>
    /// unless that is infinite; default 10 min.</value>
    public TimeSpan MaxLifetime { get => _maxLifetime; set => Set(ref _maxLifetime, value); }

    /// <summary>Each connection's lifetime is shortened by a random fraction up to this, so connections opened
    /// together do not all expire together.</summary>
    /// <value>0 to 0.5; default 0.1.</value>
    public double LifetimeJitter { get => _lifetimeJitter; set => Set(ref _lifetimeJitter, value); }

    /// <summary>How often idle connections are checked for a server close (CLOSE_WAIT), idle timeout and lifetime.</summary>
    /// <value>10 ms to 10 s; default 250 ms.</value>
    public TimeSpan ReaperInterval { get => _reaperInterval; set => Set(ref _reaperInterval, value); }

    /// <summary>How idle connections are closed (idle timeout, lifetime, server close, making room,
    /// <see cref="ConnectionPool.CloseIdleConnections"/>, and the idle connections of a pool that closes, e.g. when a
    /// client or its loop closes): a FIN or an RST. A connection that carries a request when its pool closes is aborted
    /// (RST) whatever this says.</summary>
    /// <value>Default <see cref="IdleCloseMode.Graceful"/> (FIN): the server sees no reset on the routine path; the
    /// cost is one TIME_WAIT (no fd, 60 s on Linux) per idle close on the client, e.g. one per iteration of code that
    /// builds and closes a client per call, as with .NET's <c>new HttpClient()</c> + <c>Dispose()</c>. Measured by
    /// <c>tether soak --idle-close both</c> and docs/benchmarks.md ("Idle close modes").</value>
    public IdleCloseMode IdleCloseMode { get => _idleCloseMode; set => Set(ref _idleCloseMode, value); }

    /// <summary>When a host name resolves to several addresses, how long a connection attempt runs alone before the
    /// next address is tried as well (RFC 8305 §5 "Connection Attempt Delay"). The attempts are raced: the first
    /// to connect wins, the others are closed, and the whole race is bounded by the fetch's <c>ConnectTimeout</c>.
    /// So an address that drops SYNs silently costs this delay, not the whole connect timeout.</summary>
    /// <value>10 ms to 2 s (RFC 8305 §5 bounds); default 250 ms (its recommended value).</value>
    public TimeSpan ConnectAttemptDelay { get => _connectAttemptDelay; set => Set(ref _connectAttemptDelay, value); }

    /// <summary>HTTP/2 health check: after this long without receiving any frame on a connection, a PING is sent
    /// (<see cref="SocketsHttpHandler.KeepAlivePingDelay"/>; the same rule as Go's <c>http2.Transport.ReadIdleTimeout</c>).
    /// With <see cref="KeepAlivePingTimeout"/> it retires a connection whose server went silent (socket open, no
    /// frames) instead of sending new requests into it until each times out.</summary>
    /// <value>1 s or more, or <see cref="Timeout.InfiniteTimeSpan"/> to send no PINGs; default 30 s.</value>
    public TimeSpan KeepAlivePingDelay { get => _keepAlivePingDelay; set => Set(ref _keepAlivePingDelay, value); }

    /// <summary>HTTP/2 health check: a connection whose PING is not acknowledged within this long is closed; its
    /// streams fail and the next request opens a new connection (<see cref="SocketsHttpHandler.KeepAlivePingTimeout"/>).</summary>
    /// <value>1 s or more, or <see cref="Timeout.InfiniteTimeSpan"/>; default 15 s (Go's <c>PingTimeout</c> default).</value>
    public TimeSpan KeepAlivePingTimeout { get => _keepAlivePingTimeout; set => Set(ref _keepAlivePingTimeout, value); }

    /// <summary>Which HTTP/2 connections are health-checked (<see cref="SocketsHttpHandler.KeepAlivePingPolicy"/>).</summary>
    /// <value>Default <see cref="HttpKeepAlivePingPolicy.Always"/>: idle connections are checked too, so a dead idle
    /// connection is retired before a request is sent on it (the handler's own default checks only connections with
    /// requests in flight). The cost is one 17-byte PING frame per quiet connection per <see cref="KeepAlivePingDelay"/>.</value>
    public HttpKeepAlivePingPolicy KeepAlivePingPolicy { get => _keepAlivePingPolicy; set => Set(ref _keepAlivePingPolicy, value); }

    /// <summary>The clock of the pool's own timers: the <see cref="PoolWaitTimeout"/> wait for a slot, the reaper
    /// (<see cref="ReaperInterval"/>, <see cref="IdleTimeout"/>, <see cref="MaxLifetime"/>, the eviction of unused
    /// per-origin tables and handlers), the connect attempt's <c>ConnectTimeout</c> deadline (DNS, TCP, the socket cap
    /// wait and TLS), <see cref="ConnectAttemptDelay"/>, and the times in the ledger (age, last use). Set a fake clock
    /// (<c>FakeTimeProvider</c>) to test these timers without waiting; sockets and <see cref="SocketsHttpHandler"/>'s
    /// own timers (its idle and lifetime limits, HTTP/2 PINGs) stay on real time.</summary>
    /// <value>Default <see langword="null"/>: <see cref="System.TimeProvider.System"/>, except for a client's private
    /// pool, which takes the client's clock (<see cref="AsyncHttpClientOptions.TimeProvider"/>). Resolved when the
    /// pool is first used.</value>
    public TimeProvider? TimeProvider { get => _timeProvider; set => Set(ref _timeProvider, value); }

    /// <summary>Test hook: resolves a host name instead of <see cref="Dns.GetHostAddressesAsync(string, AddressFamily, CancellationToken)"/>
    /// (IP literals never come here). Not frozen; set before the pool is first used.</summary>
    internal Func<string, AddressFamily, CancellationToken, Task<IPAddress[]>>? HostResolver { get; set; }

    /// <summary>The options of a client's private pool when <see cref="AsyncHttpClientOptions.PoolOptions"/> is not set:
    /// the defaults, validated and frozen once per process instead of once per client (a loop per call makes a client
    /// and a private pool per fetch).</summary>
    internal static ConnectionPoolOptions ClientDefault { get; } = CreateFrozenDefault();

    private static ConnectionPoolOptions CreateFrozenDefault()
    {
        var options = new ConnectionPoolOptions();
        options.ValidateAndFreeze();
        return options;
    }

    /// <summary>Frozen by a pool's first use, after they were validated: a frozen set cannot be invalid.</summary>
    internal bool IsFrozen => Volatile.Read(ref _frozen);

    /// <summary>Validates and freezes the options at a pool's first use; options already frozen were validated when
    /// they froze (only this method freezes them) and cannot have changed since.</summary>
    /// <exception cref="OptionsValidationException">A value is invalid (every problem listed).</exception>
    internal void ValidateAndFreeze()
    {
        if (Volatile.Read(ref _frozen))
        {
            return;
        }

        OptionChecks.ThrowIfAny(nameof(ConnectionPoolOptions), Validate());
        Volatile.Write(ref _frozen, true);
    }

    /// <summary>Lists every invalid value; empty when the options are valid.</summary>
    internal IEnumerable<string> Validate()
    {
        if (MaxConnectionsPerHost <= 0)
        {
            yield return $"MaxConnectionsPerHost = {MaxConnectionsPerHost}: must be 1 or more (default 64).";
        }

        if (MaxConnectionsTotal <= 0)
        {
            yield return $"MaxConnectionsTotal = {MaxConnectionsTotal}: must be 1 or more (default 256).";
        }

        foreach (var problem in OptionChecks.Timeout(nameof(PoolWaitTimeout), PoolWaitTimeout)
            .Concat(OptionChecks.Timeout(nameof(IdleTimeout), IdleTimeout))
            .Concat(OptionChecks.Timeout(nameof(MaxLifetime), MaxLifetime)))
        {
            yield return problem;
        }

        if (MaxLifetime != Timeout.InfiniteTimeSpan && IdleTimeout != Timeout.InfiniteTimeSpan
            && MaxLifetime > TimeSpan.Zero && MaxLifetime < IdleTimeout)
        {
            yield return $"MaxLifetime = {MaxLifetime} is shorter than IdleTimeout = {IdleTimeout}: a connection would " +
                "expire before it could ever go idle for long. Make MaxLifetime at least IdleTimeout, or shorten IdleTimeout.";
        }

        if (LifetimeJitter is < 0 or > 0.5 || double.IsNaN(LifetimeJitter))
        {
            yield return $"LifetimeJitter = {LifetimeJitter}: must be between 0 and 0.5 (default 0.1).";
        }

        if (!Enum.IsDefined(IdleCloseMode))
        {
            yield return $"IdleCloseMode = {(int)IdleCloseMode}: must be Graceful or Abortive (default Graceful).";
        }

        if (ReaperInterval < TimeSpan.FromMilliseconds(10) || ReaperInterval > TimeSpan.FromSeconds(10))
        {
            yield return $"ReaperInterval = {ReaperInterval}: must be between 10 ms and 10 s (default 250 ms).";
        }

        if (ConnectAttemptDelay < TimeSpan.FromMilliseconds(10) || ConnectAttemptDelay > TimeSpan.FromSeconds(2))
        {
            yield return $"ConnectAttemptDelay = {ConnectAttemptDelay}: must be between 10 ms and 2 s (RFC 8305 section 5; default 250 ms).";
        }

        foreach (var (name, value) in new[] { (nameof(KeepAlivePingDelay), KeepAlivePingDelay), (nameof(KeepAlivePingTimeout), KeepAlivePingTimeout) })
        {
            if (value != Timeout.InfiniteTimeSpan && value < TimeSpan.FromSeconds(1))
            {
                yield return $"{name} = {value}: must be 1 s or more, or Timeout.InfiniteTimeSpan (SocketsHttpHandler's lower bound; default {(name == nameof(KeepAlivePingDelay) ? "30" : "15")} s).";
            }
        }

        if (!Enum.IsDefined(KeepAlivePingPolicy))
        {
            yield return $"KeepAlivePingPolicy = {(int)KeepAlivePingPolicy}: must be WithActiveRequests or Always (default Always).";
        }
    }

    private void Set<T>(ref T field, T value)
    {
        if (_frozen)
        {
            throw new InvalidOperationException(
                "ConnectionPoolOptions cannot be changed after the pool was first used; create a new ConnectionPool.");
        }

        field = value;
    }
}
