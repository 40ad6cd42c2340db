using Xunit;

namespace Tether.Tests.Conformance;

/// <summary>
/// Differential cases for redirects, replay and Locations (HTTP-01, HTTP-02, HTTP-08): each case runs through a plain
/// HttpClient over a default SocketsHttpHandler and through Tether's FetchAsync against the same recording server;
/// what the server received and what the caller got must match, except for the differences listed in docs/tornado.md
/// ("Differences from HttpClient (conformance)"), which are asserted here as differences.
/// </summary>
public sealed class RedirectConformanceTests
{
    public static TheoryData<int, string, BodyKind> Matrix()
    {
        var data = new TheoryData<int, string, BodyKind>();
        foreach (var code in new[] { 301, 302, 303, 307, 308 })
        {
            foreach (var method in new[] { "GET", "HEAD", "POST", "PUT", "DELETE" })
            {
                foreach (var body in new[] { BodyKind.Bytes, BodyKind.SeekableStream })
                {
                    data.Add(code, method, body);
                }
            }
        }

        return data;
    }

    private static RecordingServer RedirectServer(RequestLog log) => RecordingServer.Start("A", log, r =>
        r.Target.StartsWith("/r/", StringComparison.Ordinal)
            ? Reply.Redirect(int.Parse(r.Target[3..], System.Globalization.CultureInfo.InvariantCulture), "/final")
            : Reply.Text($"final {r.Method} {r.Body.Length}"));

    // Issue 15 item 4 (DELETE/PUT/PATCH answered by 301/302 became GET; Content-* survived) and item 2 (stream bodies
    // replayed empty on 307/308): 50 cases, 5 codes x 5 methods x byte/stream body.
    [Theory]
    [MemberData(nameof(Matrix))]
    [Trait("Spec", "HTTP-01")]
    [Trait("Spec", "HTTP-02")]
    public async Task HTTP_01_HTTP_02_redirect_matrix_matches_HttpClient(int code, string method, BodyKind body)
    {
        var log = new RequestLog();
        await using var server = RedirectServer(log);
        var c = new DiffCase($"{method} {code} {body}", method, server.Url($"/r/{code}")) { Body = body, Headers = [new("Content-Type", "text/plain")] };
        var (client, tether) = await DifferentialRunner.CompareAsync(log, c);

        Assert.True(client.Error is null, client.ToString());
        Assert.Equal(client.ServerView, tether.ServerView);
        Assert.Equal(client.CallerView, tether.CallerView);
        Assert.Equal(client.FinalUrl, tether.FinalUrl);

        // The rule itself, not only agreement: RFC 9110 §15.4.
        var second = tether.Received[1];
        var expectGet = (code is 301 or 302 && method == "POST") || (code == 303 && method is not ("GET" or "HEAD"));
        Assert.Equal(expectGet ? "GET" : method, second.Method);
        if (expectGet)
        {
            Assert.Empty(second.Body);
            Assert.Equal("none", second.Framing);
            Assert.Null(second.Header("Content-Type"));
            Assert.Null(second.Header("Content-Length"));
        }
        else if (method != "HEAD")
        {
            Assert.Equal(c.BodyBytes, second.Body);
        }
    }

    // Issue 15 item 4: PATCH (like PUT and DELETE) stays itself on 301/302, and its body is sent again.
    [Theory]
    [InlineData(301)]
    [InlineData(302)]
    [InlineData(303)]
    [Trait("Spec", "HTTP-01")]
    public async Task HTTP_01_patch_stays_patch_on_301_302_and_becomes_get_on_303(int code)
    {
        var log = new RequestLog();
        await using var server = RedirectServer(log);
        var c = new DiffCase($"PATCH {code}", "PATCH", server.Url($"/r/{code}")) { Body = BodyKind.Bytes, Headers = [new("Content-Type", "application/json")] };
        var (client, tether) = await DifferentialRunner.CompareAsync(log, c);

        Assert.Equal(client.ServerView, tether.ServerView);
        Assert.Equal(client.CallerView, tether.CallerView);
        Assert.Equal(code == 303 ? "GET" : "PATCH", tether.Received[1].Method);
        Assert.Equal(code == 303 ? [] : c.BodyBytes, tether.Received[1].Body);
    }

