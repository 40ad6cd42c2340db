using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Tether.Diagnostics;
using Tether.Samples.MinimalApi;
using Tether.Samples.SeedDoneRight;
using Tether.Samples.Worker;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Ecosystem;

/// <summary>Each sample runs in process against the loopback test server, bounded in count and time.</summary>
// Process alone: ECO-08's sample reports a whole-process census delta (client-side TIME_WAIT), and the hosted samples'
// ledger checks cover every pool in the process (the samples' pools are not reachable from the test).
[Collection(CensusCollection.Name)]
public sealed class SampleSmokeTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    [Trait("Spec", "ECO-08")]
    [Trait("Spec", "POOL-11")]
    public void ECO_08_SeedDoneRight_runs_200_fresh_loops_on_one_connection_and_leaves_no_fd()
    {
        var accepted = server.Server.AcceptedConnections;
        var output = new StringWriter();
        var delta = SeedDoneRightApp.Run(server.Url("/hello").ToString(), 200, output);
        Assert.Contains("200 loops", output.ToString(), StringComparison.Ordinal);
        Assert.True(server.Server.AcceptedConnections - accepted <= 1, $"accepted {server.Server.AcceptedConnections - accepted}");
        // The one keep-alive connection, closed by us at the end, is the only TIME_WAIT (one per call without the pool).
        Assert.True(delta.TimeWaitClientSide <= 1, $"client-side TIME_WAIT delta {delta.TimeWaitClientSide}");
        Assert.Empty(SocketLedger.Snapshot());
    }

    [Fact]
    [Trait("Spec", "ECO-09")]
    public async Task ECO_09_MinimalApi_calls_the_downstream_through_scoped_and_bridged_clients()
    {
        var ct = TestContext.Current.CancellationToken;
        var app = MinimalApiApp.Build([$"--Downstream={server.Url("/")}", "--urls=http://127.0.0.1:0"]);
        await using (app)
        {
            await app.StartAsync(ct);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            using var http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(20) };
            Assert.Equal("downstream said: Hello, world!", await http.GetStringAsync(new Uri("/hello", UriKind.Relative), ct));
            Assert.Equal("downstream said: Hello, world!", await http.GetStringAsync(new Uri("/hello-http", UriKind.Relative), ct));
            var ledger = await http.GetStringAsync(new Uri("/tether/ledger", UriKind.Relative), ct);
            Assert.Contains("\"state\":\"Idle\"", ledger, StringComparison.Ordinal);
            await app.StopAsync(ct);
        }

        // The app's DI pool was closed with its service provider.
        Assert.Empty(SocketLedger.Snapshot());
    }

    [Fact]
    [Trait("Spec", "ECO-10")]
    public async Task ECO_10_Worker_polls_exports_metrics_and_closes_its_sockets_on_stop()
    {
        var ct = TestContext.Current.CancellationToken;
        using var host = WorkerApp.Build([$"--Target={server.Url("/hello")}", "--PollMilliseconds=20", "--ExportMilliseconds=100000"]);
        await host.StartAsync(ct);
        var stats = host.Services.GetRequiredService<PollerStats>();
        // Five polls 20 ms apart take about 0.1 s unloaded; 10 s is the margin for a loaded 2-core machine.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (stats.Fetches < 5 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, ct);
        }

        Assert.True(stats.Fetches >= 5, $"only {stats.Fetches} fetches in 10 s");
        Assert.Equal(0, stats.Failures);
        Assert.Single(SocketLedger.Snapshot());
        await host.StopAsync(ct);
        if (host is IAsyncDisposable asyncHost)
        {
            await asyncHost.DisposeAsync();
        }

        Assert.Empty(SocketLedger.Snapshot());
    }
}
