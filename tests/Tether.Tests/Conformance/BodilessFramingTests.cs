using System.Text;
using Xunit;

namespace Tether.Tests.Conformance;

/// <summary>
/// Responses that end at their header block by definition (a HEAD response, a 304, a 204) carrying framing headers
/// that would be an error on a response with a body: Transfer-Encoding beside Content-Length, unequal Content-Length
/// values, a zero written as a list or with leading zeros. RFC 9112 §6.3 (rule 1) says these messages end at the
/// header block whatever those headers say. Replayed from requests #4199 / urllib3 #1234, pound #54 and
/// trafficserver #271: differential, the same two requests through a plain HttpClient and through Tether's
/// FetchAsync on one client each; both must return the response and reuse its connection for the next request.
/// </summary>
public sealed class BodilessFramingTests(ITestOutputHelper output)
{
    public static TheoryData<string, string, string, int> Cases() => new()
    {
        // name, method of the first request, its response head after the status line, expected status
        { "head-te-chunked-and-cl", "HEAD", "200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100", 200 },
        { "head-unequal-cl", "HEAD", "200 OK\r\nContent-Length: 100\r\nContent-Length: 200", 200 },
        { "304-te-chunked-and-cl", "GET", "304 Not Modified\r\nTransfer-Encoding: chunked\r\nContent-Length: 100", 304 },
        { "304-unequal-cl", "GET", "304 Not Modified\r\nContent-Length: 100\r\nContent-Length: 200", 304 },
        { "204-cl-zero-list", "GET", "204 No Content\r\nContent-Length: 0, 0", 204 },
        { "204-cl-leading-zero", "GET", "204 No Content\r\nContent-Length: 00", 204 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    [Trait("Spec", "PROTOCOL-10")]
    public async Task PROTOCOL_10_bodiless_responses_ignore_framing_headers_and_leave_the_connection_reusable(
        string name, string method, string head, int expected)
    {
        var raw = Encoding.Latin1.GetBytes($"HTTP/1.1 {head}\r\n\r\n");
        var log = new RequestLog();
        await using var server = RecordingServer.Start("A", log, r => r.Target == "/first" ? Reply.Bytes(raw, hold: false) : Reply.Text("second"));
        var first = server.Url("/first");
        var second = server.Url("/second");

        // The oracle: a default SocketsHttpHandler.
        string oracle;
        using (var client = new HttpClient())
        {
            using var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), first));
            using var next = await client.GetAsync(second);
            oracle = $"{(int)response.StatusCode} then {(int)next.StatusCode} {await next.Content.ReadAsStringAsync()}";
        }

        var oracleConnections = log.Take().Select(r => r.Connection).Distinct().Count();
        await DifferentialRunner.AssertNothingOpenTowardsAsync(log.Ports, "HttpClient");

        string tether;
        var tetherClient = new AsyncHttpClient();
        await using (tetherClient)
        {
            var response = await tetherClient.FetchAsync(new FetchRequest(first) { Method = method, RaiseOnError = false });
            var next = await tetherClient.FetchAsync(second);
            tether = $"{response.Code} then {next.Code} {next.Text}";
            Assert.Empty(response.Body);
        }

        Assert.Empty(tetherClient.Pool?.Snapshot() ?? []);

        var tetherConnections = log.Take().Select(r => r.Connection).Distinct().Count();
        output.WriteLine($"{name}: HttpClient {oracle} on {oracleConnections} connection(s); Tether {tether} on {tetherConnections}");

