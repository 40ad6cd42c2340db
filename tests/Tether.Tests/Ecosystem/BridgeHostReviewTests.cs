using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Tether.Extensions.DependencyInjection;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Ecosystem;

/// <summary>
/// The bridge and the DI package used the way ASP.NET Core and worker-service apps use HttpClient (review 2026-12-02):
/// IHttpClientFactory clients with <c>UseTether()</c>, delegating handlers, HttpClient.Timeout, HTTP/2 over TLS with
/// ALPN, metrics through the container's IMeterFactory; each case compared with a plain HttpClient over a default
/// SocketsHttpHandler against the same loopback server.
/// </summary>
public sealed class BridgeHostReviewTests
{
    [Fact]
    [Trait("Spec", "HTTP-11")]
    public async Task HTTP_11_HttpClient_Timeout_through_UseTether_and_a_delegating_handler_is_TaskCanceled_with_TimeoutException()
    {
        // dotnet/runtime#21965: a timeout is TaskCanceledException with an inner TimeoutException, never confused with the
        // caller's token; a DelegatingHandler in the chain (AddHttpMessageHandler) must not change it.
        var ct = TestContext.Current.CancellationToken;
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: ct);
        var check = LeakCheck.Start(server);
        await using (var provider = TestContainer.Build(s =>
        {
            s.AddTransient<PassThrough>();
            s.AddHttpClient("plain", c => c.Timeout = TimeSpan.FromSeconds(2)).AddHttpMessageHandler<PassThrough>();
            s.AddHttpClient("bridged", c => c.Timeout = TimeSpan.FromSeconds(2)).AddHttpMessageHandler<PassThrough>().UseTether();
        }))
        {
            var clients = provider.GetRequiredService<IHttpClientFactory>();
            var outcomes = new List<string>();
            foreach (var name in new[] { "plain", "bridged" })
            {
                var http = clients.CreateClient(name);
                var timedOut = await Assert.ThrowsAsync<TaskCanceledException>(() => http.GetAsync(server.Url("/delay/5000"), ct));
                var inner = Assert.IsType<TimeoutException>(timedOut.InnerException);
                outcomes.Add($"{timedOut.Message} | {inner.GetType().Name}");

                using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var streamed = await http.GetAsync(server.Url("/stream/3?stallAfter=1"), HttpCompletionOption.ResponseHeadersRead, ct);
                var body = await streamed.Content.ReadAsStreamAsync(ct);
                var buffer = new byte[64 * 1024];
                _ = await body.ReadAsync(buffer, ct);
                cancel.CancelAfter(200);
                var readCancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
                {
                    while (await body.ReadAsync(buffer, cancel.Token) > 0)
                    {
                    }
                });
                outcomes.Add($"read: {readCancelled.GetType().Name} {readCancelled.CancellationToken == cancel.Token}");
                streamed.Dispose();
            }

