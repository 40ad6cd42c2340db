using System.Diagnostics;
using System.Text;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Replay;

/// <summary>
/// Public bug reports of other HTTP clients about keep-alive reuse, replayed against Tether on a scripted loopback
/// server, with a plain <see cref="HttpClient"/> over a default <see cref="SocketsHttpHandler"/> as the oracle on the
/// same script. Each test names the report it replays.
/// </summary>
public sealed class ConnectionReuseReplayTests
{
    /// <summary>Upper bound for a fetch that must not wait for anything: a few ms unloaded; a hang would run into the
    /// 5 s request timeout of <see cref="NewClient"/>. 3 s is the margin for a loaded 2-core machine.</summary>
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(3);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AsyncHttpClient NewClient(Action<AsyncHttpClientOptions>? configure = null)
    {
        var options = new AsyncHttpClientOptions { Ownership = ClientOwnership.Caller };
        options.Defaults.RequestTimeout = TimeSpan.FromSeconds(5);
        options.Defaults.ConnectTimeout = TimeSpan.FromSeconds(2);
        configure?.Invoke(options);
        return new AsyncHttpClient(options);
    }

    // Serves every request on a connection: HEAD gets a head with chunked framing and no body (what S3 sends), anything
    // else a 2-byte body.
    private static ScriptServer HeadChunkedServer() => ScriptServer.Start(async (c, ct) =>
    {
        while (await c.ReadRequestAsync(ct) is { } request)
        {
            await c.SendAsync(
                request.Method == "HEAD"
                    ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
                    : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                ct);
        }
    });

    [Fact]
    [Trait("Spec", "PROTOCOL-10")]
    public async Task PROTOCOL_10_HEAD_answered_with_chunked_framing_returns_at_once_and_keeps_its_connection()
    {
        // Replays psf/requests#4199 (urllib3/urllib3#1234): a server (S3) answers HEAD with `Transfer-Encoding: chunked`
        // and, as HEAD requires, no body; urllib3 waited for a chunked body that never comes and never put the
        // connection back. A HEAD response has no body whatever its framing headers say (RFC 9110 §9.3.2).
        await using var server = HeadChunkedServer();
        var check = LeakCheck.Start(server.Port);
        await using (var client = NewClient())
        {
            for (var i = 0; i < 3; i++)
            {
                var sw = Stopwatch.StartNew();
                var head = await client.FetchAsync(new FetchRequest(server.Url("/object")) { Method = "HEAD" }, Ct);
                Assert.True(sw.Elapsed < Prompt, $"HEAD {i} took {sw.Elapsed.TotalMilliseconds:F0} ms (bound {Prompt.TotalSeconds} s): it waited for a body");
                Assert.Equal(200, head.Code);
                Assert.Empty(head.Body);
            }

            var get = await client.FetchAsync(server.Url("/object"), Ct);
            Assert.Equal("ok", get.Text);
        }

        // All four requests on the first connection: the HEADs left it reusable.
        Assert.Equal(1, server.AcceptedConnections);
        Assert.All(server.Requests, r => Assert.Equal(0, r.Connection));

        // Oracle: a default SocketsHttpHandler reuses the connection the same way.
        await using (var oracle = HeadChunkedServer())
        {
            using var plain = new HttpClient(new SocketsHttpHandler());
            for (var i = 0; i < 3; i++)
            {
                using var head = await plain.SendAsync(new HttpRequestMessage(HttpMethod.Head, oracle.Url("/object")), Ct);
                Assert.Empty(await head.Content.ReadAsByteArrayAsync(Ct));
            }

            Assert.Equal("ok", await plain.GetStringAsync(oracle.Url("/object"), Ct));
            Assert.Equal(oracle.AcceptedConnections, server.AcceptedConnections);
        }

        await check.AssertCleanAsync();
    }

