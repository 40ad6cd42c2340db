using System.Diagnostics;
using System.Text;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Replay;

/// <summary>
/// Public bug reports about <c>Expect: 100-continue</c>, interim responses and redirect bodies, replayed against Tether
/// on a scripted loopback server, with a plain <see cref="HttpClient"/> as the oracle where it has the same feature.
/// </summary>
public sealed class InterimAndRedirectReplayTests
{
    /// <summary>Upper bound for a fetch that must not wait for anything: a few ms unloaded; a client that misread the
    /// stream would wait for the 5 s request timeout. 3 s is the margin for a loaded 2-core machine.</summary>
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(3);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AsyncHttpClient NewClient() => ScriptServer.NewClient();

    // /upload with Expect: 100-continue is refused at once with a final 401 (no 100), keep-alive; every other request is
    // answered with its method and target, so a desynchronised connection shows as a garbled method.
    private static ScriptServer EarlyRefusalServer() => ScriptServer.Start(async (c, ct) =>
    {
        while (await c.ReadRequestAsync(ct, readBody: false) is { } request)
        {
            if (request.Target == "/upload" && request.Header("Expect") is not null)
            {
                await c.SendAsync("HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\ndenied", ct);

                // A keep-alive server that answered early must still consume the announced body: the client has to
                // send it (or close), which is the fix of the report; reading it here shows which one the client did.
                if (await c.ReadBodyAsync(request, ct) is null)
                {
                    return; // the client closed instead of sending the body: also unambiguous
                }

                continue;
            }

            await c.ReadBodyAsync(request, ct);
            var answer = $"{request.Method} {request.Target}";
            await c.SendAsync($"HTTP/1.1 200 OK\r\nContent-Length: {answer.Length}\r\n\r\n{answer}", ct);
        }
    });

    [Fact]
    [Trait("Spec", "PROTOCOL-14")]
    public async Task PROTOCOL_14_a_final_response_instead_of_100_never_desynchronises_the_connection()
    {
        // Replays dotnet/corefx#24778 (and #24435): with `Expect: 100-continue`, a server that answers at once with a
        // final status (401) and keeps the connection cannot tell whether the next bytes are the promised body or the
        // next request; the client that neither sent the body nor closed the connection had its next request read as
        // garbage (400). The client must send the promised body (Content-Length framed, so the server can skip it) or
        // close the connection; either way the next request reaches the server as sent.
        await using var server = EarlyRefusalServer();
        var check = LeakCheck.Start(server.Port);
        await using (var client = NewClient())
        {
            var refused = await client.FetchAsync(
                new FetchRequest(server.Url("/upload")) { Method = "POST", Body = "the-body", ExpectContinue = true, RaiseOnError = false }, Ct);
            Assert.Equal(401, refused.Code);
            Assert.Equal("denied", refused.Text);

            var sw = Stopwatch.StartNew();
            var next = await client.FetchAsync(server.Url("/next"), Ct);
            Assert.True(sw.Elapsed < Prompt, $"the next fetch took {sw.Elapsed.TotalMilliseconds:F0} ms (bound {Prompt.TotalSeconds} s)");
            Assert.Equal("GET /next", next.Text);
        }

        // What the server parsed as the second request: exactly the GET, never the body glued to it.
        var second = server.Requests[^1];
        Assert.Equal(("GET", "/next"), (second.Method, second.Target));

        // Oracle: the default handler, same script.
        await using (var oracle = EarlyRefusalServer())
        {
            using var plain = new HttpClient(new SocketsHttpHandler());
            using var upload = new HttpRequestMessage(HttpMethod.Post, oracle.Url("/upload")) { Content = new StringContent("the-body") };
            upload.Headers.ExpectContinue = true;
            using var refused = await plain.SendAsync(upload, Ct);
            Assert.Equal(401, (int)refused.StatusCode);
            Assert.Equal("GET /next", await plain.GetStringAsync(oracle.Url("/next"), Ct));
        }

        await check.AssertCleanAsync();
    }

