using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Conformance.Bridge;

/// <summary>Two recording servers (origins A and B) for the bridge's differential cases; A's <c>/to-other</c> points at B.</summary>
public sealed class BridgeServers : IAsyncLifetime
{
    internal RecordingServer A { get; private set; } = null!;

    internal RecordingServer B { get; private set; } = null!;

    internal RecordingServer[] Both => [A, B];

    public async ValueTask InitializeAsync()
    {
        A = await RecordingServer.StartAsync("A", CancellationToken.None);
        B = await RecordingServer.StartAsync("B", CancellationToken.None);
        A.Other = B;
        B.Other = A;
    }

    public async ValueTask DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}

/// <summary>
/// HTTP-11 differential conformance: every case runs through <c>HttpClient</c> over a default
/// <see cref="SocketsHttpHandler"/> and through <c>HttpClient</c> over <see cref="TetherHttpMessageHandler"/> against
/// the same loopback servers, and compares what the servers received (method, path, the headers that matter, body)
/// and what the caller got (status, final URL and method, headers, body, or exception type and
/// <see cref="HttpRequestError"/>). The one intended difference (a caller-set Cookie header does not cross origins,
/// HTTP-03) is stated in its case and documented in docs/client-guide.md ("HttpClient bridge"). Each Tether run ends
/// with the bridge's in-flight count at 0, its pool closed and empty, and no ledger entry towards the servers.
/// </summary>
public sealed class BridgeConformanceTests(BridgeServers servers) : IClassFixture<BridgeServers>
{
    private delegate Task<HttpResponseMessage> Send(BridgeServers s, HttpClient http, CancellationToken ct);

    /// <summary>One case: the handlers' settings, the caller's code, a text the Tether observation must contain (so the
    /// case cannot pass by both sides failing alike), and the intended difference, if any, as a change to the oracle's
    /// observation.</summary>
    private sealed record Case(HandlerSettings Settings, Send Send, string MustContain, Func<Observation, Observation>? Intended = null);

