using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;
using static Tether.Tests.Timeouts.FakeClockAssert;

namespace Tether.Tests.Timeouts;

/// <summary>
/// Which kind a fetch that never left the <c>MaxClients</c> queue fails with (newcomer review 2026-12-01, item 3): with
/// the defaults QueueTimeout = min(ConnectTimeout, RequestTimeout) = 20 s = RequestTimeout, and the request timer,
/// armed first, won the tie, so the fetch was reported as a RequestTimeout with the advice "Raise RequestTimeout".
/// On a fake clock (<see cref="DeadlineClock"/>) with real sockets; each test starts its own server.
/// </summary>
public sealed class QueueTimeoutKindTests
{
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan Default = TimeSpan.FromSeconds(20);

    [Fact]
    [Trait("Spec", "TIMEOUT-03")]
    public async Task TIMEOUT_03_a_fetch_that_never_left_the_queue_is_a_QueueTimeout_when_the_default_timeouts_tie()
    {
        // Newcomer review 2026-12-01, item 3: 10 undisposed streamed responses on `new AsyncHttpClient()` (MaxClients
        // 10), an 11th fetch with default timeouts: after 20 s it failed as RequestTimeout; Tornado says "Timeout in
        // request queue", and docs/tornado.md promises QueueTimeout.
        await using var server = await KestrelTestServer.StartAsync();
        var check = LeakCheck.Start(server);
        var clock = new DeadlineClock();
        var url = server.Url("/bytes/100000").ToString();
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { TimeProvider = clock }))
        {
            Assert.Equal(10, client.Options.MaxClients);
            var held = new List<FetchResponse>();
            for (var i = 0; i < 10; i++)
            {
                // Held open (body unread, not disposed); their own request timers are off so that only the queued
                // fetch's timers run on the fake clock.
                held.Add(await client.FetchStreamAsync(new FetchRequest(url) { RequestTimeout = Timeout.InfiniteTimeSpan }));
            }

            var queued = client.FetchAsync(url); // every timeout at its default: queue 20 s, request 20 s
            var deadline = await clock.WaitArmedAsync(Default, "the queued fetch's queue or request timeout (both 20 s)");

            clock.Advance(Default - Ms);
            AssertPending(deadline, queued, "the 20 s timeouts");

            clock.Advance(Ms);
            var e = await FailsWithin<FetchException>(queued, "the queued fetch to fail at 20 s");
            Assert.Equal((599, FetchErrorKind.QueueTimeout), (e.Code, e.Kind));
            Assert.IsType<TimeoutException>(e.InnerException);
            Assert.Contains("Timeout in request queue", e.Message, StringComparison.Ordinal);
            Assert.Contains("MaxClients = 10 slots (10 in use, 0 waiting)", e.Message, StringComparison.Ordinal);
            Assert.Contains("dispose streamed responses you no longer read", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("Raise RequestTimeout", e.Message, StringComparison.Ordinal);
            Assert.All(held, r => Assert.Equal(200, r.Code)); // the holders are untouched
            Assert.Equal(10, client.InFlight);
        }

        // Closing the client aborted the ten held responses.
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-05")]
    public async Task TIMEOUT_05_a_request_timeout_shorter_than_the_queue_timeout_still_reports_RequestTimeout_while_queued()
    {
        // Newcomer review 2026-12-01, item 3, the other side: time queued counts against RequestTimeout, so a request
        // timeout shorter than the queue timeout that runs out in the queue is that fetch's RequestTimeout.
        await using var server = await KestrelTestServer.StartAsync();
        var check = LeakCheck.Start(server);
        var clock = new DeadlineClock();
        var url = server.Url("/bytes/100000").ToString();
        var request = TimeSpan.FromSeconds(1);
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 1, TimeProvider = clock }))
        {
            await using var held = await client.FetchStreamAsync(new FetchRequest(url) { RequestTimeout = Timeout.InfiniteTimeSpan });
            var queued = client.FetchAsync(new FetchRequest(url) { RequestTimeout = request, QueueTimeout = TimeSpan.FromSeconds(5) });
            var deadline = await clock.WaitArmedAsync(request, "the queued fetch's request timeout");

            clock.Advance(request - Ms);
            AssertPending(deadline, queued, "the request timeout");

            clock.Advance(Ms);
            var e = await FailsWithin<FetchException>(queued, "the queued fetch to fail at its request timeout");
            Assert.Equal((599, FetchErrorKind.RequestTimeout), (e.Code, e.Kind));
            await held.BodyStream.CopyToAsync(Stream.Null, TestContext.Current.CancellationToken);
        }

        await check.AssertCleanAsync();
    }
}