        Assert.Equal($"{expected} then 200 second", oracle);
        Assert.Equal(oracle, tether);
        Assert.Equal(1, oracleConnections);
        Assert.Equal(1, tetherConnections); // reused: the header block was the whole response
        await DifferentialRunner.AssertNothingOpenTowardsAsync(log.Ports, "Tether");
    }

    /// <summary>The same headers on a 200 to GET, which has a body, stay refused (HTTP-07): the exemption is for
    /// bodiless responses only.</summary>
    [Theory]
    [InlineData("Transfer-Encoding: chunked\r\nContent-Length: 5", "5\r\nhello\r\n0\r\n\r\n")]
    [InlineData("Content-Length: 5\r\nContent-Length: 6", "hello!")]
    [Trait("Spec", "HTTP-07")]
    public async Task HTTP_07_the_same_framing_on_a_response_with_a_body_is_still_a_protocol_error(string head, string body)
    {
        var raw = Encoding.Latin1.GetBytes($"HTTP/1.1 200 OK\r\n{head}\r\n\r\n{body}");
        var log = new RequestLog();
        await using var server = RecordingServer.Start("A", log, _ => Reply.Bytes(raw, hold: false));
        var client = new AsyncHttpClient();
        await using (client)
        {
            var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(server.Url("/first")));
            Assert.Equal((FetchException.NoResponse, FetchErrorKind.Protocol), (error.Code, error.Kind));
        }

        Assert.Empty(client.Pool?.Snapshot() ?? []);

        await DifferentialRunner.AssertNothingOpenTowardsAsync(log.Ports, "Tether");
    }

    /// <summary>Several Location lines: Tether follows the first, as a plain HttpClient does (curl #19130 and requests
    /// #2939 are about clients that disagree here). Following the last let a line injected after the real one decide
    /// where the request goes.</summary>
    [Fact]
    [Trait("Spec", "HTTP-08")]
    public async Task HTTP_08_several_location_lines_are_followed_to_the_first_as_HttpClient_does()
    {
        var raw = Encoding.Latin1.GetBytes("HTTP/1.1 302 Found\r\nLocation: /first-loc\r\nLocation: /second-loc\r\nContent-Length: 0\r\n\r\n");
        var log = new RequestLog();
        await using var server = RecordingServer.Start("A", log, r => r.Target == "/start" ? Reply.Bytes(raw, hold: false) : Reply.Text($"at {r.Target}"));
        var (client, tether) = await DifferentialRunner.CompareAsync(log, new DiffCase("two-locations", "GET", server.Url("/start")));
        output.WriteLine(client.ToString());
        output.WriteLine(tether.ToString());

        Assert.Equal("200 at /first-loc", client.CallerView);
        Assert.Equal(client.CallerView, tether.CallerView);
        Assert.Equal(client.ServerView, tether.ServerView);
    }

    /// <summary>Newcomer review 2026-12-01: a POST body sent with no Content-Type. Tether follows Tornado (and curl -d):
    /// a POST without one is sent as <c>application/x-www-form-urlencoded</c>; a Content-Type the caller set is kept;
    /// other methods send none. A plain HttpClient with ByteArrayContent sends none (the documented difference).</summary>
    [Fact]
    [Trait("Spec", "PROTOCOL-22")]
    public async Task PROTOCOL_22_a_post_without_content_type_is_sent_as_a_form_as_tornado_does()
    {
        var log = new RequestLog();
        await using var server = RecordingServer.Start("A", log, r => Reply.Text("ok"));
        var client = new AsyncHttpClient();
        await using (client)
        {
            await client.FetchAsync(new FetchRequest(server.Url("/post")) { Method = "POST", Body = "a=1&b=2" });
            await client.FetchAsync(new FetchRequest(server.Url("/json")) { Method = "POST", Body = "{}", Headers = { { "Content-Type", "application/json" } } });
            await client.FetchAsync(new FetchRequest(server.Url("/put")) { Method = "PUT", Body = "x" });
        }

        var received = log.Take();
        Assert.Equal(["application/x-www-form-urlencoded", "application/json", null], received.Select(r => r.Header("Content-Type")));
        Assert.Equal("a=1&b=2", Encoding.UTF8.GetString(received[0].Body));

        // The oracle's side of the difference: HttpClient with bytes sends no Content-Type at all.
        using (var http = new HttpClient())
        {
            using var response = await http.PostAsync(server.Url("/post"), new ByteArrayContent("a=1"u8.ToArray()));
        }

        Assert.Null(Assert.Single(log.Take()).Header("Content-Type"));
        Assert.Empty(client.Pool?.Snapshot() ?? []);
        await DifferentialRunner.AssertNothingOpenTowardsAsync(log.Ports, "both");
    }
}