    public static TheoryData<string, string> InterimHeads => new()
    {
        { "100 then the final response", "HTTP/1.1 100 Continue\r\n\r\n" },
        { "100 with header fields", "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\nServer: replay\r\n\r\n" },
        { "two 100 responses", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" },
        { "103 Early Hints then 100", "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" },
    };

    [Theory]
    [MemberData(nameof(InterimHeads))]
    [Trait("Spec", "PROTOCOL-12")]
    public async Task PROTOCOL_12_interim_responses_before_the_final_one_are_skipped(string shape, string interim)
    {
        // Replays dotnet/corefx#31412 (a 100 with header fields), #31413 (several 100s) and dotnet/corefx#30102 (a 100
        // sent although the request had no body, after which the final head was read as the body and the client hung):
        // every interim head is skipped, the final head is parsed, and the connection stays usable.
        await using var server = ScriptServer.Start(async (c, ct) =>
        {
            while (await c.ReadRequestAsync(ct) is { } request)
            {
                await c.SendAsync(interim, ct);
                var answer = $"{request.Method} {request.Target} {request.Body.Length}";
                await c.SendAsync($"HTTP/1.1 200 OK\r\nContent-Length: {answer.Length}\r\n\r\n{answer}", ct);
            }
        });
        var check = LeakCheck.Start(server.Port);
        await using (var client = NewClient())
        {
            var sw = Stopwatch.StartNew();
            var posted = await client.FetchAsync(new FetchRequest(server.Url("/post")) { Method = "POST", Body = "12345" }, Ct);
            var got = await client.FetchAsync(server.Url("/get"), Ct);
            Assert.True(sw.Elapsed < Prompt, $"{shape}: two fetches took {sw.Elapsed.TotalMilliseconds:F0} ms (bound {Prompt.TotalSeconds} s)");
            Assert.Equal("POST /post 5", posted.Text);
            Assert.Equal("GET /get 0", got.Text);
        }

        Assert.Equal(1, server.AcceptedConnections);
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "HTTP-05")]
    public async Task HTTP_05_a_redirect_with_an_endless_body_is_followed_without_reading_it_all()
    {
        // Replays psf/requests#5529: requests read the whole body of a redirect before following it, so a redirect
        // whose body never ends kept the client reading forever. The server streams its 302's chunked body as fast as
        // the client reads it (bounded: 256 MiB or 20 s), on and on; the fetch must follow to /target promptly and
        // close the redirect's connection instead of draining it.
        var chunk = Encoding.ASCII.GetBytes($"4000\r\n{new string('z', 0x4000)}\r\n");
        long redirectBytesSent = 0;
        await using var server = ScriptServer.Start(async (c, ct) =>
        {
            while (await c.ReadRequestAsync(ct) is { } request)
            {
                if (request.Target == "/target")
                {
                    await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\narrived", ct);
                    continue;
                }

                await c.SendAsync("HTTP/1.1 302 Found\r\nLocation: /target\r\nTransfer-Encoding: chunked\r\n\r\n", ct);
                var sw = Stopwatch.StartNew();
                while (redirectBytesSent < 256L * 1024 * 1024 && sw.Elapsed < TimeSpan.FromSeconds(20))
                {
                    await c.SendAsync(chunk, ct); // ends with SocketException once the client closed
                    Interlocked.Add(ref redirectBytesSent, chunk.Length);
                }

                return;
            }
        });
        var check = LeakCheck.Start(server.Port);
        await using (var client = NewClient())
        {
            var sw = Stopwatch.StartNew();
            var response = await client.FetchAsync(server.Url("/start"), Ct);
            Assert.True(sw.Elapsed < Prompt, $"following the endless redirect took {sw.Elapsed.TotalMilliseconds:F0} ms (bound {Prompt.TotalSeconds} s)");
            Assert.Equal("arrived", response.Text);
            Assert.Equal("/target", response.EffectiveUrl.AbsolutePath);
        }

        Assert.Equal(2, server.AcceptedConnections); // the redirect's connection was not reused
        await check.AssertCleanAsync();
        Assert.True(Interlocked.Read(ref redirectBytesSent) < 64L * 1024 * 1024,
            $"the server sent {Interlocked.Read(ref redirectBytesSent) / 1024 / 1024} MiB of the redirect's body before the client closed");
    }
}