    // The first response on each connection carries more bytes than its Content-Length: a complete forged response
    // right behind the body, sent in the same write (sameSegment) or a moment later. Every later request on that
    // connection is answered "wrong" (a server that lost the framing); the first request on a new connection is answered
    // "ok" again. A client that reused the connection would read the forged response as the answer to its next request.
    /// <summary>A server whose first answer declares 2 bytes and is followed by a forged response: in the same segment,
    /// or 100 ms later. <paramref name="lateSent"/> completes once the late bytes were sent (on loopback they are then
    /// in the client's receive queue).</summary>
    private static ScriptServer OverlongServer(bool sameSegment, TaskCompletionSource lateSent) => ScriptServer.Start(async (c, ct) =>
    {
        const string forged = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged";
        var first = true;
        while (await c.ReadRequestAsync(ct) is not null)
        {
            if (!first)
            {
                await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwrong", ct);
                continue;
            }

            first = false;
            if (sameSegment)
            {
                await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + forged, ct);
            }
            else
            {
                await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", ct);
                await Task.Delay(100, ct); // the bytes come late, on the idle connection: the scenario itself
                await c.SendAsync(forged, ct);
            }

            lateSent.TrySetResult();
        }
    });

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    [Trait("Spec", "HTTP-07")]
    public async Task HTTP_07_bytes_past_Content_Length_never_answer_the_next_request(bool sameSegment)
    {
        // Replays golang/go#32728 ("server replied with more than declared Content-Length; truncated") in its HTTP/1.1
        // form: the body stops at the declared length, and what follows on the connection is not a response to
        // anything, so the connection must not carry another request (a desync: the next caller would read the forged
        // bytes as its answer).
        var lateSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = OverlongServer(sameSegment, lateSent);
        var check = LeakCheck.Start(server.Port);
        await using (var client = NewClient())
        {
            var first = await client.FetchAsync(server.Url("/one"), Ct);
            Assert.Equal("ok", first.Text);
            if (!sameSegment)
            {
                // The late bytes must be on the idle connection before the next request is sent.
                await WaitForLateBytes(lateSent);
            }

            var second = await client.FetchAsync(server.Url("/two"), Ct);
            // "forged": the late bytes were read as this answer; "wrong": the connection was reused. A new connection
            // answers its first request "ok".
            Assert.Equal("ok", second.Text);
        }

        Assert.Equal(2, server.AcceptedConnections);

        // Oracle: the default handler also opens a second connection.
        var oracleLateSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (var oracle = OverlongServer(sameSegment, oracleLateSent))
        {
            using var plain = new HttpClient(new SocketsHttpHandler());
            Assert.Equal("ok", await plain.GetStringAsync(oracle.Url("/one"), Ct));
            if (!sameSegment)
            {
                await WaitForLateBytes(oracleLateSent);
            }

            Assert.Equal("ok", await plain.GetStringAsync(oracle.Url("/two"), Ct));
            Assert.Equal(oracle.AcceptedConnections, server.AcceptedConnections);
        }

        await check.AssertCleanAsync();
    }

    // Waits until the server has sent its late bytes (a CI run under load sent the next request first, and then even
    // the plain handler read the forged bytes as its answer: the scenario had not been set up). Bounded: 10 s for a
    // loaded 2-core machine, against the 100 ms the server waits.
    private static Task WaitForLateBytes(TaskCompletionSource lateSent) => lateSent.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

    [Fact]
    [Trait("Spec", "PROTOCOL-04")]
    public async Task PROTOCOL_04_an_unread_streamed_response_does_not_block_the_next_fetch_of_the_client()
    {
        // Replays aio-libs/aiohttp#2217: a response whose body was never read (and not released) made the session's
        // next request hang until its timeout. In Tether the unread response keeps its connection and the next fetch
        // takes another one; once the first is disposed, its connection is closed (megabytes unread: not drained).
        var big = new string('x', 4 * 1024 * 1024);
        await using var server = ScriptServer.Start(async (c, ct) =>
        {
            while (await c.ReadRequestAsync(ct) is { } request)
            {
                var body = request.Target == "/big" ? big : "small";
                await c.SendAsync($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n\r\n{body}", ct);
            }
        });
        var check = LeakCheck.Start(server.Port);
        await using (var client = NewClient())
        {
            var unread = await client.FetchStreamAsync(server.Url("/big"), Ct);
            var sw = Stopwatch.StartNew();
            var next = await client.FetchAsync(server.Url("/small"), Ct);
            Assert.True(sw.Elapsed < Prompt, $"the second fetch took {sw.Elapsed.TotalMilliseconds:F0} ms (bound {Prompt.TotalSeconds} s)");
            Assert.Equal("small", next.Text);
            Assert.Equal(2, server.AcceptedConnections);
            await unread.DisposeAsync();

            var third = await client.FetchAsync(server.Url("/small"), Ct);
            Assert.Equal("small", third.Text);
            Assert.Equal(2, server.AcceptedConnections); // the second connection was kept; the unread one was not reused
        }

        await check.AssertCleanAsync();
    }
}
