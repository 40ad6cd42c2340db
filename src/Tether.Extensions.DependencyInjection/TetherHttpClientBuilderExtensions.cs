using Microsoft.Extensions.DependencyInjection;

namespace Tether.Extensions.DependencyInjection;

/// <summary>Makes an IHttpClientFactory client send through Tether.</summary>
/// <example>
/// <code>
/// services.AddHttpClient("inventory", c => c.BaseAddress = new Uri("http://127.0.0.1:5001/"))
///     .UseTether()
///     .AddStandardResilienceHandler();
/// </code>
/// </example>
public static class TetherHttpClientBuilderExtensions
{
    /// <summary>Sets the primary handler to a <see cref="TetherHttpMessageHandler"/> leasing from the container's
    /// <see cref="TetherPool"/>: every socket is in the ledger, the pool limits and wait timeout apply, and keep-alive
    /// connections survive the factory's handler rotation (they belong to the pool, not to the handler). Calls
    /// AddTether if needed.</summary>
    /// <param name="builder">The HttpClient builder.</param>
    /// <param name="configure">Sets the handler's internal client options (MaxClients, Defaults.ConnectTimeout, ...).</param>
    /// <returns>The same builder.</returns>
    public static IHttpClientBuilder UseTether(this IHttpClientBuilder builder, Action<AsyncHttpClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddTether();
        var name = builder.Name;
        builder.ConfigurePrimaryHttpMessageHandler(sp => new TetherHttpMessageHandler(
            sp.GetRequiredService<TetherPool>().Pool,
            options =>
            {
                options.Name = $"HttpClient({name})";
                configure?.Invoke(options);
            }));
        return builder;
    }
}
