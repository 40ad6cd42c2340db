using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Tether.Extensions.DependencyInjection;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Ecosystem;

/// <summary>POOL-14 through IHttpClientFactory (review 2026-12-02): the allocation site of a <c>UseTether()</c> handler,
/// which the ledger and leak warnings show, is the code that called <c>CreateClient</c>, not the factory's
/// <c>Lazy&lt;T&gt;</c> plumbing that builds the handler; and its name is its client's, also under
/// <c>ConfigureHttpClientDefaults</c>.</summary>
public sealed class UseTetherCallSiteTests
{
    [Fact]
    [Trait("Spec", "POOL-14")]
    public async Task POOL_14_a_UseTether_handlers_site_is_the_method_that_called_CreateClient()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var named = await KestrelTestServer.StartAsync(cancellationToken: ct);
        await using var byDefaults = await KestrelTestServer.StartAsync(cancellationToken: ct);
        var check = LeakCheck.Start(named, byDefaults.Port);
        var services = new ServiceCollection();
        services.AddHttpClient("named").UseTether();
        services.ConfigureHttpClientDefaults(b => b.UseTether());
        services.AddHttpClient("by-defaults");
        await using (var provider = services.BuildServiceProvider())
        {
            var clients = provider.GetRequiredService<IHttpClientFactory>();
            await GetThroughAsync(clients, "named", named, ct);
            await GetThroughAsync(clients, "by-defaults", byDefaults, ct);

            // One keep-alive connection per server, each opened by one of the two handlers.
            var sites = Ledger.Towards(named.Port, byDefaults.Port).Select(static e => e.AllocationSite).ToArray();
            Assert.Equal(2, sites.Length);
            // And each handler is named after its client, also when UseTether() came from ConfigureHttpClientDefaults.
            Assert.Equal("HttpClient(named)", Assert.Single(Ledger.Towards(named.Port)).OwnerClient);
            Assert.Equal("HttpClient(by-defaults)", Assert.Single(Ledger.Towards(byDefaults.Port)).OwnerClient);
            Assert.All(sites, site => Assert.Contains($"{nameof(UseTetherCallSiteTests)}.{nameof(GetThroughAsync)}", site, StringComparison.Ordinal));
        }

        await check.AssertCleanAsync();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task GetThroughAsync(IHttpClientFactory clients, string name, KestrelTestServer server, CancellationToken ct)
    {
        var http = clients.CreateClient(name);
        Assert.Equal("Hello, world!", await http.GetStringAsync(server.Url("/hello"), ct));
    }
}
