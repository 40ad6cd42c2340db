using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Replay;

/// <summary>
/// A <c>Host</c> header set by the caller (virtual-host testing against an IP: <c>curl -H 'Host: site' http://10.0.0.1/</c>)
/// and redirects: replayed from psf/requests#3941 and #4002, with curl/curl#20850 and golang/go#22233 for the rule.
/// </summary>
public sealed class RedirectHostReplayTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AsyncHttpClient NewClient() => ScriptServer.NewClient();

    // Answers every request with 200 "landed".
    private static ScriptServer Landing() => ScriptServer.Start(async (c, ct) =>
    {
        while (await c.ReadRequestAsync(ct) is not null)
        {
            await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nlanded", ct);
        }
    });

    // /away redirects to the landing server (another origin: another port); /here redirects within this origin.
    private static ScriptServer Redirector(int landingPort) => ScriptServer.Start(async (c, ct) =>
    {
        while (await c.ReadRequestAsync(ct) is { } request)
        {
            var response = request.Target switch
            {
                "/away" => $"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{landingPort}/landed\r\nContent-Length: 0\r\n\r\n",
                "/here" => "HTTP/1.1 302 Found\r\nLocation: /here-landed\r\nContent-Length: 0\r\n\r\n",
                _ => "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nlanded",
            };
            await c.SendAsync(response, ct);
        }
    });

    [Fact]
    [Trait("Spec", "HTTP-03")]
    public async Task HTTP_03_a_custom_Host_header_does_not_follow_a_redirect_to_another_origin()
    {
        // Replays psf/requests#3941 and #4002: with `Host` set by the caller, requests sent that Host to the redirect's
        // new server too, which then served the wrong site or redirected in a loop; curl keeps a custom Host only while
        // host, port and scheme stay the same (curl/curl#20850), Go only for a relative Location (golang/go#22233).
        // Tornado deletes Host on every redirect. The caller's Host names the first origin's virtual host: on an origin
        // change the next hop gets the Host of its own URL; within the origin the caller's Host stays (curl, Go).
        // Fixed in this commit: Tether sent `Host: vhost.test` to the landing server.
        await using var landing = Landing();
        await using var redirector = Redirector(landing.Port);
        var check = LeakCheck.Start(redirector.Port, landing.Port);
        await using (var client = NewClient())
        {
            var away = await client.FetchAsync(new FetchRequest(redirector.Url("/away")) { Headers = { { "Host", "vhost.test" } } }, Ct);
            Assert.Equal("landed", away.Text);
            Assert.Equal(landing.Port, away.EffectiveUrl.Port);

            var here = await client.FetchAsync(new FetchRequest(redirector.Url("/here")) { Headers = { { "Host", "vhost.test" } } }, Ct);
            Assert.Equal("landed", here.Text);
        }

        // Oracle: a default HttpClient sends the caller's Host on to the other origin (its RedirectHandler keeps the
        // request's headers but Authorization); Tether does not: an intended difference (docs/client-guide.md).
        await using (var landing2 = Landing())
        await using (var redirector2 = Redirector(landing2.Port))
        {
            using var plain = new HttpClient(new SocketsHttpHandler());
            using var request = new HttpRequestMessage(HttpMethod.Get, redirector2.Url("/away"));
            request.Headers.Host = "vhost.test";
            using var response = await plain.SendAsync(request, Ct);
            var oracleHost = landing2.Requests.Single().Header("Host");
            Assert.Equal("vhost.test", oracleHost);
        }

        Assert.Equal("vhost.test", redirector.Requests.Single(r => r.Target == "/away").Header("Host"));
        Assert.Equal($"127.0.0.1:{landing.Port}", landing.Requests.Single().Header("Host"));
        Assert.All(redirector.Requests.Where(r => r.Target.StartsWith("/here", StringComparison.Ordinal)), r => Assert.Equal("vhost.test", r.Header("Host")));


        await check.AssertCleanAsync();
    }
}
