using System.Text;
using Tether.Tests.Support;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Bench;

/// <summary>
/// Guards the buffered-body fast path added for the benchmarks (ResponseBody.ReadAllAsync sizes its buffer to the
/// announced Content-Length, returns that array without a second copy, and reads through a pooled chunk): the body must
/// stay byte-exact around the 16 KiB chunk size, at 1 MiB, when empty, when chunked (no length), when decoded (length
/// cleared), with a streaming callback, and over MaxBodySize.
/// </summary>
public sealed class BufferedBodyTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Theory]
    [Trait("Spec", "CLIENT-01")]
    [InlineData(0)]
    [InlineData(13)]
    [InlineData(16 * 1024)]
    [InlineData(16 * 1024 + 1)]
    [InlineData(1 << 20)]
    public async Task CLIENT_01_buffered_body_with_content_length_is_byte_exact(int size)
    {
        // CLIENT-01
        await using var client = new AsyncHttpClient();
        for (var round = 0; round < 2; round++)   // the second round reuses the connection and a pooled chunk
        {
            var response = await client.FetchAsync(server.Url($"/bytes/{size}").ToString(), TestContext.Current.CancellationToken);
            Assert.Equal(200, response.Code);
            Assert.Equal(TestPatterns.Create(size), response.Body);
        }
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-05")]
    public async Task PROTOCOL_05_chunked_body_without_content_length_is_exact()
    {
        // PROTOCOL-05
        await using var client = new AsyncHttpClient();
        var response = await client.FetchAsync(server.Url("/stream/40").ToString(), TestContext.Current.CancellationToken);
        var expected = string.Concat(Enumerable.Range(0, 40).Select(static i => $"chunk {i}\n"));
        Assert.Equal(expected, Encoding.UTF8.GetString(response.Body));
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-08")]
    public async Task PROTOCOL_08_gzip_body_is_decoded_in_full()
    {
        // PROTOCOL-08
        await using var client = new AsyncHttpClient();
        var response = await client.FetchAsync(server.Url("/gzip").ToString(), TestContext.Current.CancellationToken);
        Assert.Equal(KestrelTestServer.CompressibleText, Encoding.UTF8.GetString(response.Body));
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-19")]
    public async Task PROTOCOL_19_streaming_callback_gets_every_byte_and_the_buffered_body_stays_empty()
    {
        // PROTOCOL-19
        await using var client = new AsyncHttpClient();
        var seen = new MemoryStream();
        var request = new FetchRequest(server.Url("/bytes/100000").ToString())
        {
            StreamingCallback = chunk => seen.Write(chunk.Span),
        };
        var response = await client.FetchAsync(request, TestContext.Current.CancellationToken);
        Assert.Empty(response.Body);
        Assert.Equal(TestPatterns.Create(100_000), seen.ToArray());
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-24")]
    public async Task PROTOCOL_24_announced_length_over_MaxBodySize_fails_typed()
    {
        // PROTOCOL-24
        await using var client = new AsyncHttpClient();
        var request = new FetchRequest(server.Url("/bytes/50000").ToString()) { MaxBodySize = 1000 };
        var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(request, TestContext.Current.CancellationToken));
        Assert.Equal(FetchErrorKind.BodyTooLarge, error.Kind);
    }
}
