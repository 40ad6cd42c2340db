using System.Net;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Xunit;
using Tether.Tests.Core;
using static Tether.Tests.Core.CoreTestSupport;
using static Tether.Tests.Replay.Http2ReplayTests;

namespace Tether.Tests.Replay;

/// <summary>Uploads the server stops reading or never answers, over HTTP/2 and HTTP/1.1 (see <see cref="Http2ReplayTests"/>).
/// A class of its own: its tests each wait out real time (a timeout of seconds), and xunit runs the tests of one
/// class one after another (docs/design.md, "Tests and how they count").</summary>
public sealed class Http2UploadStallReplayTests
{
    // dotnet/corefx#39582 ("HTTP2: Hang when writing sending large data to completed request") and curl/curl#10433
    // ("HTTP/2 request content upload stalls"): a server that stops reading an upload leaves the client's writes
    // waiting for a WINDOW_UPDATE (HTTP/2) or for room in the socket (HTTP/1.1) that never comes; only a timeout ends
    // it. A plain HttpClient ends it at HttpClient.Timeout (TaskCanceledException, TimeoutException inside). Tether ended
    // it at RequestTimeout, typed, but its message said a connect that never completes ends there too and advised
    // setting ConnectTimeout below RequestTimeout, although the connection was up and most of a megabyte had gone out
    // on it. The message now says the body was being sent on an open connection and the server stopped reading it.
    [Theory]
    [Trait("Spec", "TIMEOUT-02")]
    [InlineData("h2", "bytes")]
    [InlineData("h2", "producer")]
    [InlineData("h1", "producer")]
    public async Task TIMEOUT_02_an_upload_the_server_stops_reading_times_out_naming_the_body_not_a_connect(string protocol, string body)
    {
        var ct = TestContext.Current.CancellationToken;
        var version = protocol == "h2" ? HttpVersion.Version20 : HttpVersion.Version11;
        var requests = 0;
        await using var app = await H2App.StartAsync(async (context, stop) =>
        {
            Interlocked.Increment(ref requests);
            // Never reads the body and never answers, until the client gives up on the request or the test ends.
            await Task.Delay(Timeout.Infinite, stop).ContinueWith(static _ => { }, TaskScheduler.Default);
        }, protocols: protocol == "h2" ? HttpProtocols.Http2 : HttpProtocols.Http1);
        // 2 s: long enough for the writes to fill every window and buffer on loopback (milliseconds), short for a test.
        var timeout = TimeSpan.FromSeconds(2);

        using (var plain = NewPlainClient(H2App.NewPlainHandler(), version))
        {
            plain.Timeout = timeout;
            HttpContent content = body == "bytes" ? new ByteArrayContent(s_eightMiB) : new ChunksContent();
            var error = await Assert.ThrowsAsync<TaskCanceledException>(() => plain.PostAsync(app.Url("/upload"), content, ct));
            Assert.IsType<TimeoutException>(error.InnerException);
        }

        Assert.Equal(1, Volatile.Read(ref requests));

        var pool = new ConnectionPool();
        await using (var client = NewClient(pool, app, version, timeout))
        {
            var request = new FetchRequest(app.Url("/upload").ToString()) { Method = "POST" };
            if (body == "bytes")
            {
                request.Body = s_eightMiB;
            }
            else
            {
                request.BodyProducer = ProduceAsync;
            }

            // Bound 30 s: the fetch ends at its 2 s RequestTimeout; the rest is margin for a loaded 2-core machine, and a
            // hang would outlast it.
            var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(request, ct).WaitAsync(TimeSpan.FromSeconds(30), ct));
            Assert.Equal((599, FetchErrorKind.RequestTimeout), (error.Code, error.Kind));
            Assert.Contains("the request body was still being sent", error.Message, StringComparison.Ordinal);
            Assert.Contains("the server had stopped reading it", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("a connect that never completes", error.Message, StringComparison.Ordinal);
            Assert.IsType<TimeoutException>(error.InnerException);
        }

        Assert.Equal(2, Volatile.Read(ref requests)); // the server saw the request once, as from HttpClient
        await pool.CloseAsync(ct);
        await AssertCleanAsync(pool, app.Port);
    }

    // The other side of the same message: a server that reads the whole body and then never answers. The connection was
    // up and the body went out, so the message says so instead of suggesting a connect that never completed.
    [Fact]
    [Trait("Spec", "TIMEOUT-02")]
    public async Task TIMEOUT_02_a_body_read_whole_by_a_server_that_never_answers_times_out_saying_the_body_was_sent()
    {
        var ct = TestContext.Current.CancellationToken;
        var read = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await H2App.StartAsync(async (context, stop) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, stop);
            read.TrySetResult(buffer.Length);
            await Task.Delay(Timeout.Infinite, stop).ContinueWith(static _ => { }, TaskScheduler.Default);
        });
        var pool = new ConnectionPool();
        await using (var client = NewClient(pool, app, HttpVersion.Version20, TimeSpan.FromSeconds(2)))
        {
            var request = new FetchRequest(app.Url("/upload").ToString()) { Method = "POST", Body = new byte[100] };
            // Bound 30 s: the fetch ends at its 2 s RequestTimeout; the rest is margin for a loaded 2-core machine.
            var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(request, ct).WaitAsync(TimeSpan.FromSeconds(30), ct));
            Assert.Equal(FetchErrorKind.RequestTimeout, error.Kind);
            Assert.Equal(100, await read.Task.WaitAsync(TimeSpan.FromSeconds(5), ct)); // read before the timeout fired
            Assert.Contains("The whole request body (100 bytes) was sent on an open connection", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("a connect that never completes", error.Message, StringComparison.Ordinal);
        }

        await pool.CloseAsync(ct);
        await AssertCleanAsync(pool, app.Port);
    }
}
