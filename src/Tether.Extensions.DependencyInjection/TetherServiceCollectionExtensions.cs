using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Tether.Extensions.DependencyInjection;

/// <summary>
/// Registers Tether with a service collection.
/// </summary>
/// <example>
/// <code>
/// builder.Services.AddTether(builder.Configuration.GetSection("Tether"));       // the DI-owned pool
/// builder.Services.AddTetherClient("catalog", builder.Configuration.GetSection("Tether:Clients:catalog"));
/// builder.Services.AddTetherClient&lt;WeatherClient&gt;(o => o.Defaults.RequestTimeout = TimeSpan.FromSeconds(5));
/// // in a request (a scope): [FromKeyedServices("catalog")] AsyncHttpClient catalog, or WeatherClient weather
/// </code>
/// </example>
/// <remarks>
/// <para>Lifetimes (the DI analogue of "a client created in a loop is owned by that loop"):</para>
/// <list type="bullet">
/// <item><description><see cref="TetherPool"/>: singleton, owned by the root provider; every client leases from it, so
/// scopes share keep-alive connections; disposing the root provider closes every socket.</description></item>
/// <item><description><see cref="AsyncHttpClient"/> (default, unkeyed) and named clients (keyed by name): scoped, created
/// with <see cref="ClientOwnership.Caller"/> and disposed by their scope, which aborts only the sockets their own
/// unfinished fetches hold. Resolving one from the root provider throws <see cref="TetherScopeException"/>.</description></item>
/// <item><description>Typed clients: scoped, constructed with their scoped named client.</description></item>
/// <item><description><see cref="ITetherClientFactory"/>: singleton, for caller-owned clients in singletons.</description></item>
/// </list>
/// <para>Options are validated at start-up (ValidateOnStart) with Tether's own rules; each failure names the
/// configuration key, the value and the fix.</para>
/// <para>Clock: a <see cref="TimeProvider"/> registered in the container is the clock of the DI pool (its
/// <see cref="ConnectionPoolOptions.TimeProvider"/>, unless <see cref="TetherOptions.Pool"/> sets one) and of every
/// client the container makes, named, typed, factory-made and <c>UseTether</c> handlers alike (their
/// <see cref="AsyncHttpClientOptions.TimeProvider"/>, unless their own configure sets one). With none registered, both
/// are <see cref="TimeProvider.System"/>. Register a fake clock (<c>FakeTimeProvider</c>) to test timeout logic.</para>
/// </remarks>
public static class TetherServiceCollectionExtensions
{
    /// <summary>Registers the DI-owned pool, the default scoped client and <see cref="ITetherClientFactory"/>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the pool options in code (applied after any configuration binding).</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddTether(this IServiceCollection services, Action<TetherOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddCore(services, "AddTether(configure): ");
        if (configure is not null)
        {
            services.Configure(configure);
        }

