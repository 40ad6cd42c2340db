using System.Diagnostics.Metrics;

namespace Tether.Extensions.DependencyInjection;

/// <summary>
/// The one <see cref="ConnectionPool"/> a service provider owns: every client and <see cref="TetherHttpMessageHandler"/>
/// made by the container leases from it, and disposing the root provider (host shutdown) closes it and every socket
/// it still has.
/// </summary>
/// <remarks>
/// Why a container-owned pool and not <see cref="ConnectionPool.Process"/>: the process pool has fixed default limits
/// and can never be closed, so configured limits would not apply and host shutdown (or a test's provider disposal)
/// would leave keep-alive sockets open. One pool per root provider gives configured limits, one keep-alive cache for
/// all scopes and handler rotations, and a deterministic end. Thread-safety: all members are thread-safe.
/// </remarks>
public sealed class TetherPool : IDisposable, IAsyncDisposable
{
    /// <param name="options">The pool's options.</param>
    /// <param name="timeProvider">The container's clock, if one is registered: the pool's clock unless
    /// <paramref name="options"/> set one (issue 16 review finding).</param>
    /// <param name="meterFactory">The container's meter factory, if one is registered (IHttpClientFactory registers one):
    /// the <c>System.Net.Http</c> instruments of the pool's requests are created by it, as they are for a default
    /// IHttpClientFactory primary handler.</param>
    internal TetherPool(ConnectionPoolOptions options, TimeProvider? timeProvider = null, IMeterFactory? meterFactory = null)
    {
        Pool = new ConnectionPool(options) { InheritedTime = timeProvider, MeterFactory = meterFactory };
    }

    /// <summary>The container's pool.</summary>
    public ConnectionPool Pool { get; }

    /// <summary>Closes the pool synchronously: every socket is closed when this returns. Idempotent.</summary>
    public void Dispose() => Pool.CloseNow(FetchErrorKind.PoolClosed, $"{Pool.Name} was closed by the disposal of its service provider");

    /// <summary>Closes the pool (see <see cref="Dispose"/>). Idempotent.</summary>
    /// <returns>A completed task: the close is synchronous.</returns>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
