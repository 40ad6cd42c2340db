using System.Net;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Replay;

/// <summary>
/// Public bug reports of other HTTP clients about response bodies (content codings on responses without content,
/// empty coded bodies, chunk extensions and trailers), replayed against Tether on a scripted loopback server, with a
/// plain <see cref="HttpClient"/> over a <see cref="SocketsHttpHandler"/> that decompresses everything
/// (<c>AutomaticDecompression = All</c>, as Tether does by default) as the oracle on the same script.
/// </summary>
public sealed class ResponseBodyReplayTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static HttpClient NewOracle() =>
        new(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.All });

    // Answers every request on a connection with `head` (a complete response head, and `body` after it).
    private static ScriptServer Serve(string head, string body = "") => ScriptServer.Start(async (c, ct) =>
    {
        while (await c.ReadRequestAsync(ct) is not null)
        {
            await c.SendAsync(head + body, ct);
        }
    });

    public static TheoryData<string, string> Bodiless() => new()
    {
        { "HEAD", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4242\r\nContent-Type: text/css\r\n\r\n" },
        { "GET", "HTTP/1.1 304 Not Modified\r\nContent-Encoding: gzip\r\nContent-Length: 4242\r\nETag: \"v1\"\r\n\r\n" },
        { "GET", "HTTP/1.1 204 No Content\r\nContent-Encoding: br\r\n\r\n" },
    };

    [Theory]
    [Trait("Spec", "HTTP-04")]
    [MemberData(nameof(Bodiless))]
    public async Task HTTP_04_a_response_without_content_keeps_its_Content_Encoding_and_Content_Length(string method, string head)
    {
        // Replays nodejs/undici#5564 and mizosoft/methanol#34 (a HEAD answered with Content-Encoding: gzip was run
        // through the decoder: "unexpected end of file", or, once that was fixed, its Content-Encoding and Content-Length
        // were stripped), and lostisland/faraday_middleware#192 (a 304 with Content-Encoding: gzip). A HEAD, 304 or 204
        // has no content: its Content-Encoding and Content-Length describe what a GET would receive (RFC 9110 §9.3.2,
        // §15.4.5), the very thing a HEAD is sent to learn, and curl -I shows them. A plain HttpClient with
        // AutomaticDecompression strips both as if it had decoded a body; Tether stripped them too and reported the
        // coding in DecodedContentEncodings. Now both headers stay and nothing is reported decoded (intended difference
        // from HttpClient, docs/tornado.md "Content codings").
        await using var server = Serve(head);
        var check = LeakCheck.Start(server.Port);
        var coding = head.Contains("br", StringComparison.Ordinal) ? "br" : "gzip";
        var length = head.Contains("4242", StringComparison.Ordinal) ? "4242" : null;

        // The oracle: an empty body, and both headers gone.
        using (var plain = NewOracle())
        {
            using var message = await plain.SendAsync(new HttpRequestMessage(new HttpMethod(method), server.Url("/style.css")), Ct);
            Assert.Empty(await message.Content.ReadAsByteArrayAsync(Ct));
            Assert.Empty(message.Content.Headers.ContentEncoding);
        }

        await using (var client = ScriptServer.NewClient())
        {
            for (var i = 0; i < 2; i++)
            {
                var response = await client.FetchAsync(new FetchRequest(server.Url("/style.css")) { Method = method, RaiseOnError = false }, Ct);
                Assert.Empty(response.Body);
                Assert.Equal(coding, response.Headers["Content-Encoding"]);
                Assert.Equal(length, response.Headers["Content-Length"]);
                Assert.Empty(response.DecodedContentEncodings);

                // Streamed the same way.
                await using var streamed = await client.FetchStreamAsync(new FetchRequest(server.Url("/style.css")) { Method = method, RaiseOnError = false }, Ct);
                Assert.Equal(coding, streamed.Headers["Content-Encoding"]);
                Assert.Equal(0, await streamed.BodyStream.ReadAsync(new byte[16], Ct));
            }
        }

        // Every Tether request after the oracle's connection rode one connection: nothing was left unread.
        Assert.Equal(2, server.AcceptedConnections);
        await check.AssertCleanAsync();
    }

    [Theory]
    [Trait("Spec", "HTTP-04")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 0\r\n\r\n")]
    public async Task HTTP_04_an_empty_body_labelled_with_a_coding_is_an_empty_body_as_HttpClient_reads_it(string response)
    {
        // Replays envoyproxy/ai-gateway#2291, request/request#2177 and jnunemaker/httparty#442: a 200 with
        // Content-Encoding: gzip and no body bytes at all made the gzip reader fail ("EOF", "not in gzip format") and the
        // caller lost a successful response. A plain HttpClient returns an empty body; so does Tether, and the
        // connection stays usable.
        await using var server = Serve(response);
        var check = LeakCheck.Start(server.Port);
        using (var plain = NewOracle())
        {
            Assert.Empty(await plain.GetByteArrayAsync(server.Url("/empty"), Ct));
        }

        await using (var client = ScriptServer.NewClient())
        {
            for (var i = 0; i < 2; i++)
            {
                var fetched = await client.FetchAsync(server.Url("/empty"), Ct);
                Assert.Equal(200, fetched.Code);
                Assert.Empty(fetched.Body);
            }
        }

        Assert.Equal(2, server.AcceptedConnections); // the oracle's, and one for both of Tether's fetches
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-05")]
    public async Task PROTOCOL_05_chunk_extensions_and_trailers_are_skipped_and_the_connection_stays_in_step()
    {
        // Replays xroche/httrack#855, valyala/fasthttp#1078 and yhirose/cpp-httplib#1486: chunk extensions
        // (`5;name=val`) and a trailer section after the last chunk were read as body or as an invalid chunk, or the
        // trailer's bytes were left on the connection for the next response to start with. RFC 9112 §7.1.1/§7.1.2: a
        // recipient ignores unknown extensions and may discard trailer fields. A plain HttpClient returns the body
        // "hello world"; Tether returns the same, delivers it to a streaming callback, and the next request on the
        // connection reads its own response (Tether, like Tornado, has no API for trailers: they are discarded).
        const string Chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n" +
            "5;name=val\r\nhello\r\n6;quoted=\"a;b\"\r\n world\r\n0;last\r\nX-Checksum: 42\r\nX-Other: x\r\n\r\n";
        await using var server = Serve(Chunked);
        var check = LeakCheck.Start(server.Port);
        using (var plain = NewOracle())
        {
            Assert.Equal("hello world", await plain.GetStringAsync(server.Url("/t"), Ct));
            Assert.Equal("hello world", await plain.GetStringAsync(server.Url("/t"), Ct));
        }

        await using (var client = ScriptServer.NewClient())
        {
            var seen = new List<byte>();
            var first = await client.FetchAsync(new FetchRequest(server.Url("/t")) { StreamingCallback = chunk => seen.AddRange(chunk.ToArray()) }, Ct);
            Assert.Equal(200, first.Code);
            Assert.Equal("hello world", System.Text.Encoding.ASCII.GetString([.. seen]));
            for (var i = 0; i < 2; i++)
            {
                Assert.Equal("hello world", (await client.FetchAsync(server.Url("/t"), Ct)).Text);
            }
        }

        Assert.Equal(2, server.AcceptedConnections);
        Assert.All(server.Requests.Skip(2), r => Assert.Equal(1, r.Connection));
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-08")]
    public async Task PROTOCOL_08_a_range_request_asks_for_the_identity_coding_so_a_resumed_download_is_not_a_decode_error()
    {
        // Replays psf/requests#2632 and r-lib/httr#405: a client that asks for gzip by default sends `Range: bytes=N-`; the
        // server (nginx gzip_static, Apache with precompressed files) answers 206 with that range of the gzip file and
        // Content-Encoding: gzip, and the client's decoder fails on bytes cut from the middle of a gzip stream. A plain
        // HttpClient (no AutomaticDecompression by default) asks for no coding and gets the plain range; Go's Transport asks
        // for none when Range is set, and the Fetch standard sends Accept-Encoding: identity (denoland/deno#16197). Tether
        // asked for "gzip, deflate, br" and failed with a 599 Protocol; now it asks for identity and gets the range.
        var plain = System.Text.Encoding.ASCII.GetBytes(string.Join(",", Enumerable.Range(0, 2000)));
        byte[] gzip;
        using (var buffer = new MemoryStream())
        {
            using (var gz = new System.IO.Compression.GZipStream(buffer, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            {
                gz.Write(plain);
            }

            gzip = buffer.ToArray();
        }

        const int From = 1000;
        await using var server = ScriptServer.Start(async (c, ct) =>
        {
            while (await c.ReadRequestAsync(ct) is { } request)
            {
                // As a server with a precompressed copy does: the gzip file when the client accepts gzip, else the plain one.
                var coded = request.Header("Accept-Encoding") is { } accept && accept.Contains("gzip", StringComparison.OrdinalIgnoreCase);
                var file = coded ? gzip : plain;
                var from = request.Header("Range") is null ? 0 : From;
                var head = (from == 0 ? "HTTP/1.1 200 OK\r\n" : $"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{file.Length - 1}/{file.Length}\r\n") +
                    (coded ? "Content-Encoding: gzip\r\n" : "") + $"Content-Length: {file.Length - from}\r\n\r\n";
                await c.SendAsync([.. System.Text.Encoding.ASCII.GetBytes(head), .. file[from..]], ct);
            }
        });
        var check = LeakCheck.Start(server.Port);
        var expected = plain[From..];

        // The oracle: a default HttpClient gets the plain range.
        using (var http = new HttpClient(new SocketsHttpHandler()))
        {
            using var message = new HttpRequestMessage(HttpMethod.Get, server.Url("/data.csv"));
            message.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(From, null);
            using var response = await http.SendAsync(message, Ct);
            Assert.Equal(expected, await response.Content.ReadAsByteArrayAsync(Ct));
        }

        await using (var client = ScriptServer.NewClient())
        {
            var request = new FetchRequest(server.Url("/data.csv"));
            request.Headers.Add("Range", $"bytes={From}-");
            var response = await client.FetchAsync(request, Ct);
            Assert.Equal(206, response.Code);
            Assert.Equal(expected, response.Body);
            Assert.Equal("identity", server.Requests[^1].Header("Accept-Encoding"));

            // A caller who names the codings gets what they asked for.
            var own = new FetchRequest(server.Url("/data.csv"));
            own.Headers.Add("Range", $"bytes={From}-");
            own.Headers.Add("Accept-Encoding", "br");
            Assert.Equal(expected, (await client.FetchAsync(own, Ct)).Body);
            Assert.Equal("br", server.Requests[^1].Header("Accept-Encoding"));

            // Without a Range nothing changes: gzip, deflate and br are asked for, and the whole gzip body is decoded.
            Assert.Equal(plain, (await client.FetchAsync(server.Url("/data.csv"), Ct)).Body);
            Assert.Equal("gzip, deflate, br", server.Requests[^1].Header("Accept-Encoding"));
        }

        await check.AssertCleanAsync();
    }
}
