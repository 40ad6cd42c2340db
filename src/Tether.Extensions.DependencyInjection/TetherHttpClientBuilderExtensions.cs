using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;

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
    /// <see cref="TetherPool"/>: every socket is in the ledger, the pool's configured limits and wait timeout apply, and
    /// keep-alive connections survive the factory's handler rotation (they belong to the pool, not to the handler).
    /// Calls AddTether if needed. The handler behaves like the default SocketsHttpHandler it replaces (redirects,
    /// cookies, any method and content; see <see cref="TetherHttpMessageHandler"/>), and by default neither it
    /// (MaxClients) nor the DI pool (<see cref="TetherOptions.Pool"/>) caps concurrency (CORE-07). A
    /// <see cref="TimeProvider"/> registered in the container is the handler's clock (its request, queue and body
    /// timeouts) unless <paramref name="configure"/> sets another.</summary>
    /// <param name="builder">The HttpClient builder.</param>
    /// <param name="configure">Sets the handler's internal client options (MaxClients, Defaults.ConnectTimeout, ...).</param>
    /// <returns>The same builder.</returns>
    public static IHttpClientBuilder UseTether(this IHttpClientBuilder builder, Action<AsyncHttpClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddTether();
        // What ConfigurePrimaryHttpMessageHandler(Func<IServiceProvider, HttpMessageHandler>) registers, with the name of
        // the client being built: under ConfigureHttpClientDefaults the builder has no name, and every handler was
        // "HttpClient()" in the ledger and leak warnings (review 2026-12-02).
        builder.Services.Configure<HttpClientFactoryOptions>(builder.Name, factoryOptions =>
            factoryOptions.HttpMessageHandlerBuilderActions.Add(handlerBuilder =>
            {
                var sp = handlerBuilder.Services;
                var name = handlerBuilder.Name ?? builder.Name;
                var time = sp.GetService<TimeProvider>();
                handlerBuilder.PrimaryHandler = new TetherHttpMessageHandler(
                    sp.GetRequiredService<TetherPool>().Pool,
                    options =>
                    {
                        options.Name = $"HttpClient({name})";
                        options.TimeProvider = time; // the container's clock, if any (issue 16 review finding)
                        configure?.Invoke(options);
                    });
            }));
        return builder;
    }
}
