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

    /// <summary>Most connections to one origin (scheme, host, port) at once.</summary>
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
    /// <see cref="ConnectionPool.CloseIdleConnections"/>): a FIN or an RST. Closing a whole pool aborts (RST) every
    /// socket whatever this says.</summary>
    /// <value>Default <see cref="IdleCloseMode.Graceful"/> (FIN): the server sees no reset on the routine path; the
    /// cost is one TIME_WAIT (no fd) per idle close on the client.</value>
    public IdleCloseMode IdleCloseMode { get => _idleCloseMode; set => Set(ref _idleCloseMode, value); }

    internal void Freeze() => _frozen = true;

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
