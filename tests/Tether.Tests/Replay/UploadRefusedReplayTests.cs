using System.Diagnostics;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Replay;

/// <summary>
/// An upload the server stops reading: aio-libs/aiohttp#7599 ("Failed upload causes the next request to timeout"), a
/// server that answers 413 at once on a kept-alive connection and never reads the body. Over HTTP/1.1
/// <see cref="SocketsHttpHandler"/> reads a response only once the whole request body is sent, so neither a plain
/// <see cref="HttpClient"/> nor Tether sees the early 413: both end at their timeout. The replay checks that Tether's
/// timeout says what happened (the body stalled, the server stopped reading it) instead of "the server did not answer",
/// that <c>ExpectContinue</c> gets the 413 at once, and that nothing is left open.
/// </summary>
public sealed class UploadRefusedReplayTests
{
    /// <summary>More than loopback's socket buffers on both ends hold (a few MiB each with autotuning), so the upload
    /// stalls once the server stops reading. Shared: never written.</summary>
    private static readonly byte[] Upload = new byte[32 * 1024 * 1024];

    /// <summary>The request timeout of these fetches: the scenario has to let it pass (nothing else ends it).</summary>
    private static readonly TimeSpan Timeout1s = TimeSpan.FromSeconds(1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AsyncHttpClient NewClient()
    {
        var options = new AsyncHttpClientOptions { Ownership = ClientOwnership.Caller };
        options.Defaults.RequestTimeout = Timeout1s;
        options.Defaults.ConnectTimeout = TimeSpan.FromMilliseconds(500);
        return new AsyncHttpClient(options);
    }

    // Answers a POST at once with a 413 on a kept-alive connection and reads nothing more of the connection until the
    // test has seen its client give up (release), like the reported server; a POST that asked `Expect: 100-continue`
    // gets the same 413 and the connection goes on. Anything else gets 200 "ok".
    private static ScriptServer RefusingServer(Task release) => ScriptServer.Start(async (c, ct) =>
    {
        while (await c.ReadRequestAsync(ct, readBody: false) is { } request)
        {
            if (request.Method != "POST")
            {
                await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", ct);
                continue;
            }

            await c.SendAsync("HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\n\r\ntoo big!", ct);
            if (request.Header("Expect") is null)
            {
                await release.WaitAsync(ct); // stops reading: the rest of the body stays unread
                return;
            }
        }
    });

    [Fact]
    [Trait("Spec", "FAULT-11")]
    [Trait("Category", "Timing")]
    public async Task FAULT_11_an_upload_the_server_stopped_reading_after_an_early_413_times_out_saying_so_and_ExpectContinue_gets_the_413()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = RefusingServer(release.Task);
        var check = LeakCheck.Start(server.Port);
        await using (var client = NewClient())
        {
            var upload = new FetchRequest(server.Url("/upload")) { Method = "POST", Body = Upload };
            var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(upload, Ct));
            release.TrySetResult();
            Assert.Equal(FetchException.NoResponse, error.Code);
            Assert.Equal(FetchErrorKind.RequestTimeout, error.Kind);
            // Before: "No response head had arrived: the server did not answer in time", while the server had answered
            // and it was the body that could not go out.
            Assert.Contains("the request body was still being sent", error.Message, StringComparison.Ordinal);
            Assert.Contains($" of {Upload.Length} bytes had gone to the connection", error.Message, StringComparison.Ordinal);
            Assert.Contains("ExpectContinue", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("the server did not answer in time", error.Message, StringComparison.Ordinal);

            // With Expect: 100-continue the server refuses before the body goes out: the 413 comes back at once (a
            // few ms unloaded; the 1 s request timeout is the bound, since a wait for the body would run into it).
            var sw = Stopwatch.StartNew();
            var expecting = new FetchRequest(server.Url("/upload")) { Method = "POST", Body = Upload, ExpectContinue = true, RaiseOnError = false };
            var refused = await client.FetchAsync(expecting, Ct);
            Assert.Equal(413, refused.Code);
            Assert.Equal("too big!", refused.Text);
            Assert.True(sw.Elapsed < Timeout1s, $"the 413 took {sw.Elapsed.TotalMilliseconds:F0} ms");

            // The body never went out, so the handler does not reuse that connection: the next request opens a third.
            Assert.Equal("ok", (await client.FetchAsync(server.Url("/after"), Ct)).Text);
            Assert.Equal(3, server.AcceptedConnections);
        }

        // Oracle: a plain HttpClient does not see the early 413 either; it ends at its own timeout.
        var oracleRelease = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (var oracle = RefusingServer(oracleRelease.Task))
        {
            using var plain = new HttpClient(new SocketsHttpHandler()) { Timeout = Timeout1s };
            var timedOut = await Assert.ThrowsAsync<TaskCanceledException>(() => plain.PostAsync(oracle.Url("/upload"), new ByteArrayContent(Upload), Ct));
            oracleRelease.TrySetResult();
            Assert.IsType<TimeoutException>(timedOut.InnerException);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "FAULT-11")]
    [Trait("Category", "Timing")]
    public async Task FAULT_11_a_timeout_while_the_body_producer_is_still_producing_says_so_not_that_the_server_did_not_answer()
    {
        // The other side of the same message: the server reads everything and waits for the rest of the body, which the
        // caller's producer never writes. The timeout must not blame the server.
        await using var server = ScriptServer.Start(async (c, ct) => await c.ReadForAsync(TimeSpan.FromSeconds(30), ct));
        var check = LeakCheck.Start(server.Port);
        await using (var client = NewClient())
        {
            var request = new FetchRequest(server.Url("/upload"))
            {
                Method = "POST",
                BodyProducer = async (stream, ct) =>
                {
                    await stream.WriteAsync(new byte[1000], ct);
                    await stream.FlushAsync(ct);
                    await Task.Delay(System.Threading.Timeout.Infinite, ct); // ends with the fetch's token
                },
            };
            var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(request, Ct));
            Assert.Equal(FetchErrorKind.RequestTimeout, error.Kind);
            Assert.Contains("the request body was not finished: 1000 bytes had been sent", error.Message, StringComparison.Ordinal);
            Assert.Contains("BodyProducer", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("the server did not answer in time", error.Message, StringComparison.Ordinal);
        }

        await check.AssertCleanAsync();
    }
}
