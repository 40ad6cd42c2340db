using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Ecosystem;

/// <summary>HTTP-11, cookies through the bridge (review 2026-12-02): the container's cookies are sent without being
/// written into the caller's <see cref="HttpRequestMessage"/>, as SocketsHttpHandler adds them only on the wire, so a
/// delegating handler that sends the same message again (a hand-written retry) sends each cookie once, and the
/// response's RequestMessage shows the headers the caller set.</summary>
public sealed class BridgeCookieHeaderTests
{
    [Fact]
    [Trait("Spec", "HTTP-11")]
    public async Task HTTP_11_container_cookies_are_not_written_into_the_callers_request_and_a_resend_sends_them_once()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: ct);
        var check = LeakCheck.Start(server);
        var outcomes = new List<string>();
        await using var pool = new ConnectionPool();
        foreach (var primary in new HttpMessageHandler[] { new SocketsHttpHandler(), new TetherHttpMessageHandler(pool) })
        {
            using var http = new HttpClient(new SendTwice { InnerHandler = primary });
            (await http.GetAsync(server.Url("/cookies/set?a=1"), ct)).Dispose();
            var log = new List<string>();
            foreach (var userCookie in new string?[] { null, "u=9" })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, server.Url("/cookies"));
                if (userCookie is not null)
                {
                    request.Headers.Add("Cookie", userCookie);
                }

                using var response = await http.SendAsync(request, ct);
                var sent = await response.Content.ReadAsStringAsync(ct);
                var kept = request.Headers.TryGetValues("Cookie", out var values) ? string.Join("|", values) : "(none)";
                log.Add($"server got [{sent}], first send got [{SendTwice.First}], request keeps [{kept}]");
            }

            outcomes.Add(string.Join("\n", log));
        }

        Assert.Contains("server got [u=9; a=1]", outcomes[0], StringComparison.Ordinal);
        Assert.Equal(outcomes[0], outcomes[1]);
        await pool.CloseAsync(ct);
        await check.AssertCleanAsync();
    }

    /// <summary>Sends each request twice through the inner handler (as a hand-written retry does) and returns the second
    /// response; remembers what the server answered to the first.</summary>
    private sealed class SendTwice : DelegatingHandler
    {
        public static string First { get; private set; } = "";

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            using (var first = await base.SendAsync(request, cancellationToken))
            {
                First = await first.Content.ReadAsStringAsync(cancellationToken);
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }
}