    // Issue 15 item 2: a non-seekable stream cannot be sent twice. HttpClient fails the request on 307/308 (its
    // StreamContent was consumed); Tether returns the 3xx itself (as Go net/http does), never an empty body. On
    // 301/302/303 the POST becomes a GET without body on both.
    [Theory]
    [InlineData(301)]
    [InlineData(302)]
    [InlineData(303)]
    [InlineData(307)]
    [InlineData(308)]
    [Trait("Spec", "HTTP-02")]
    public async Task HTTP_02_non_seekable_stream_body_is_never_replayed(int code)
    {
        var log = new RequestLog();
        await using var server = RedirectServer(log);
        // An explicit Content-Type, as the other cases here: without one Tether sends a POST as a form (Tornado's rule,
        // PROTOCOL-22) and HttpClient sends none; this case is about the body.
        var c = new DiffCase($"POST {code} one-shot stream", "POST", server.Url($"/r/{code}"))
        {
            Body = BodyKind.NonSeekableStream, Headers = [new("Content-Type", "application/octet-stream")],
        };
        var (client, tether) = await DifferentialRunner.CompareAsync(log, c);

        if (code is 307 or 308)
        {
            // Intended difference (docs/tornado.md): HttpClient throws, Tether returns the 3xx.
            Assert.NotNull(client.Error);
            Assert.Null(tether.Error);
            Assert.Equal(code, tether.Status);
            var only = Assert.Single(tether.Received);
            Assert.Equal(c.BodyBytes, only.Body);
            Assert.DoesNotContain(client.Received.Skip(1), r => r.Body.Length != c.BodyBytes.Length);
        }
        else
        {
            Assert.Equal(client.ServerView, tether.ServerView);
            Assert.Equal(client.CallerView, tether.CallerView);
        }
    }

    public static TheoryData<string, string> Locations() => new()
    {
        // Issue 15 item 8: raw UTF-8 octets in Location.
        { "utf8-path-query", Reply.Octets("/caf\u00e9?q=\u20ac") },
        { "utf8-absolute-path", Reply.Octets("/d\u00e9j\u00e0/vu") },
        { "utf8-relative", Reply.Octets("na\u00efve") },
        { "percent-encoded", "/caf%C3%A9?q=%E2%82%AC" },
        { "space-and-query", "/a%20b?x=1&y=2" },
        { "dot-segments", "/x/../y/./z" },
    };

    // Issue 15 item 8: "Location: /caf<C3 A9>?q=<E2 82 AC>" must be requested as /caf%C3%A9?q=%E2%82%AC.
    [Theory]
    [MemberData(nameof(Locations))]
    [Trait("Spec", "HTTP-08")]
    public async Task HTTP_08_location_is_followed_to_the_url_HttpClient_requests(string name, string location)
    {
        var log = new RequestLog();
        await using var server = RecordingServer.Start("A", log, r =>
            r.Target == "/start/here" ? Reply.Redirect(302, location) : Reply.Text("landed"));
        var (client, tether) = await DifferentialRunner.CompareAsync(log, new DiffCase(name, "GET", server.Url("/start/here")));

        Assert.True(client.Error is null, client.ToString());
        Assert.Equal(client.ServerView, tether.ServerView);
        Assert.Equal(client.CallerView, tether.CallerView);
        if (name == "utf8-path-query")
        {
            Assert.Equal("/caf%C3%A9?q=%E2%82%AC", tether.Received[1].Target);
        }
    }

    [Theory]
    [InlineData("protocol-relative")]
    [InlineData("absolute")]
    [Trait("Spec", "HTTP-08")]
    public async Task HTTP_08_protocol_relative_and_absolute_locations_reach_the_other_origin(string form)
    {
        var log = new RequestLog();
        await using var b = RecordingServer.Start("B", log, _ => Reply.Text("b"));
        var target = form == "absolute" ? $"http://127.0.0.1:{b.Port}/landing?x=1" : $"//127.0.0.1:{b.Port}/landing?x=1";
        await using var a = RecordingServer.Start("A", log, _ => Reply.Redirect(301, target));
        var (client, tether) = await DifferentialRunner.CompareAsync(log, new DiffCase(form, "GET", a.Url("/go")));

        Assert.True(client.Error is null, client.ToString());
        Assert.Equal(client.ServerView, tether.ServerView);
        Assert.Equal(client.CallerView, tether.CallerView);
        Assert.Equal("B GET /landing?x=1", string.Join(' ', tether.ServerView[1].Split(' ').Take(3)));
    }
}
