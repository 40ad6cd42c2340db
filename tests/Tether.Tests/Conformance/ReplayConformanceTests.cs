using Xunit;

namespace Tether.Tests.Conformance;

/// <summary>
/// Differential cases for body replay on a Digest 401 retry and on 307/308 (HTTP-02): bytes and seekable streams go
/// out again whole on both clients; a body producer is called again (Tether only); a non-seekable stream is never
/// sent again: HttpClient fails the request, Tether returns the 401/3xx (docs/tornado.md).
/// </summary>
public sealed class ReplayConformanceTests
{
    private const string DigestChallenge = "Digest realm=\"r\", nonce=\"n0nce\", qop=\"auth\", algorithm=MD5";

    private static RecordingServer DigestServer(RequestLog log) => RecordingServer.Start("A", log, r =>
        r.Header("Authorization") is null
            ? new Reply(401, "who?") { Headers = [new("WWW-Authenticate", DigestChallenge)] }
            : Reply.Text($"got {r.Body.Length}"));

    // Issue 15 item 2: "The same on a Digest 401 retry": the retry carried an empty body for stream bodies.
    [Theory]
    [InlineData(BodyKind.Bytes)]
    [InlineData(BodyKind.SeekableStream)]
    [Trait("Spec", "HTTP-02")]
    public async Task HTTP_02_digest_retry_resends_the_whole_body(BodyKind body)
    {
        var log = new RequestLog();
        await using var server = DigestServer(log);
        var c = new DiffCase($"digest {body}", "POST", server.Url("/auth")) { Body = body, Credentials = ("user", "pw", AuthMode.Digest) };
        var (client, tether) = await DifferentialRunner.CompareAsync(log, c);

        Assert.True(client.Error is null, client.ToString());
        Assert.Equal(client.CallerView, tether.CallerView);
        Assert.Equal($"200 got {c.BodyBytes.Length}", tether.CallerView);
        Assert.Equal(2, tether.Received.Count);
        Assert.All(tether.Received, r => Assert.Equal(c.BodyBytes, r.Body));
    }

    [Fact]
    [Trait("Spec", "HTTP-02")]
    public async Task HTTP_02_digest_retry_with_a_non_seekable_stream_returns_the_401()
    {
        var log = new RequestLog();
        await using var server = DigestServer(log);
        var c = new DiffCase("digest one-shot", "POST", server.Url("/auth")) { Body = BodyKind.NonSeekableStream, Credentials = ("user", "pw", AuthMode.Digest) };
        var (client, tether) = await DifferentialRunner.CompareAsync(log, c);

        // Tether: the 401 is the answer; one request, with the whole body; no empty retry.
        Assert.Equal("401 who?", tether.CallerView);
        var only = Assert.Single(tether.Received);
        Assert.Equal(c.BodyBytes, only.Body);
        // HttpClient never sends an empty body either (it fails or answers 401).
        Assert.DoesNotContain(client.Received, r => r.Body.Length != c.BodyBytes.Length);
    }

    // A body producer is called again for each hop (Tether only: HttpClient has no producer; its closest, a custom
    // HttpContent, is serialized again the same way).
    [Theory]
    [InlineData(307)]
    [InlineData(308)]
    [InlineData(401)]
    [Trait("Spec", "HTTP-02")]
    public async Task HTTP_02_body_producer_is_called_again(int code)
    {
        var log = new RequestLog();
        var payload = "produced-body"u8.ToArray();
        await using var server = code == 401
            ? DigestServer(log)
            : RecordingServer.Start("A", log, r => r.Target == "/start" ? Reply.Redirect(code, "/final") : Reply.Text($"got {r.Body.Length}"));
        var calls = 0;
        var side = new FetchSide("Tether producer", r =>
        {
            r.Body = null;
            r.BodyProducer = async (stream, ct) =>
            {
                Interlocked.Increment(ref calls);
                await stream.WriteAsync(payload, ct);
            };
        });
        var c = new DiffCase($"producer {code}", "POST", server.Url("/start")) { Body = BodyKind.Bytes, BodyBytes = payload, Credentials = code == 401 ? ("user", "pw", AuthMode.Digest) : null };
        var (client, tether) = await DifferentialRunner.CompareAsync(log, c, side);

        Assert.Equal(client.CallerView, tether.CallerView);
        Assert.Equal(2, calls);
        Assert.Equal(2, tether.Received.Count);
        Assert.All(tether.Received, r => Assert.Equal(payload, r.Body));
    }
}
