using Tether.TestServer;
using Xunit;
using static Tether.Tests.Http.BodyTestKit;

namespace Tether.Tests.Http;

/// <summary>Issue 15 item 12: a closed pool is a typed usage error (not ConnectionReset, not a transient error through
/// the bridge); a network failure while a body producer writes is a transport error, not Callback; Redaction redacts
/// query-string secrets as its documentation says.</summary>
public sealed class ErrorClassificationTests
{
    [Fact]
    [Trait("Spec", "HTTP-13")]
    public async Task Item12_a_client_using_a_closed_pool_gets_PoolClosed_not_ConnectionReset()
    {
        // Issue 15 item 12: ObjectDisposedException was reported as ConnectionReset.
        await using var server = await KestrelTestServer.StartAsync();
        var pool = new ConnectionPool();
        await using var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool });
        await client.FetchAsync(server.Url("/hello").ToString());
        await pool.CloseAsync();
        var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(server.Url("/hello").ToString()));
        Assert.Equal(FetchErrorKind.PoolClosed, error.Kind);
        Assert.Equal(FetchException.NoResponse, error.Code);
        Assert.Contains("closed", error.Message);
        client.Close();
        await AssertCleanAsync(server.Port);
    }

    [Fact]
    [Trait("Spec", "HTTP-11")]
    public async Task Item12_the_bridge_reports_a_closed_pool_as_ObjectDisposedException_not_a_transient_HttpRequestException()
    {
        // Resilience pipelines retry HttpRequestException; a closed pool can never succeed, so it must not be one.
        await using var server = await KestrelTestServer.StartAsync();
        var pool = new ConnectionPool();
        using var http = new HttpClient(new TetherHttpMessageHandler(pool));
        (await http.GetAsync(server.Url("/hello"))).Dispose();
        await pool.CloseAsync();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => http.GetAsync(server.Url("/hello")));
        Assert.IsNotType<HttpRequestException>(error);
        Assert.IsType<ObjectDisposedException>(error);
        await AssertCleanAsync(server.Port);
    }

    [Fact]
    [Trait("Spec", "HTTP-13")]
    public async Task Item12_a_network_failure_while_a_body_producer_writes_is_a_transport_error_not_Callback()
    {
        // Issue 15 item 12: an IOException from the connection while the producer wrote was reported as Callback.
        // The server reads the head and closes with the body unread (the kernel sends RST); the producer keeps writing.
        await using var server = HostileServer.Start(HostileBehavior.CloseBeforeResponse);
        await using var client = new AsyncHttpClient(new AsyncHttpClientOptions { Defaults = { RequestTimeout = TimeSpan.FromSeconds(10) } });
        var request = new FetchRequest(server.Url("/upload").ToString())
        {
            Method = "POST",
            BodyProducer = async (stream, token) =>
            {
                var chunk = new byte[64 * 1024];
                for (var i = 0; i < 1024; i++) // at most 64 MiB: far more than the socket buffers hold
                {
                    await stream.WriteAsync(chunk, token);
                }
            },
        };
        var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(request));
        Assert.True(error.Kind is FetchErrorKind.ConnectionReset or FetchErrorKind.RequestWrite or FetchErrorKind.ConnectionClosed,
            $"kind {error.Kind}: {error.Message}");
        client.Close();
        await AssertCleanAsync(server.Port);
    }

    [Fact]
    [Trait("Spec", "HTTP-13")]
    public async Task Item12_a_body_producer_that_throws_is_still_Callback()
    {
        await using var server = await KestrelTestServer.StartAsync();
        await using var client = new AsyncHttpClient();
        var request = new FetchRequest(server.Url("/upload").ToString())
        {
            Method = "POST",
            BodyProducer = async (stream, token) =>
            {
                await stream.WriteAsync("abc"u8.ToArray(), token);
                throw new IOException("the producer's own file could not be read");
            },
        };
        var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(request));
        Assert.Equal(FetchErrorKind.Callback, error.Kind);
        Assert.IsType<IOException>(error.InnerException);
        client.Close();
        await AssertCleanAsync(server.Port);
    }

    [Theory]
    [InlineData("http://h/p?token=abc&x=1&api_key=zz#frag", "http://h/p?token=***&x=1&api_key=***#frag")]
    [InlineData("https://h/p?Access_Token=abc", "https://h/p?Access_Token=***")]
    [InlineData("https://h/s3?X-Amz-Signature=ff&X-Amz-Credential=AK%2F1&page=2", "https://h/s3?X-Amz-Signature=***&X-Amz-Credential=***&page=2")]
    [InlineData("http://h/p?q=token&sig=1&password=p&secret=s&key=k&signature=x", "http://h/p?q=token&sig=***&password=***&secret=***&key=***&signature=***")]
    [InlineData("http://h/p?page=2&sort=asc", "http://h/p?page=2&sort=asc")]
    [InlineData("http://user:pw@h/p?token=t", "http://***@h/p?token=***")]
    public void Item12_Redaction_redacts_secret_query_values(string url, string expected)
    {
        Assert.Equal(expected, Redaction.Url(url));
    }

    [Fact]
    public async Task Item12_an_error_message_never_shows_a_query_secret()
    {
        await using var client = new AsyncHttpClient();
        var url = $"http://127.0.0.1:{HostileServer.GetClosedPort()}/p?access_token=SECRET123&page=1";
        var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(url));
        Assert.Equal(FetchErrorKind.ConnectionRefused, error.Kind);
        Assert.DoesNotContain("SECRET123", error.ToString());
        Assert.DoesNotContain("SECRET123", new FetchRequest(url).ToString());
        client.Close();
    }
}
