using Microsoft.Extensions.DependencyInjection;
using Tether.Extensions.DependencyInjection;
using Tether.TestServer;
using Tether.Tests.Support;
using Tether.Tests.Timeouts;
using Xunit;
using static Tether.Tests.Timeouts.FakeClockAssert;

namespace Tether.Tests.Ecosystem;

/// <summary>
/// Issue 16 review finding 4: a <see cref="TimeProvider"/> registered in the container is the clock of the DI pool and
/// of the clients the DI package makes. Each test registers a fake clock (<see cref="DeadlineClock"/>, a
/// <c>FakeTimeProvider</c>), stalls a real fetch against its own silent server, and checks that the deadline under test
/// is armed on that clock, has not fired 1 ms before it, and fires when the clock reaches it. Before the fix the
/// deadlines ran on <see cref="TimeProvider.System"/>: nothing was armed on the fake clock.
/// </summary>
public sealed class DependencyInjectionClockTests
{
    private static readonly TimeSpan T = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FetchRequest Hung(HostileServer server) =>
        new(server.Url("/").ToString()) { RequestTimeout = Timeout.InfiniteTimeSpan };

    // TIMEOUT-03 (the queue timeout) through a named client the container makes: the client's clock.
    [Fact]
    [Trait("Spec", "TIMEOUT-03")]
    public async Task TIMEOUT_03_a_named_di_client_runs_its_queue_timeout_on_the_containers_time_provider()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(hostile.Port);
        var clock = new DeadlineClock();
        await using (var provider = TestContainer.Build(s => s.AddSingleton<TimeProvider>(clock).AddTetherClient("api", o => o.MaxClients = 1)))
        {
            Task<FetchResponse> hung;
            await using (var scope = provider.CreateAsyncScope())
            {
                var client = scope.ServiceProvider.GetRequiredKeyedService<AsyncHttpClient>("api");
                hung = client.FetchAsync(Hung(hostile), Ct);
                await WaitUntil(() => hostile.RequestHeads.Count == 1, "the first fetch's request to reach the server");
                var queued = client.FetchAsync(new FetchRequest(hostile.Url("/").ToString())
                {
                    QueueTimeout = T, RequestTimeout = Timeout.InfiniteTimeSpan,
                }, Ct);
                var deadline = await clock.WaitArmedAsync(T, "the queue timeout on the container's clock");

                clock.Advance(T - Ms);
                AssertPending(deadline, queued, "the queue timeout");
                clock.Advance(Ms);
                var e = await FailsWithin<FetchException>(queued, "the queued fetch to fail after its queue timeout");
                Assert.Equal((599, FetchErrorKind.QueueTimeout), (e.Code, e.Kind));
                Assert.False(hung.IsCompleted, "the fetch holding the slot must be untouched");
            }

            await FailsWithin<FetchException>(hung, "the hung fetch to fail when its scope closes its client");
        }

        await check.AssertCleanAsync();
    }

    // POOL-03 (the pool-wait timeout) through the default DI client: the DI pool's clock.
    [Fact]
    [Trait("Spec", "POOL-03")]
    public async Task POOL_03_the_di_pool_runs_its_pool_wait_timeout_on_the_containers_time_provider()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(hostile.Port);
        var clock = new DeadlineClock();
        await using (var provider = TestContainer.Build(s => s.AddSingleton<TimeProvider>(clock).AddTether(o =>
                     {
                         o.Pool.MaxConnectionsPerHost = 1;
                         o.Pool.PoolWaitTimeout = T;
                     })))
        {
            Task<FetchResponse> hung;
            await using (var scope = provider.CreateAsyncScope())
            {
                var client = scope.ServiceProvider.GetRequiredService<AsyncHttpClient>();
                hung = client.FetchAsync(Hung(hostile), Ct);
                await WaitUntil(() => hostile.RequestHeads.Count == 1, "the first fetch's request to reach the server");
                var waiting = client.FetchAsync(Hung(hostile), Ct);
                var deadline = await clock.WaitArmedAsync(T, "the pool-wait timeout on the container's clock");

                clock.Advance(T - Ms);
                AssertPending(deadline, waiting, "the pool-wait timeout");
                clock.Advance(Ms);
                var e = await FailsWithin<FetchException>(waiting, "the waiting fetch to fail after the pool-wait timeout");
                Assert.Equal((599, FetchErrorKind.PoolWaitTimeout), (e.Code, e.Kind));
                Assert.Equal(1, hostile.AcceptedConnections); // the waiting fetch never connected
            }

            await FailsWithin<FetchException>(hung, "the hung fetch to fail when its scope closes its client");
        }

        await check.AssertCleanAsync();
    }

    // TIMEOUT-03 (the queue timeout) through an IHttpClientFactory client over UseTether(): the handler's clock. (The
    // bridge leaves the whole-request deadline to HttpClient.Timeout, so the queue timeout is the client timer it runs.)
    [Fact]
    [Trait("Spec", "TIMEOUT-03")]
    public async Task TIMEOUT_03_a_UseTether_handler_runs_its_queue_timeout_on_the_containers_time_provider()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(hostile.Port);
        var clock = new DeadlineClock();
        Task<HttpResponseMessage> hung;
        await using (var provider = TestContainer.Build(s =>
                     {
                         s.AddSingleton<TimeProvider>(clock);
                         s.AddHttpClient("bridge", c => c.Timeout = Timeout.InfiniteTimeSpan).UseTether(o =>
                         {
                             o.MaxClients = 1;
                             o.Defaults.QueueTimeout = T;
                         });
                     }))
        {
            using var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("bridge");
            hung = http.GetAsync(hostile.Url("/"), Ct);
            await WaitUntil(() => hostile.RequestHeads.Count == 1, "the first request to reach the server");
            var queued = http.GetAsync(hostile.Url("/"), Ct);
            var deadline = await clock.WaitArmedAsync(T, "the queue timeout on the container's clock");

            clock.Advance(T - Ms);
            AssertPending(deadline, queued, "the queue timeout");
            clock.Advance(Ms);
            var e = await FailsWithin<Exception>(queued, "the queued request to fail after its queue timeout");
            Assert.True(Chain(e).Any(static x => x is FetchException { Kind: FetchErrorKind.QueueTimeout }),
                $"expected a queue timeout, got {e}");
            Assert.False(hung.IsCompleted, "the request holding the slot must be untouched");
        }

        // Disposing the provider closed the DI pool, which aborts the hung request.
        await FailsWithin<Exception>(hung, "the hung request to fail when the container's pool closes");
        await check.AssertCleanAsync();
    }

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            yield return x;
        }
    }
}
