using System.Diagnostics;
using Tether.Diagnostics;
using Tether.Tests.Support;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Pool;

/// <summary>Per-host and total limits, the pool-wait timeout and option validation (POOL-01, 02, 03, 16).</summary>
public sealed class PoolLimitTests(ServerFixture server) : IClassFixture<ServerFixture>
{

    private static int LedgerCountFor(int port) => SocketLedger.Snapshot().Count(e => e.HostKey.EndsWith($":{port}", StringComparison.Ordinal));

    [Fact]
    [Trait("Spec", "POOL-01")]
    public async Task POOL_01_per_host_limit_8_holds_for_500_concurrent_fetches()
    {
        var check = LeakCheck.Start(server);
        var port = server.Server.Port;
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions
        {
            MaxClients = 500,
            PoolOptions = new ConnectionPoolOptions { MaxConnectionsPerHost = 8 },
        }))
        {
            int maxServer = 0, maxLedger = 0;
            using var done = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!done.IsCancellationRequested)
                {
                    maxServer = Math.Max(maxServer, server.Server.OpenConnections);
                    maxLedger = Math.Max(maxLedger, LedgerCountFor(port));
                    await Task.Delay(2);
                }
            });
            var fetches = Enumerable.Range(0, 500).Select(_ => client.FetchAsync(server.Url("/delay/20").ToString())).ToArray();
            var responses = await Task.WhenAll(fetches);
            await done.CancelAsync();
            await sampler;
            Assert.All(responses, r => Assert.Equal(200, r.Code));
            Assert.InRange(maxServer, 1, 8);
            Assert.InRange(maxLedger, 1, 8);
            Assert.Equal(8, maxLedger); // the limit was actually reached, so the bound was tested
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "POOL-02")]
    public async Task POOL_02_total_limit_10_holds_across_two_servers()
    {
        await using var second = await KestrelTestServer.StartAsync();
        var check = LeakCheck.Start(server, second.Port);
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions
        {
            MaxClients = 200,
            PoolOptions = new ConnectionPoolOptions { MaxConnectionsPerHost = 8, MaxConnectionsTotal = 10 },
        }))
        {
            int maxServers = 0, maxLedger = 0;
            using var done = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!done.IsCancellationRequested)
                {
                    maxServers = Math.Max(maxServers, server.Server.OpenConnections + second.OpenConnections);
                    maxLedger = Math.Max(maxLedger, Ledger.Towards(server.Server.Port, second.Port).Count);
                    await Task.Delay(2);
                }
            });
            // 200 fetches of 20 ms over 10 connections take about 0.4 s unloaded; each one's 10 s request timeout is
            // the margin for a loaded 2-core machine.
            var fetches = Enumerable.Range(0, 200)
                .Select(i => client.FetchAsync(new FetchRequest((i % 2 == 0 ? server.Url("/delay/20") : second.Url("/delay/20")).ToString()) { RequestTimeout = TimeSpan.FromSeconds(10) }))
                .ToArray();
            try
            {
                await Task.WhenAll(fetches);
            }
            catch (Exception)
            {
                // A failure here must say where the sockets were: the pool's ledger and the census towards both servers.
                var dump = string.Join("\n", client.Pool!.Snapshot().Select(e => $"{e.Id} {e.HostKey} {e.State} served={e.RequestsServed} cur={e.CurrentRequest}"));
                var states = fetches.Count(f => !f.IsCompleted);
                var census = Tether.Diagnostics.SocketCensus.Take();
                var tcp = string.Join("\n", census.TcpSockets.Where(t => t.Remote.Port == server.Server.Port || t.Remote.Port == second.Port || t.Local.Port == server.Server.Port || t.Local.Port == second.Port).Select(t => t.ToString()));
                Assert.Fail($"pending={states} inflight={client.InFlight}\n{dump}\nCENSUS {census}\n{tcp}");
            }
            await done.CancelAsync();
            await sampler;
            // The client's own sockets (the ledger) never exceed the limit and reach it. The servers' count of open
            // connections lags by the close in flight: a socket the pool just closed to make room is still open on the
            // server side for a moment, so that cross-check allows one more.
            Assert.Equal(10, maxLedger);
            Assert.InRange(maxServers, 1, 11);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "POOL-03")]
    public async Task POOL_03_pool_wait_timeout_names_both_limits_and_the_holders()
    {
        var check = LeakCheck.Start(server);
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions
        {
            PoolOptions = new ConnectionPoolOptions { MaxConnectionsPerHost = 1, MaxConnectionsTotal = 5, PoolWaitTimeout = TimeSpan.FromMilliseconds(300) },
        }))
        {
            await using var holder = await client.FetchStreamAsync(server.Url("/stream/3?stallAfter=1").ToString());
            var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(server.Url("/hello").ToString()));
            Assert.Equal(599, error.Code);
            Assert.Equal(FetchErrorKind.PoolWaitTimeout, error.Kind);
            Assert.Contains("MaxConnectionsPerHost = 1", error.Message, StringComparison.Ordinal);
            Assert.Contains("MaxConnectionsTotal = 5", error.Message, StringComparison.Ordinal);
            // Revised 2026-11-30 (issue 16, CORE-03): the holders are the fetches that hold the slots (exact, from the
            // slots themselves), no longer the sockets a write was guessed to belong to.
            Assert.Contains($"GET {server.Url("/stream/3?stallAfter=1")}, client {client.Name}", error.Message, StringComparison.Ordinal);
            Assert.Contains("holding for ", error.Message, StringComparison.Ordinal);
            Assert.Contains(nameof(POOL_03_pool_wait_timeout_names_both_limits_and_the_holders), error.Message, StringComparison.Ordinal);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "POOL-16")]
    public async Task POOL_16_invalid_limits_and_lifetime_are_rejected_in_one_exception()
    {
        var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            MaxConnectionsPerHost = 0,
            MaxConnectionsTotal = -3,
            IdleTimeout = TimeSpan.FromSeconds(60),
            MaxLifetime = TimeSpan.FromSeconds(10),
        });
        await using var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => client.FetchAsync(server.Url("/hello").ToString()));
        Assert.Equal(3, error.Problems.Count);
        Assert.Contains("MaxConnectionsPerHost = 0: must be 1 or more", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxConnectionsTotal = -3: must be 1 or more", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxLifetime = 00:00:10 is shorter than IdleTimeout = 00:01:00", error.Message, StringComparison.Ordinal);
        Assert.Empty(Ledger.Of(pool));
        await pool.CloseAsync(TestContext.Current.CancellationToken);
    }
}
