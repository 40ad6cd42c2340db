using System.Net;
using System.Net.Sockets;
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
        // The handler may see the server's close on its read side first (ConnectionClosed); what matters here is that a
        // transport failure is never Callback. RequestWrite itself: the test below.
        Assert.True(error.Kind is FetchErrorKind.ConnectionReset or FetchErrorKind.RequestWrite or FetchErrorKind.ConnectionClosed,
            $"kind {error.Kind}: {error.Message}");
        client.Close();
        await AssertCleanAsync(server.Port);
    }

    /// <summary>Newcomer review 2026-12-01: a reset while a 50 MB body was uploading was reported as ConnectionReset, not
    /// the documented RequestWrite. The server reads the request head and the first 64 KiB of the body, so the client is
    /// still writing (32 MiB is far more than the socket buffers hold), then resets the connection (RST, linger 0); the
    /// client's next write fails with ECONNRESET. Bytes, a stream and a body producer alike.</summary>
    [Theory]
    [InlineData("bytes")]
    [InlineData("stream")]
    [InlineData("producer")]
    [Trait("Spec", "HTTP-13")]
    public async Task Item12_a_connection_reset_while_a_body_is_written_is_RequestWrite(string body)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var (port, server) = ResetMidUpload(listener);
        var bytes = new byte[32 * 1024 * 1024];
        await using var stream = new MemoryStream(bytes, writable: false);
        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { Defaults = { RequestTimeout = TimeSpan.FromSeconds(10) } }))
        {
            var request = new FetchRequest($"http://127.0.0.1:{port}/upload") { Method = "POST" };
            switch (body)
            {
                case "bytes":
                    request.Body = FetchBody.FromBytes(bytes);
                    break;
                case "stream":
                    request.Body = FetchBody.FromStream(stream);
                    break;
                default:
                    request.BodyProducer = async (to, token) =>
                    {
                        for (var i = 0; i < 512; i++) // 32 MiB in 64 KiB writes
                        {
                            await to.WriteAsync(bytes.AsMemory(0, 64 * 1024), token);
                        }
                    };
                    break;
            }

            var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(request));
            Assert.Equal(FetchException.NoResponse, error.Code);
            Assert.True(error.Kind is FetchErrorKind.RequestWrite, $"kind {error.Kind}: {error.Message}");
            Assert.Contains("while sending the request body", error.Message, StringComparison.Ordinal);
        }

        await server.WaitAsync(TimeSpan.FromSeconds(10)); // the server ends once it has reset (bound: a stuck test fails)
        await AssertCleanAsync(port);
    }

    /// <summary>The same reset through the HttpClient bridge (tour 2026-12-01: it was Other there): the
    /// HttpRequestException carries the FetchException of kind RequestWrite, and the caller's message keeps its own
    /// content.</summary>
    [Fact]
    [Trait("Spec", "HTTP-13")]
    public async Task Item12_a_connection_reset_while_a_bridged_body_is_written_is_RequestWrite()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var (port, server) = ResetMidUpload(listener);
        await using var pool = new ConnectionPool();
        using (var http = new HttpClient(new TetherHttpMessageHandler(pool)))
        {
            using var content = new ByteArrayContent(new byte[32 * 1024 * 1024]);
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/upload") { Content = content };
            var error = await Assert.ThrowsAsync<HttpRequestException>(() => http.SendAsync(request));
            var inner = Assert.IsType<FetchException>(error.InnerException);
            Assert.True(inner.Kind is FetchErrorKind.RequestWrite, $"kind {inner.Kind}: {inner.Message}");
            Assert.Same(content, request.Content);
        }

        await server.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(pool.Snapshot());
        await AssertCleanAsync(port);
    }

    /// <summary>Tour 2026-12-01: through a proxy that refuses the connection, the error named the target ("check the
    /// URL") although the client never connects to it. It is kind Proxy and names the proxy.</summary>
    [Fact]
    [Trait("Spec", "PROTOCOL-26")]
    public async Task Item12_a_proxy_that_refuses_the_connection_is_named_not_the_target()
    {
        await using var server = await KestrelTestServer.StartAsync();
        int deadPort;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0)); // bound, never listening: a connect is refused
            deadPort = ((IPEndPoint)probe.LocalEndPoint!).Port;
            await using var client = new AsyncHttpClient();
            var error = await Assert.ThrowsAsync<FetchException>(() =>
                client.FetchAsync(new FetchRequest(server.Url("/hello")) { Proxy = new Uri($"http://127.0.0.1:{deadPort}") }));
            Assert.Equal(FetchErrorKind.Proxy, error.Kind);
            Assert.Contains($"Proxy unreachable (127.0.0.1:{deadPort}, the proxy for 127.0.0.1:{server.Port})", error.Message, StringComparison.Ordinal);
            Assert.Contains("the Proxy setting", error.Message, StringComparison.Ordinal);

            // Through the bridge: the same message, and the HttpRequestError a plain HttpClient reports (HTTP-11).
            using var plain = new HttpClient(new SocketsHttpHandler { Proxy = new System.Net.WebProxy($"http://127.0.0.1:{deadPort}"), UseProxy = true });
            var expected = await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync(server.Url("/hello")));
            await using var pool = new ConnectionPool();
            using var bridged = new HttpClient(new TetherHttpMessageHandler(pool, o => o.Defaults.Proxy = new Uri($"http://127.0.0.1:{deadPort}")));
            var actual = await Assert.ThrowsAsync<HttpRequestException>(() => bridged.GetAsync(server.Url("/hello")));
            Assert.Equal(expected.HttpRequestError, actual.HttpRequestError);
            Assert.Contains($"Proxy unreachable (127.0.0.1:{deadPort}", actual.Message, StringComparison.Ordinal);
        }

        await AssertCleanAsync(server.Port);
    }

    /// <summary>A server that reads the request head and the first 64 KiB of the body, so the client is still writing,
    /// then resets the connection (RST, linger 0).</summary>
    private static (int Port, Task Server) ResetMidUpload(Socket listener)
    {
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var server = Task.Run(async () =>
        {
            using var socket = await listener.AcceptAsync();
            var buffer = new byte[64 * 1024];
            var received = 0;
            while (received < 2 * buffer.Length) // the head, then at least 64 KiB of body: the upload is under way
            {
                var n = await socket.ReceiveAsync(buffer);
                if (n == 0)
                {
                    return;
                }

                received += n;
            }

            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        });
        return (((IPEndPoint)listener.LocalEndPoint!).Port, server);
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
