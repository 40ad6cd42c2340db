using Microsoft.Extensions.DependencyInjection;

namespace Tether.Tests.Ecosystem;

/// <summary>The service provider the DI tests build: the registrations a test gives, with scope and build-time
/// validation on, as ASP.NET Core's host turns them on in Development.</summary>
internal static class TestContainer
{
    public static ServiceProvider Build(Action<IServiceCollection> configure)
    {
        var services = new ServiceCollection();
        configure(services);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
    }
}
