namespace Tether.Extensions.DependencyInjection;

/// <summary>
/// Options of one named Tether client registered with
/// <see cref="TetherServiceCollectionExtensions.AddTetherClient(Microsoft.Extensions.DependencyInjection.IServiceCollection, string, Action{TetherClientOptions}?)"/>.
/// Copied into a fresh <see cref="AsyncHttpClientOptions"/> for every client made from them (a client freezes its
/// options at first use), and validated at start-up with Tether's own rules.
/// </summary>
public sealed class TetherClientOptions
{
    /// <summary>How many fetches of one client run at once; the rest queue (FIFO).</summary>
    /// <value>1 or more; default <see cref="int.MaxValue"/> (no queue): DI clients run without an
    /// <see cref="EventLoop"/>, where Tornado's <c>max_clients = 10</c> does not apply (CORE-07); set it to bound a
    /// client's concurrency.</value>
    public int MaxClients { get; set; } = int.MaxValue;

    /// <summary>Per-client defaults for every fetch (timeouts, redirects, user agent, ...); null values fall back to
    /// Tether's built-in defaults.</summary>
    public FetchSettings Defaults { get; } = new();

    /// <summary>Extra configuration applied to each new client's options after the values above (for settings that
    /// configuration cannot express, such as certificates). Ownership and Pool are set by the container.</summary>
    public Action<AsyncHttpClientOptions>? Configure { get; set; }
}