        return services;
    }

    /// <summary>Registers Tether (see <see cref="AddTether(IServiceCollection, Action{TetherOptions}?)"/>) with the pool
    /// options bound from <paramref name="configuration"/> (e.g. the "Tether" section, with a "Pool" child).</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section to bind; validation failures name keys under its path.</param>
    /// <returns>The same service collection.</returns>
    [RequiresUnreferencedCode("Binds options from configuration by reflection.")]
    [RequiresDynamicCode("Binds options from configuration by reflection.")]
    public static IServiceCollection AddTether(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        AddCore(services, TetherKeys.ForSection(configuration));
        services.AddOptions<TetherOptions>().Bind(configuration);
        return services;
    }

    /// <summary>Registers a named client: resolve it in a scope as <c>[FromKeyedServices(name)] AsyncHttpClient</c>
    /// (or <c>GetRequiredKeyedService&lt;AsyncHttpClient&gt;(name)</c>); the scope owns and closes it. Calls
    /// <see cref="AddTether(IServiceCollection, Action{TetherOptions}?)"/> if needed.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The client's name ("" configures the default client).</param>
    /// <param name="configure">Sets the client's options in code.</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddTetherClient(this IServiceCollection services, string name, Action<TetherClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        AddCore(services, "AddTether(configure): ");
        AddNamed(services, name, $"AddTetherClient(\"{name}\", configure): ");
        if (configure is not null)
        {
            services.Configure(name, configure);
        }

        return services;
    }

    /// <summary>Registers a named client (see <see cref="AddTetherClient(IServiceCollection, string, Action{TetherClientOptions}?)"/>)
    /// with its options bound from <paramref name="configuration"/> (MaxClients, Defaults:ConnectTimeout, ...).</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The client's name.</param>
    /// <param name="configuration">The section to bind; validation failures name keys under its path.</param>
    /// <returns>The same service collection.</returns>
    [RequiresUnreferencedCode("Binds options from configuration by reflection.")]
    [RequiresDynamicCode("Binds options from configuration by reflection.")]
    public static IServiceCollection AddTetherClient(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configuration);
        AddCore(services, "AddTether(configure): ");
        AddNamed(services, name, TetherKeys.ForSection(configuration), configuration);
        services.AddOptions<TetherClientOptions>(name).Bind(configuration);
        return services;
    }

    /// <summary>Registers a typed client: <typeparamref name="TClient"/> is scoped and constructed with a scoped
    /// <see cref="AsyncHttpClient"/> named after the type (plus any other services its constructor takes).</summary>
    /// <typeparam name="TClient">A class whose constructor takes an <see cref="AsyncHttpClient"/>.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the client's options in code.</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddTetherClient<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TClient>(
        this IServiceCollection services, Action<TetherClientOptions>? configure = null)
        where TClient : class
    {
        var name = typeof(TClient).Name;
        services.AddTetherClient(name, configure);
        services.TryAddScoped(sp =>
        {
            var client = sp.GetRequiredKeyedService<AsyncHttpClient>(name);
            return ActivatorUtilities.CreateInstance<TClient>(sp, client);
        });
        return services;
    }

    private static void AddCore(IServiceCollection services, string poolKeyPrefix)
    {
        if (services.Any(static d => d.ServiceType == typeof(TetherPool)))
        {
            return;
        }

        services.AddOptions();
        services.AddOptions<TetherOptions>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<TetherOptions>>(new TetherOptionsValidator(poolKeyPrefix));
        // Issue 16 review finding: a TimeProvider registered in the container is the clock of the pool and of every
        // client the container makes (unless their options set one), so a test host's fake clock drives their timeouts.
        services.AddSingleton(static sp => new TetherPool(
            sp.GetRequiredService<IOptions<TetherOptions>>().Value.Pool, sp.GetService<TimeProvider>(),
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton(static sp => new TetherRoot(sp));
        services.AddSingleton<ITetherClientFactory>(static sp => new TetherClientFactory(
            sp.GetRequiredService<IOptionsMonitor<TetherClientOptions>>(), sp.GetRequiredService<TetherPool>(),
            sp.GetService<ILoggerFactory>(), sp.GetService<TimeProvider>()));
        AddNamed(services, Options.DefaultName, "AddTether: default client: ");
        services.AddScoped(static sp => CreateScoped(sp, Options.DefaultName));
    }

    private static void AddNamed(IServiceCollection services, string name, string keyPrefix, IConfiguration? section = null)
    {
        if (services.Any(d => d.ServiceType == typeof(AsyncHttpClient) && d.IsKeyedService && Equals(d.ServiceKey, name)))
        {
            return;
        }

        services.AddOptions<TetherClientOptions>(name).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TetherClientOptions>>(new TetherClientOptionsValidator(name, keyPrefix, section));
        services.AddKeyedScoped(name, static (sp, key) => CreateScoped(sp, (string)key!));
    }

    private static AsyncHttpClient CreateScoped(IServiceProvider sp, string name)
    {
        sp.GetRequiredService<TetherRoot>().ThrowIfRoot(sp, name);
        return sp.GetRequiredService<ITetherClientFactory>().CreateClient(name);
    }
}
