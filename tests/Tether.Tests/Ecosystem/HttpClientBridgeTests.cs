using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Tether.Diagnostics;
using Tether.Extensions.DependencyInjection;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Ecosystem;

/// <summary>
/// <see cref="TetherHttpMessageHandler"/>: plain HttpClient code (IHttpClientFactory + a real
/// Microsoft.Extensions.Http.Resilience pipeline) on a Tether pool, with the ledger, limits and clean teardown.
/// </summary>
public sealed class HttpClientBridgeTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    [Trait("Spec", "ECO-06")]
    [Trait("Spec", "POOL-03")]
    public async Task ECO_06_resilience_retries_run_through_the_bridge_and_leave_the_ledger_and_census_clean()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.CloseBeforeResponse);
        var ct = TestContext.Current.CancellationToken;

        // Warm-up of the same code path: the runtime maps each assembly (DI, Polly, telemetry...) as an fd the first
        // time it loads, once per process; the baseline must come after that, or the census counts them as leaks.
        // SocketsHttpHandler loads System.Net.Quic lazily (sometimes only after the first request): load it now.
        _ = System.Reflection.Assembly.Load("System.Net.Quic");
        await using (var warm = BuildProvider(_ => { }))
        {
            var warmHttp = warm.GetRequiredService<IHttpClientFactory>().CreateClient("bridged");
            (await warmHttp.GetAsync(server.Url("/hello"), ct)).Dispose();
            await Assert.ThrowsAsync<HttpRequestException>(() => warmHttp.GetAsync(hostile.Url("/warm"), ct));
        }

        var hostileBefore = (int)hostile.AcceptedConnections;

        // SocketsHttpHandler itself retries a GET whose fresh connection closed before any response byte; measure how
        // many connections one attempt makes (bridge without a pipeline) so the pipeline's count below is exact.
        int perAttempt;
        await using (var probePool = new ConnectionPool())
        {
            using var probe = new HttpClient(new TetherHttpMessageHandler(probePool));
            await Assert.ThrowsAsync<HttpRequestException>(() => probe.GetAsync(hostile.Url("/probe"), ct));
            perAttempt = (int)hostile.AcceptedConnections - hostileBefore;
        }

        Assert.True(perAttempt >= 1);
        var check = LeakCheck.Start(server, hostile.Port);
        var attempts = 0;
        await using (var provider = BuildProvider(o => o.OnRetry = _ =>
        {
            Interlocked.Increment(ref attempts);
            return ValueTask.CompletedTask;
        }))
        {
            var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("bridged");
            // 1. The hostile endpoint closes every connection before answering: 1 try + 3 retries, then the failure.
            var failure = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(hostile.Url("/x"), ct));
            Assert.Equal(3, attempts);
            Assert.Equal(hostileBefore + perAttempt + (4 * perAttempt), hostile.AcceptedConnections);
            var inner = Assert.IsType<FetchException>(failure.InnerException);
            Assert.Equal(FetchException.NoResponse, inner.Code);
            Assert.Equal(HttpRequestError.ResponseEnded, failure.HttpRequestError);
            Assert.Empty(Ledger.Towards(hostile.Port));

            // 2. A good endpoint through the same pipeline: no retry, and the pool's socket is in the ledger.
            using (var ok = await http.GetAsync(server.Url("/hello"), ct))
            {
                Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
                Assert.Equal("Hello, world!", await ok.Content.ReadAsStringAsync(ct));
            }

            Assert.Equal(3, attempts);
            var entry = Assert.Single(Ledger.Towards(server.Server.Port));
            Assert.Equal(ConnectionState.Idle, entry.State);
            Assert.Equal("HttpClient(bridged)", entry.OwnerClient);

            // 3. The pool limit applies to HttpClient code: MaxConnectionsPerHost = 1, one response held unread, the
            //    next request waits PoolWaitTimeout and fails with Tether's named pool-wait error (holders listed).
            using (var held = await http.GetAsync(server.Url("/stream/5?stallAfter=1"), HttpCompletionOption.ResponseHeadersRead, ct))
            {
                var waited = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(server.Url("/hello"), ct));
                var poolWait = Assert.IsType<FetchException>(waited.InnerException);
                Assert.Equal(FetchErrorKind.PoolWaitTimeout, poolWait.Kind);
                Assert.Contains("MaxConnectionsPerHost = 1", poolWait.Message, StringComparison.Ordinal);
                Assert.Single(Ledger.Towards(server.Server.Port));
            }

            // Disposing the unread response discarded its connection and released the slot: the next request works.
            using (var after = await http.GetAsync(server.Url("/hello"), ct))
            {
                Assert.Equal(HttpStatusCode.OK, after.StatusCode);
            }
        }

        // The root provider closed the DI pool: nothing left in the ledger, fds back at baseline, nothing ESTABLISHED.
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "ECO-07")]
    public async Task ECO_07_bridged_body_releases_its_slot_at_end_of_body_and_connections_are_reused()
    {
        var check = LeakCheck.Start(server);
        var accepted = server.Server.AcceptedConnections;
        await using (var pool = new ConnectionPool(new ConnectionPoolOptions { MaxConnectionsPerHost = 1, PoolWaitTimeout = TimeSpan.FromSeconds(5) }))
        {
            using var handler = new TetherHttpMessageHandler(pool, o => o.Name = "bridge-test");
            using var http = new HttpClient(handler, disposeHandler: false);
            for (var i = 0; i < 20; i++)
            {
                // ResponseHeadersRead + reading to the end: the body stream's EOF gives the slot back, so with one slot
                // per host 20 sequential requests never wait and share one connection.
                using var response = await http.GetAsync(server.Url("/bytes/3000"), HttpCompletionOption.ResponseHeadersRead,
                    TestContext.Current.CancellationToken);
                var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
                Assert.Equal(3000, body.Length);
                Assert.Equal(0, handler.Client.InFlight);
            }

            Assert.Equal(1, server.Server.AcceptedConnections - accepted);
            Assert.Equal(1, pool.Count);
        }

        await check.AssertCleanAsync();
    }

    private static ServiceProvider BuildProvider(Action<HttpRetryStrategyOptions> retry)
    {
        var services = new ServiceCollection();
        services.AddTether(o =>
        {
            o.Pool.MaxConnectionsPerHost = 1;
            o.Pool.PoolWaitTimeout = TimeSpan.FromMilliseconds(300);
        });
        services.AddHttpClient("bridged")
            .UseTether(o => o.Defaults.ConnectTimeout = TimeSpan.FromSeconds(5))
            .AddResilienceHandler("retry", builder => builder.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = 3,
                Delay = TimeSpan.FromMilliseconds(10),
                BackoffType = DelayBackoffType.Constant,
                UseJitter = false,
            }.Also(retry)));
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true });
    }
}

internal static class RetryOptionsExtensions
{
    public static HttpRetryStrategyOptions Also(this HttpRetryStrategyOptions options, Action<HttpRetryStrategyOptions> configure)
    {
        configure(options);
        return options;
    }
}
