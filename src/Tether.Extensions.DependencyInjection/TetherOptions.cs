namespace Tether.Extensions.DependencyInjection;

/// <summary>
/// Container-wide Tether options: the limits of the one <see cref="ConnectionPool"/> that the container owns
/// (<see cref="TetherPool"/>). Bound from configuration by
/// <see cref="TetherServiceCollectionExtensions.AddTether(Microsoft.Extensions.DependencyInjection.IServiceCollection, Microsoft.Extensions.Configuration.IConfiguration)"/>
/// (e.g. <c>"Tether": { "Pool": { "MaxConnectionsPerHost": 8 } }</c>) and validated at start-up.
/// </summary>
public sealed class TetherOptions
{
    /// <summary>The DI pool's limits and timeouts (<see cref="ConnectionPoolOptions"/>; its defaults apply except
    /// <see cref="ConnectionPoolOptions.MaxConnectionsPerHost"/> and <see cref="ConnectionPoolOptions.MaxConnectionsTotal"/>,
    /// which default to <see cref="int.MaxValue"/> here: <c>UseTether()</c> must allow at least the concurrency of the
    /// default SocketsHttpHandler it replaces (CORE-07). Set them to cap the container's sockets.)</summary>
    public ConnectionPoolOptions Pool { get; } = new() { MaxConnectionsPerHost = int.MaxValue, MaxConnectionsTotal = int.MaxValue };
}