    private static readonly Dictionary<string, Case> s_cases = new()
    {
        // Methods and contents (issue 15 item 3: the bridge rejected POST/PUT/PATCH and non-standard methods).
        ["get"] = new(HandlerSettings.Default, (s, h, ct) => h.GetAsync(s.A.Url("/echo"), ct), "body GET "),
        ["post_string_content"] = new(HandlerSettings.Default,
            (s, h, ct) => h.PostAsync(s.A.Url("/echo"), new StringContent("hello"), ct), "body POST hello"),
        ["put_string_content"] = new(HandlerSettings.Default,
            (s, h, ct) => h.PutAsync(s.A.Url("/echo"), new StringContent("put-body"), ct), "body PUT put-body"),
        ["patch_string_content"] = new(HandlerSettings.Default,
            (s, h, ct) => h.PatchAsync(s.A.Url("/echo"), new StringContent("patch-body"), ct), "body PATCH patch-body"),
        ["delete_with_body"] = new(HandlerSettings.Default,
            (s, h, ct) => h.SendAsync(new HttpRequestMessage(HttpMethod.Delete, s.A.Url("/echo")) { Content = new StringContent("gone") }, ct),
            "body DELETE gone"),
        ["delete_without_body"] = new(HandlerSettings.Default, (s, h, ct) => h.DeleteAsync(s.A.Url("/echo"), ct), "body DELETE "),
        ["propfind_custom_method"] = new(HandlerSettings.Default,
            (s, h, ct) => h.SendAsync(new HttpRequestMessage(new HttpMethod("PROPFIND"), s.A.Url("/echo"))
            {
                Content = new StringContent("<propfind/>", Encoding.UTF8, "application/xml"),
            }, ct), "body PROPFIND <propfind/>"),
        ["post_stream_content_chunked"] = new(HandlerSettings.Default,
            (s, h, ct) => h.PostAsync(s.A.Url("/echo"), new StreamContent(new NonSeekableStream("streamed body")), ct),
            "body POST streamed body"),
        ["post_multipart"] = new(HandlerSettings.Default, (s, h, ct) =>
        {
            var multipart = new MultipartFormDataContent("fixed-boundary")
            {
                { new StringContent("v1"), "field" },
                { new ByteArrayContent("file bytes"u8.ToArray()), "file", "a.txt" },
            };
            return h.PostAsync(s.A.Url("/echo"), multipart, ct);
        }, "fixed-boundary"),
        ["post_form_urlencoded"] = new(HandlerSettings.Default,
            (s, h, ct) => h.PostAsync(s.A.Url("/echo"), new FormUrlEncodedContent([new("a", "1"), new("b", "x y")]), ct),
            "body POST a=1&b=x+y"),
        ["post_empty_byte_array"] = new(HandlerSettings.Default,
            (s, h, ct) => h.PostAsync(s.A.Url("/echo"), new ByteArrayContent([]), ct), "Content-Length: 0"),
        ["head"] = new(HandlerSettings.Default,
            (s, h, ct) => h.SendAsync(new HttpRequestMessage(HttpMethod.Head, s.A.Url("/echo")), ct), "final method HEAD"),
        ["status_404_is_a_response"] = new(HandlerSettings.Default, (s, h, ct) => h.GetAsync(s.A.Url("/status/404"), ct), "status 404"),

        // Redirects (dotnet/runtime RedirectHandler; RFC 9110 §15.4).
        ["redirect_302_get_followed"] = new(HandlerSettings.Default,
            (s, h, ct) => h.GetAsync(s.A.Url("/redirect/302?to=/echo"), ct), "final http://server-A/echo"),
        ["redirect_302_post_becomes_get_without_content"] = new(HandlerSettings.Default,
            (s, h, ct) => h.PostAsync(s.A.Url("/redirect/302?to=/echo"), new StringContent("dropped"), ct), "final method GET"),
        ["redirect_301_put_stays_put_with_body"] = new(HandlerSettings.Default,
            (s, h, ct) => h.PutAsync(s.A.Url("/redirect/301?to=/echo"), new StringContent("kept"), ct), "body PUT kept"),
        ["redirect_303_delete_becomes_get"] = new(HandlerSettings.Default,
            (s, h, ct) => h.DeleteAsync(s.A.Url("/redirect/303?to=/echo"), ct), "body GET "),
        ["redirect_307_post_resends_body"] = new(HandlerSettings.Default,
            (s, h, ct) => h.PostAsync(s.A.Url("/redirect/307?to=/echo"), new StringContent("again"), ct), "body POST again"),
        ["redirect_308_patch_resends_seekable_stream"] = new(HandlerSettings.Default,
            (s, h, ct) => h.PatchAsync(s.A.Url("/redirect/308?to=/echo"), new StreamContent(new MemoryStream("seekable"u8.ToArray())), ct),
            "body PATCH seekable"),
        ["redirect_relative_location_with_query"] = new(HandlerSettings.Default,
            (s, h, ct) => h.GetAsync(s.A.Url("/redirect/302?to=../echo%3Fq%3D1"), ct), "final http://server-A/echo?q=1"),
        ["redirect_fragment_is_kept"] = new(HandlerSettings.Default,
            (s, h, ct) => h.GetAsync(s.A.Url("/redirect/302?to=/echo#keep"), ct), "final http://server-A/echo#keep"),
        ["redirect_over_max_returns_last_3xx"] = new(new HandlerSettings(MaxAutomaticRedirections: 3),
            (s, h, ct) => h.GetAsync(s.A.Url("/loop/0"), ct), "status 302"),
        ["redirect_disabled_returns_3xx"] = new(new HandlerSettings(AllowAutoRedirect: false),
            (s, h, ct) => h.GetAsync(s.A.Url("/redirect/301?to=/echo"), ct), "Location: /echo"),
        ["redirect_with_stalled_body_is_followed"] = new(HandlerSettings.Default,
            (s, h, ct) => h.GetAsync(s.A.Url("/stalled-redirect?to=/echo"), ct), "final http://server-A/echo"),
        ["redirect_cross_origin_followed"] = new(HandlerSettings.Default,
            (s, h, ct) => h.GetAsync(s.A.Url("/to-other/307?path=/echo"), ct), "final http://server-B/echo"),
        ["redirect_drops_authorization_same_origin"] = new(HandlerSettings.Default, (s, h, ct) =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, s.A.Url("/redirect/302?to=/echo"));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "secret-token");
            return h.SendAsync(request, ct);
        }, "Authorization: Bearer secret-token"),

        // Intended difference (HTTP-03): a Cookie header the caller set does not follow a redirect to another origin.
        // A default SocketsHttpHandler sends it to B; the bridge does not. Observation index 1 is B's request.
        ["redirect_cross_origin_drops_caller_cookie_header"] = new(HandlerSettings.Default, (s, h, ct) =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, s.A.Url("/to-other/302?path=/echo"));
            request.Headers.Add("Cookie", "session=caller-set");
            return h.SendAsync(request, ct);
        }, "final http://server-B/echo", Intended: o => o.WithReceivedHeader(1, "Cookie", null)),

        // Cookies (UseCookies = true and a CookieContainer by default).
        ["cookie_stored_and_sent_back"] = new(HandlerSettings.Default, async (s, h, ct) =>
        {
            (await h.GetAsync(s.A.Url("/set-cookie?c=a%3D1"), ct)).Dispose();
            return await h.GetAsync(s.A.Url("/echo"), ct);
        }, "Cookie: a=1"),
        ["cookie_from_redirect_sent_to_next_hop"] = new(HandlerSettings.Default,
            (s, h, ct) => h.GetAsync(s.A.Url("/cookie-redirect?c=r%3D2&to=/echo"), ct), "Cookie: r=2"),
        ["cookie_caller_header_then_container"] = new(HandlerSettings.Default, async (s, h, ct) =>
        {
            (await h.GetAsync(s.A.Url("/set-cookie?c=a%3D1"), ct)).Dispose();
            var request = new HttpRequestMessage(HttpMethod.Get, s.A.Url("/echo"));
            request.Headers.Add("Cookie", "u=9");
            return await h.SendAsync(request, ct);
        }, "Cookie: u=9; a=1"),
        ["cookies_off_sends_caller_header_only"] = new(new HandlerSettings(UseCookies: false), async (s, h, ct) =>
        {
            (await h.GetAsync(s.A.Url("/set-cookie?c=a%3D1"), ct)).Dispose();
            var request = new HttpRequestMessage(HttpMethod.Get, s.A.Url("/echo"));
            request.Headers.Add("Cookie", "u=9");
            return await h.SendAsync(request, ct);
        }, "Cookie: u=9\n"),

        // Automatic decompression (default None, as SocketsHttpHandler).
        ["decompression_default_none_passes_gzip_through"] = new(HandlerSettings.Default,
            (s, h, ct) => h.GetAsync(s.A.Url("/gzip"), ct), "Content-Encoding: gzip"),
        ["decompression_gzip"] = new(new HandlerSettings(AutomaticDecompression: DecompressionMethods.All),
            (s, h, ct) => h.GetAsync(s.A.Url("/gzip"), ct), "body hello, decoded"),
        ["decompression_brotli"] = new(new HandlerSettings(AutomaticDecompression: DecompressionMethods.Brotli),
            (s, h, ct) => h.GetAsync(s.A.Url("/br"), ct), "body hello, decoded"),
        ["decompression_deflate_zlib"] = new(new HandlerSettings(AutomaticDecompression: DecompressionMethods.Deflate),
            (s, h, ct) => h.GetAsync(s.A.Url("/deflate"), ct), "body hello, decoded"),
        ["decompression_not_enabled_coding_untouched"] = new(new HandlerSettings(AutomaticDecompression: DecompressionMethods.GZip),
            (s, h, ct) => h.GetAsync(s.A.Url("/br"), ct), "Content-Encoding: br"),

        // Errors as HttpRequestError.
        ["connection_refused"] = new(HandlerSettings.Default,
            (s, h, ct) => h.GetAsync(new Uri($"http://127.0.0.1:{ClosedPort()}/x"), ct), "throws HttpRequestException(ConnectionError)"),
    };

    public static TheoryData<string> Cases => new(s_cases.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    [Trait("Spec", "HTTP-11")]
    public async Task HTTP_11_bridge_matches_a_default_SocketsHttpHandler(string name)
    {
        var c = s_cases[name];
        var ct = TestContext.Current.CancellationToken;
        var (oracle, tether) = await BridgeHarness.RunBothAsync(servers.Both, c.Settings, (h, t) => c.Send(servers, h, t), ct);
        var expected = c.Intended is null ? oracle : c.Intended(oracle);
        if (c.Intended is not null)
        {
            // The intended difference is real: the oracle does what the case says the bridge does not.
            Assert.NotEqual(oracle.Text, expected.Text);
        }

        Assert.Equal(expected.Text, tether.Text);
        Assert.Contains(c.MustContain, tether.Text, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Spec", "HTTP-11")]
    public void HTTP_11_properties_have_SocketsHttpHandler_names_and_defaults()
    {
        using var oracle = new SocketsHttpHandler();
        using var bridge = new TetherHttpMessageHandler();
        Assert.Equal(oracle.AllowAutoRedirect, bridge.AllowAutoRedirect);
        Assert.Equal(oracle.MaxAutomaticRedirections, bridge.MaxAutomaticRedirections);
        Assert.Equal(oracle.UseCookies, bridge.UseCookies);
        Assert.Equal(oracle.AutomaticDecompression, bridge.AutomaticDecompression);
        Assert.Empty(bridge.CookieContainer.GetAllCookies());
        Assert.Throws<ArgumentOutOfRangeException>(() => bridge.MaxAutomaticRedirections = 0);
        Assert.Throws<ArgumentNullException>(() => bridge.CookieContainer = null!);
    }

    [Fact]
    [Trait("Spec", "HTTP-11")]
    public async Task HTTP_11_a_disposed_handler_throws_ObjectDisposedException_like_SocketsHttpHandler()
    {
        var ct = TestContext.Current.CancellationToken;
        var oracleHandler = new SocketsHttpHandler();
        using var oracle = new HttpClient(oracleHandler, disposeHandler: false);
        oracleHandler.Dispose();
        var bridgeHandler = new TetherHttpMessageHandler();
        using var bridge = new HttpClient(bridgeHandler, disposeHandler: false);
        bridgeHandler.Dispose();
        await Assert.ThrowsAnyAsync<ObjectDisposedException>(() => oracle.GetAsync(servers.A.Url("/echo"), ct));
        await Assert.ThrowsAnyAsync<ObjectDisposedException>(() => bridge.GetAsync(servers.A.Url("/echo"), ct));
    }

    [Fact]
    [Trait("Spec", "HTTP-11")]
    public async Task HTTP_11_caller_cancellation_is_a_TaskCanceledException_on_both()
    {
        var ct = TestContext.Current.CancellationToken;
        servers.A.BarrierTarget = int.MaxValue; // /barrier holds the request until the client gives up (at most 20 s)
        try
        {
            foreach (var handler in new HttpMessageHandler[] { new SocketsHttpHandler(), new TetherHttpMessageHandler() })
            {
                using var http = new HttpClient(handler);
                using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cancel.CancelAfter(TimeSpan.FromMilliseconds(200)); // /barrier holds 20 s: a 19.8 s margin for a late cancel
                await Assert.ThrowsAsync<TaskCanceledException>(() => http.GetAsync(servers.A.Url("/barrier"), cancel.Token));
                if (handler is TetherHttpMessageHandler bridge)
                {
                    Assert.Equal(0, bridge.Client.InFlight);
                }
            }
        }
        finally
        {
            servers.A.BarrierTarget = 0;
        }
    }

    [Fact]
    [Trait("Spec", "HTTP-11")]
    public async Task HTTP_11_a_non_seekable_stream_on_307_fails_alike_on_both()
    {
        // SocketsHttpHandler cannot re-send a consumed non-seekable StreamContent; the bridge sends the same content
        // through the same handler type, so the caller sees the same failure (never an empty body sent instead).
        var ct = TestContext.Current.CancellationToken;
        var (oracle, tether) = await BridgeHarness.RunBothAsync(servers.Both, HandlerSettings.Default,
            (h, t) => h.PostAsync(servers.A.Url("/redirect/307?to=/echo"), new StreamContent(new NonSeekableStream("once")), t), ct);
        Assert.StartsWith("throws", oracle.Caller, StringComparison.Ordinal);
        Assert.Equal(oracle.Text, tether.Text);
        Assert.DoesNotContain(tether.Received, r => r.PathAndQuery == "/echo");
    }

    [Theory]
    [InlineData(HostileBehavior.CloseBeforeResponse)]
    [InlineData(HostileBehavior.GarbageStatusLine)]
    [InlineData(HostileBehavior.ContentLengthLongerThanBody)]
    [InlineData(HostileBehavior.ResetMidBody)]
    [InlineData(HostileBehavior.InvalidChunkSize)]
    [InlineData(HostileBehavior.HugeHeaderLine)]
    [Trait("Spec", "HTTP-11")]
    public async Task HTTP_11_transport_failures_have_the_same_exception_and_HttpRequestError_on_both(HostileBehavior behavior)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var hostile = HostileServer.Start(behavior);
        var outcomes = new List<string>();
        var pool = new ConnectionPool();
        try
        {
            foreach (var handler in new HttpMessageHandler[] { new SocketsHttpHandler(), new TetherHttpMessageHandler(pool) })
            {
                using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
                try
                {
                    using var response = await http.GetAsync(hostile.Url("/x"), ct);
                    outcomes.Add($"status {(int)response.StatusCode}");
                }
                catch (HttpRequestException e)
                {
                    outcomes.Add($"HttpRequestException({e.HttpRequestError})");
                }
                catch (Exception e) when (e is not Xunit.Sdk.XunitException)
                {
                    outcomes.Add(e.GetType().Name);
                }
            }
        }
        finally
        {
            await pool.CloseAsync(ct);
        }

        Assert.StartsWith("HttpRequestException", outcomes[0], StringComparison.Ordinal);
        Assert.Equal(outcomes[0], outcomes[1]);
        Assert.Empty(pool.Snapshot());
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>A read-only stream that cannot seek (so StreamContent sends it chunked and cannot replay it).</summary>
    private sealed class NonSeekableStream(string text) : Stream
    {
        private readonly MemoryStream _inner = new(Encoding.UTF8.GetBytes(text));

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            _inner.ReadAsync(buffer, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