            Assert.Equal(outcomes[0], outcomes[2]);
            Assert.Equal(outcomes[1], outcomes[3]);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "HTTP-11")]
    public async Task HTTP_11_http2_over_alpn_version_request_reuse_and_one_cancelled_stream_match_a_plain_HttpClient()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await KestrelTestServer.StartAsync(new() { Https = true }, ct);
        var port = server.HttpsBaseUri!.Port;
        var check = LeakCheck.Start(port);
        var outcomes = new List<string>();
        await using var pool = new ConnectionPool();
        var ca = server.CaCertificate;
        var plainHandler = new SocketsHttpHandler();
        plainHandler.SslOptions.CertificateChainPolicy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck,
        };
        plainHandler.SslOptions.CertificateChainPolicy.CustomTrustStore.Add(ca);
        foreach (var handler in new HttpMessageHandler[] { plainHandler, new TetherHttpMessageHandler(pool, o => o.Defaults.CaCertificates = [ca]) })
        {
            using var http = new HttpClient(handler)
            {
                DefaultRequestVersion = HttpVersion.Version20,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrHigher,
            };
            http.DefaultRequestHeaders.Add("X-Default", "d1");
            var before = server.AcceptedConnections;
            var log = new List<string>();

            // Version and VersionPolicy honoured, DefaultRequestHeaders sent, RequestMessage is the caller's message.
            using var request = new HttpRequestMessage(HttpMethod.Get, server.HttpsUrl("/echo/headers"));
            request.Options.Set(new HttpRequestOptionsKey<string>("app.key"), "v");
            using (var response = await http.SendAsync(request, ct))
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                log.Add($"v{response.Version} same={ReferenceEquals(response.RequestMessage, request)} default={text.Contains("d1", StringComparison.Ordinal)} ct={response.Content.Headers.ContentType}");
                // The caller's options survive; the bridge's own "tether.operation" entry (its link from the message to the
                // fetch, cut when the fetch ends) is the one documented addition (docs/client-guide.md, "HttpClient bridge").
                log.Add("options " + string.Join(",", ((IEnumerable<KeyValuePair<string, object?>>)request.Options)
                    .Select(static o => o.Key).Where(static k => k != "tether.operation").Order()));
            }

            // Sending the same message again throws as HttpClient does.
            var again = await Assert.ThrowsAsync<InvalidOperationException>(() => http.SendAsync(request, ct));
            log.Add("again " + again.Message);

            // Ten concurrent streams on one connection, one cancelled: the others complete, one connection in all.
            using var cancelOne = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var tasks = Enumerable.Range(0, 10).Select(i => http.GetStringAsync(server.HttpsUrl(i == 3 ? "/delay/10000" : "/delay/300"), i == 3 ? cancelOne.Token : ct)).ToArray();
            cancelOne.CancelAfter(100);
            var results = await Task.WhenAll(tasks.Select(async t =>
            {
                try
                {
                    return (await t).Length > 0 ? "ok" : "empty";
                }
                catch (Exception e)
                {
                    return e.GetType().Name;
                }
            }));
            log.Add(string.Join(",", results));

            // A streamed response disposed half-read resets only its stream.
            var streamed = await http.GetAsync(server.HttpsUrl("/bytes/1000000"), HttpCompletionOption.ResponseHeadersRead, ct);
            _ = await (await streamed.Content.ReadAsStreamAsync(ct)).ReadAsync(new byte[1000], ct);
            streamed.Dispose();
            log.Add("after " + await http.GetStringAsync(server.HttpsUrl("/hello"), ct));
            log.Add($"connections {server.AcceptedConnections - before}");
            outcomes.Add(string.Join("\n", log));
        }

        Assert.Equal(outcomes[0], outcomes[1]);
        await pool.CloseAsync(ct);
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "ECO-01")]
    public async Task ECO_01_handler_rotation_closes_the_expired_handler_once_and_keeps_pool_connections_of_every_client()
    {
        // IHttpClientFactory rotates primary handlers (SetHandlerLifetime) and disposes an expired one only once every
        // HttpClient over it was collected, from its 10 s cleanup timer (dotnet/runtime#113494: nothing is disposed at
        // container disposal). With UseTether the expired handler's close must touch neither the pool's keep-alive
        // connections (the next handler reuses them) nor another client's; the container's disposal then closes them.
        var ct = TestContext.Current.CancellationToken;
        await using var serverA = await KestrelTestServer.StartAsync(cancellationToken: ct);
        await using var serverB = await KestrelTestServer.StartAsync(cancellationToken: ct);
        var check = LeakCheck.Start(serverA, serverB.Port);
        await using (var provider = TestContainer.Build(s =>
        {
            s.AddHttpClient("a").UseTether().SetHandlerLifetime(TimeSpan.FromSeconds(1));
            s.AddHttpClient("b").UseTether();
        }))
        {
            var clients = provider.GetRequiredService<IHttpClientFactory>();
            var handlers = provider.GetRequiredService<IHttpMessageHandlerFactory>();
            var first = await FirstHandlerAsync(clients, serverA, ct);
            Assert.Equal("Hello, world!", await clients.CreateClient("b").GetStringAsync(serverB.Url("/hello"), ct));

            // Bounded wait for the factory to hand out the next handler (lifetime 1 s).
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (ReferenceEquals(Primary(handlers.CreateHandler("a")), first))
            {
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), "IHttpClientFactory did not rotate the handler within 30 s");
                await Task.Delay(50, ct);
            }

            var second = clients.CreateClient("a");
            Assert.Equal("Hello, world!", await second.GetStringAsync(serverA.Url("/hello"), ct));

            // Bounded wait for the cleanup timer (every 10 s) to dispose the expired handler once its clients are collected.
            sw.Restart();
            while (!first.Client.IsClosed)
            {
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "the expired handler was not disposed within 60 s");
                GC.Collect();
                GC.WaitForPendingFinalizers();
                await Task.Delay(100, ct);
            }

            // The expired handler's close left both keep-alive connections in the pool: both clients reuse them.
            Assert.Equal("Hello, world!", await second.GetStringAsync(serverA.Url("/hello"), ct));
            Assert.Equal("Hello, world!", await clients.CreateClient("b").GetStringAsync(serverB.Url("/hello"), ct));
            Assert.Equal((1, 1), (serverA.AcceptedConnections, serverB.AcceptedConnections));
            Assert.False(provider.GetRequiredService<TetherPool>().Pool.IsClosed);
        }

        // The container's disposal closed the pool (once: CloseNow is idempotent) and with it both connections.
        await check.AssertCleanAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    [Trait("Spec", "HTTP-11")]
    public async Task HTTP_11_response_and_content_headers_and_MaxResponseContentBufferSize_match_a_plain_HttpClient_over_http1_and_http2(bool http2)
    {
        // What callers read off a response: Version, status, every response and content header (Date aside), ContentLength
        // for a sized, a chunked and a HEAD response; and HttpClient.MaxResponseContentBufferSize over a sized and a
        // chunked body (dotnet/runtime#30596 family: the limit is HttpClient's, the exception must not change with the handler).
        var ct = TestContext.Current.CancellationToken;
        await using var server = await KestrelTestServer.StartAsync(new() { Https = http2 }, ct);
        var port = http2 ? server.HttpsBaseUri!.Port : server.Port;
        Uri Url(string path) => http2 ? server.HttpsUrl(path) : server.Url(path);
        var check = LeakCheck.Start(port);
        var ca = server.CaCertificate;
        var plainHandler = new SocketsHttpHandler();
        plainHandler.SslOptions.CertificateChainPolicy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck,
        };
        plainHandler.SslOptions.CertificateChainPolicy.CustomTrustStore.Add(ca);
        var outcomes = new List<string>();
        await using var pool = new ConnectionPool();
        foreach (var handler in new HttpMessageHandler[] { plainHandler, new TetherHttpMessageHandler(pool, o => o.Defaults.CaCertificates = [ca]) })
        {
            using var http = new HttpClient(handler)
            {
                DefaultRequestVersion = http2 ? HttpVersion.Version20 : HttpVersion.Version11,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            var log = new List<string>();
            foreach (var (method, path) in new[] { ("GET", "/bytes/10"), ("GET", "/stream/3"), ("HEAD", "/hello") })
            {
                using var response = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), Url(path)), ct);
                var body = await response.Content.ReadAsByteArrayAsync(ct);
                log.Add($"{method} {path}: v{response.Version} {(int)response.StatusCode} {response.ReasonPhrase} body={body.Length} len={response.Content.Headers.ContentLength}");
                log.AddRange(response.Headers.NonValidated.Where(static h => h.Key != "Date")
                    .Select(static h => $"  {h.Key}: {string.Join(",", h.Value)}").Order());
                log.AddRange(response.Content.Headers.NonValidated.Select(static h => $"  content {h.Key}: {string.Join(",", h.Value)}").Order());
                log.Add($"  trailing {string.Join(",", response.TrailingHeaders.NonValidated.Select(static h => h.Key))}");
            }

            using var limited = new HttpClient(handler, disposeHandler: false)
            {
                DefaultRequestVersion = http.DefaultRequestVersion,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
                MaxResponseContentBufferSize = 5,
            };
            foreach (var path in new[] { "/bytes/10", "/stream/3" })
            {
                var e = await Assert.ThrowsAnyAsync<Exception>(() => limited.GetAsync(Url(path), ct));
                log.Add($"{path} over MaxResponseContentBufferSize: {e.GetType().Name} {e.Message}");
            }

            using (var after = await http.GetAsync(Url("/hello"), ct))
            {
                log.Add("after " + after.StatusCode);
            }

            outcomes.Add(string.Join("\n", log));
        }

        Assert.Equal(outcomes[0], outcomes[1]);
        await pool.CloseAsync(ct);
        await check.AssertCleanAsync();
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task<TetherHttpMessageHandler> FirstHandlerAsync(IHttpClientFactory clients, KestrelTestServer server, CancellationToken ct)
    {
        var http = clients.CreateClient("a");
        Assert.Equal("Hello, world!", await http.GetStringAsync(server.Url("/hello"), ct));
        var handlers = (HttpMessageHandler)typeof(HttpMessageInvoker)
            .GetField("_handler", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(http)!;
        return Primary(handlers);
    }

    private static TetherHttpMessageHandler Primary(HttpMessageHandler handler)
    {
        while (handler is DelegatingHandler delegating)
        {
            handler = delegating.InnerHandler!;
        }

        return Assert.IsType<TetherHttpMessageHandler>(handler);
    }

    private sealed class PassThrough : DelegatingHandler;
}
