using System.Diagnostics;
using System.Text;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;
using static Tether.Tests.Http.HttpTestHelpers;

namespace Tether.Tests.Http;

/// <summary>CLIENT-01 … CLIENT-21: the FetchRequest/FetchResponse API contract (Tornado's httpclient_test parity),
/// all against the shared Kestrel server on 127.0.0.1.</summary>
public sealed class ClientApiTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private string Url(string path) => server.Url(path).ToString();

    [Fact]
    [Trait("Spec", "CLIENT-01")]
    public async Task CLIENT_01_hello_world_returns_code_reason_headers_body_text_and_time()
    {
        // One warm-up fetch on another client first, as the checklist's Baseline rule does for the census: the first
        // fetch of a process compiles the whole fetch path, and in one stress run (two CPU hogs beside the three test
        // assemblies starting together) that alone took 2 s, which is the JIT's time, not the request's.
        await using (var warm = new AsyncHttpClient())
        {
            await warm.FetchAsync(Url("/hello"));
        }

        await using var client = new AsyncHttpClient();
        var response = await client.FetchAsync(Url("/hello?x=1"));
        Assert.Equal(200, response.Code);
        Assert.Equal("OK", response.Reason);
        Assert.StartsWith("text/plain", response.Headers["Content-Type"]);
        Assert.Equal(Encoding.UTF8.GetBytes(KestrelTestServer.HelloText), response.Body);
        Assert.Equal(KestrelTestServer.HelloText, response.Text);
        // Spec CLIENT-01: under 1 s. A loopback /hello on a new client takes about 1 ms unloaded once the fetch path
        // is compiled; 1 s leaves the margin for a loaded 2-core machine.
        Assert.InRange(response.RequestTime, TimeSpan.Zero, TimeSpan.FromSeconds(1));

        var echo = await client.FetchAsync(Url("/echo?x=1"));
        Assert.Equal("?x=1", echo.Headers["X-Query"]);
    }

    [Fact]
    [Trait("Spec", "CLIENT-02")]
    public async Task CLIENT_02_response_request_is_the_callers_first_request_and_can_be_fetched_again()
    {
        await using var client = new AsyncHttpClient();
        var request = new FetchRequest(Url("/redirect/2"));
        var first = await client.FetchAsync(request);
        Assert.Same(request, first.Request);
        Assert.Equal(Url("/redirect/2"), first.Request.Url);
        var again = await client.FetchAsync(first.Request);
        Assert.Same(request, again.Request);
        Assert.Equal(first.Code, again.Code);
        Assert.Equal(first.Text, again.Text);
        Assert.Equal(first.EffectiveUrl, again.EffectiveUrl);
    }

    [Fact]
    [Trait("Spec", "CLIENT-03")]
    public async Task CLIENT_03_non_2xx_raises_with_code_reason_and_response_and_EnsureSuccess_does_too()
    {
        await using var client = new AsyncHttpClient();
        var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(Url("/status/404")));
        Assert.Equal(404, error.Code);
        Assert.Equal(FetchErrorKind.HttpStatus, error.Kind);
        Assert.NotNull(error.Response);
        Assert.Equal("Not Found", error.Response!.Reason);
        Assert.Equal("status 404", error.Response.Text);

        var returned = await client.FetchAsync(new FetchRequest(Url("/status/500")) { RaiseOnError = false });
        var ensured = Assert.Throws<FetchException>(() => returned.EnsureSuccess());
        Assert.Equal(500, ensured.Code);
        Assert.Same(returned, ensured.Response);

        var ok = await client.FetchAsync(Url("/hello"));
        Assert.Same(ok, ok.EnsureSuccess());
    }

    [Fact]
    [Trait("Spec", "CLIENT-04")]
    public async Task CLIENT_04_raise_on_error_off_returns_404_but_transport_failures_still_throw()
    {
        await using var client = new AsyncHttpClient();
        var response = await client.FetchAsync(new FetchRequest(Url("/status/404")) { RaiseOnError = false });
        Assert.Equal(404, response.Code);
        Assert.NotNull(response.Error);
        Assert.Equal(404, response.Error!.Code);

        var port = HostileServer.GetClosedPort();
        var error = await Assert.ThrowsAsync<FetchException>(() =>
            client.FetchAsync(new FetchRequest($"http://127.0.0.1:{port}/") { RaiseOnError = false }));
        Assert.Equal(599, error.Code);
        Assert.Equal(FetchErrorKind.ConnectionRefused, error.Kind);
    }

    [Fact]
    [Trait("Spec", "CLIENT-05")]
    public async Task CLIENT_05_messages_read_HTTP_code_reason_or_name_the_kind_and_host_port()
    {
        await using var client = new AsyncHttpClient();
        var request = new FetchRequest(Url("/status/403"));
        var status = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(request));
        Assert.Equal("HTTP 403: Forbidden", status.Message);
        Assert.Same(request, status.Request);

        var port = HostileServer.GetClosedPort();
        var refusedRequest = new FetchRequest($"http://127.0.0.1:{port}/x");
        var refused = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(refusedRequest));
        Assert.Equal(599, refused.Code);
        Assert.Contains("Connection refused", refused.Message);
        Assert.Contains($"127.0.0.1:{port}", refused.Message);
        Assert.Same(refusedRequest, refused.Request);
    }

    [Fact]
    [Trait("Spec", "CLIENT-06")]
    public async Task CLIENT_06_close_is_idempotent_await_using_works_and_fetch_after_close_names_where()
    {
        var client = new AsyncHttpClient();
        await client.FetchAsync(Url("/hello"));
        client.Close();
        client.Close();
        await client.DisposeAsync();
        var error = await Assert.ThrowsAsync<ClientClosedException>(() => client.FetchAsync(Url("/hello")));
        Assert.Contains(nameof(CLIENT_06_close_is_idempotent_await_using_works_and_fetch_after_close_names_where), error.ClosedAt);
        Assert.Contains("closed at", error.Message);

        AsyncHttpClient escaped;
        await using (var scoped = new AsyncHttpClient())
        {
            escaped = scoped;
            await scoped.FetchAsync(Url("/hello"));
        }

        Assert.True(escaped.IsClosed);
        Assert.Equal(0, escaped.Pool!.Count);
    }

    [Fact]
    [Trait("Category", "Timing")]
    [Trait("Spec", "CLIENT-07")]
    public async Task CLIENT_07_close_fails_queued_and_in_flight_fetches_and_closes_their_sockets()
    {
        var check = LeakCheck.Start(server);
        var client = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 1 });
        var inflight = client.FetchAsync(Url("/delay/10000"));
        var queued = client.FetchAsync(new FetchRequest(Url("/delay/10000")) { QueueTimeout = TimeSpan.FromSeconds(30) });
        // The in-flight fetch's connection: one loopback connect, milliseconds unloaded; 5 s is the margin for a loaded
        // 2-core machine. Asserted (issue 13's audit: the wait used to end silently), so the close below meets a fetch
        // that really is in flight.
        var deadline = Stopwatch.StartNew();
        while (client.Pool?.Count is null or 0 && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(10);
        }

        Assert.True(client.Pool?.Count > 0, $"waited {deadline.Elapsed} for the in-flight fetch's connection");

        var sw = Stopwatch.StartNew();
        client.Close();
        Assert.Equal(0, client.Pool!.Count);
        var a = await Assert.ThrowsAsync<FetchException>(() => inflight);
        var b = await Assert.ThrowsAsync<FetchException>(() => queued);
        // "Promptly": without the close both would run 10 s (server delay); closing two fetches takes a few ms
        // unloaded. The Timing rule's 1 s + 0.5 s is the margin for a loaded 2-core machine.
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1.5), $"close took {sw.Elapsed}");
        Assert.Equal((599, FetchErrorKind.ClientClosed), (a.Code, a.Kind));
        Assert.Equal((599, FetchErrorKind.ClientClosed), (b.Code, b.Kind));
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "CLIENT-08")]
    public async Task CLIENT_08_request_value_wins_over_client_default_which_wins_over_built_in()
    {
        var options = new AsyncHttpClientOptions();
        options.Defaults.UserAgent = "client-default";
        await using var client = new AsyncHttpClient(options);
        Assert.Equal("client-default", (await client.FetchAsync(Url("/headers/user-agent"))).Text);
        Assert.Equal("request-value",
            (await client.FetchAsync(new FetchRequest(Url("/headers/user-agent")) { UserAgent = "request-value" })).Text);

        await using var plain = new AsyncHttpClient();
        Assert.StartsWith("Tether/", (await plain.FetchAsync(Url("/headers/user-agent"))).Text);

        // A setting with a client default but not set on the request: FollowRedirects off on the client.
        var noRedirects = new AsyncHttpClientOptions();
        noRedirects.Defaults.FollowRedirects = false;
        await using var c2 = new AsyncHttpClient(noRedirects);
        var r302 = await c2.FetchAsync(new FetchRequest(Url("/redirect/1")) { RaiseOnError = false });
        Assert.Equal(302, r302.Code);
        var followed = await c2.FetchAsync(new FetchRequest(Url("/redirect/1")) { FollowRedirects = true });
        Assert.Equal(200, followed.Code);
    }

    [Fact]
    [Trait("Spec", "CLIENT-09")]
    public async Task CLIENT_09_options_are_validated_once_listing_every_problem_and_frozen_after_first_use()
    {
        var bad = new AsyncHttpClientOptions { MaxClients = 0 };
        bad.Defaults.RequestTimeout = TimeSpan.Zero;
        bad.Defaults.MaxRedirects = -1;
        await using (var client = new AsyncHttpClient(bad))
        {
            var error = await Assert.ThrowsAsync<OptionsValidationException>(() => client.FetchAsync(Url("/hello")));
            Assert.Equal(3, error.Problems.Count);
            Assert.Contains(error.Problems, p => p.StartsWith("MaxClients = 0", StringComparison.Ordinal) && p.Contains("default 10"));
            Assert.Contains(error.Problems, p => p.Contains("Defaults.RequestTimeout = 00:00:00") && p.Contains("InfiniteTimeSpan"));
            Assert.Contains(error.Problems, p => p.Contains("Defaults.MaxRedirects = -1"));
        }

        var good = new AsyncHttpClientOptions { MaxClients = 3 };
        await using var used = new AsyncHttpClient(good);
        await used.FetchAsync(Url("/hello"));
        Assert.Throws<InvalidOperationException>(() => good.MaxClients = 4);
    }

    [Fact]
    [Trait("Spec", "CLIENT-10")]
    public async Task CLIENT_10_malformed_url_or_other_scheme_is_rejected_before_any_socket()
    {
        var before = server.Server.AcceptedConnections;
        await using var client = new AsyncHttpClient();
        var ftp = await Assert.ThrowsAsync<ArgumentException>(() => client.FetchAsync($"ftp://127.0.0.1:{server.Server.Port}/x"));
        Assert.Contains("ftp://127.0.0.1", ftp.Message);
        Assert.Contains("only http and https", ftp.Message);
        var relative = await Assert.ThrowsAsync<ArgumentException>(() => client.FetchAsync("/just/a/path"));
        Assert.Contains("/just/a/path", relative.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => client.FetchAsync("http//127.0.0.1/"));
        Assert.Equal(before, server.Server.AcceptedConnections);
        Assert.Null(client.Pool?.Count is > 0 ? client.Pool : null);
    }

    [Fact]
    [Trait("Spec", "CLIENT-11")]
    public async Task CLIENT_11_callers_headers_are_not_modified_and_multi_values_arrive_separately()
    {
        await using var client = new AsyncHttpClient();
        var request = new FetchRequest(Url("/echo/headers")) { Headers = { { "X-Multi", "a" }, { "X-Multi", "b" } } };
        var before = request.Headers.ToList();
        var first = await client.FetchAsync(request);
        Assert.Equal(before, request.Headers.ToList());
        var second = await client.FetchAsync(request);
        Assert.Equal(before, request.Headers.ToList());
        var values = Headers(second)["X-Multi"];
        // Kestrel joins repeated request headers into one StringValues; each arrives as its own value.
        Assert.Equal(["a", "b"], values.SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)).ToArray());
        Assert.Equal(Headers(first)["X-Multi"], values);
    }

    [Fact]
    [Trait("Spec", "CLIENT-12")]
    public async Task CLIENT_12_string_body_is_utf8_with_byte_length_and_bytes_or_stream_pass_through()
    {
        await using var client = new AsyncHttpClient();
        var text = "héllo ☃";
        var r = await client.FetchAsync(new FetchRequest(Url("/echo")) { Method = "POST", Body = text });
        Assert.Equal(Encoding.UTF8.GetByteCount(text).ToString(), r.Headers["X-Content-Length"]);
        Assert.Equal(Encoding.UTF8.GetBytes(text), r.Body);

        var bytes = new byte[] { 0, 1, 2, 255, 254, 13, 10 };
        var rb = await client.FetchAsync(new FetchRequest(Url("/echo")) { Method = "PUT", Body = bytes });
        Assert.Equal(bytes, rb.Body);
        Assert.Equal("7", rb.Headers["X-Content-Length"]);

        using var stream = new MemoryStream(bytes);
        var rs = await client.FetchAsync(new FetchRequest(Url("/echo")) { Method = "POST", Body = FetchBody.FromStream(stream) });
        Assert.Equal(bytes, rs.Body);
    }

    [Fact]
    [Trait("Spec", "CLIENT-13")]
    public async Task CLIENT_13_body_sanity_checks_name_the_method_unless_nonstandard_methods_are_allowed()
    {
        var before = server.Server.AcceptedConnections;
        await using var client = new AsyncHttpClient();
        foreach (var method in new[] { "GET", "HEAD", "DELETE", "OPTIONS" })
        {
            var e = await Assert.ThrowsAsync<ArgumentException>(() =>
                client.FetchAsync(new FetchRequest(Url("/echo")) { Method = method, Body = "x" }));
            Assert.Contains(method, e.Message);
        }

        foreach (var method in new[] { "POST", "PUT", "PATCH" })
        {
            var e = await Assert.ThrowsAsync<ArgumentException>(() =>
                client.FetchAsync(new FetchRequest(Url("/echo")) { Method = method }));
            Assert.Contains(method, e.Message);
        }

        var other = await Assert.ThrowsAsync<ArgumentException>(() => client.FetchAsync(new FetchRequest(Url("/echo")) { Method = "PROPFIND" }));
        Assert.Contains("PROPFIND", other.Message);
        Assert.Equal(before, server.Server.AcceptedConnections);

        var custom = await client.FetchAsync(new FetchRequest(Url("/echo")) { Method = "PROPFIND", AllowNonstandardMethods = true });
        Assert.Equal("PROPFIND", custom.Headers["X-Method"]);
        var getWithBody = await client.FetchAsync(new FetchRequest(Url("/echo")) { Method = "GET", Body = "x", AllowNonstandardMethods = true });
        Assert.Equal("x", getWithBody.Text);
    }

    [Fact]
    [Trait("Spec", "CLIENT-14")]
    public async Task CLIENT_14_basic_auth_matches_rfc7617_normalises_unicode_and_rejects_unknown_modes()
    {
        await using var client = new AsyncHttpClient();
        var r = await client.FetchAsync(new FetchRequest(Url("/echo/headers")) { AuthUsername = "Aladdin", AuthPassword = "open sesame" });
        Assert.Equal(["Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="], Headers(r)["Authorization"]);

        // "u" + combining diaeresis must go out as the NFC form U+00FC, UTF-8 encoded.
        var u = await client.FetchAsync(new FetchRequest(Url("/echo/headers")) { AuthUsername = "u\u0308ser", AuthPassword = "pa\u0301ss" });
        var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("\u00fcser:p\u00e1ss"));
        Assert.Equal([expected], Headers(u)["Authorization"]);

        var before = server.Server.AcceptedConnections;
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => client.FetchAsync(
            new FetchRequest(Url("/echo/headers")) { AuthUsername = "a", AuthPassword = "b", AuthMode = (AuthMode)42 }));
        Assert.Contains("AuthMode = 42", e.Message);
        Assert.Equal(before, server.Server.AcceptedConnections);
    }

    [Fact]
    [Trait("Spec", "CLIENT-15")]
    public async Task CLIENT_15_credentials_in_url_become_basic_auth_and_leave_host_and_effective_url()
    {
        await using var client = new AsyncHttpClient();
        var port = server.Server.Port;
        var r = await client.FetchAsync($"http://me:se%40cret@127.0.0.1:{port}/echo/headers");
        var headers = Headers(r);
        Assert.Equal(["Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("me:se@cret"))], headers["Authorization"]);
        Assert.Equal([$"127.0.0.1:{port}"], headers["Host"]);
        Assert.Equal($"http://127.0.0.1:{port}/echo/headers", r.EffectiveUrl.ToString());
        Assert.DoesNotContain("cret", r.EffectiveUrl.ToString());
    }

    [Theory]
    [InlineData("MD5")]
    [InlineData("SHA-256")]
    [Trait("Spec", "CLIENT-16")]
    public async Task CLIENT_16_digest_auth_succeeds_with_one_retry_and_a_wrong_password_returns_the_second_401(string algorithm)
    {
        await using var client = new AsyncHttpClient();
        var challenges = server.Server.DigestChallenges;
        var ok = await client.FetchAsync(new FetchRequest(Url($"/auth/digest/{algorithm}"))
        {
            AuthMode = AuthMode.Digest, AuthUsername = KestrelTestServer.DigestUser, AuthPassword = KestrelTestServer.DigestPassword,
        });
        Assert.Equal("digest ok", ok.Text);
        Assert.Equal(challenges + 1, server.Server.DigestChallenges);

        var wrong = await client.FetchAsync(new FetchRequest(Url($"/auth/digest/{algorithm}"))
        {
            AuthMode = AuthMode.Digest, AuthUsername = KestrelTestServer.DigestUser, AuthPassword = "wrong", RaiseOnError = false,
        });
        Assert.Equal(401, wrong.Code);
        Assert.Equal(challenges + 3, server.Server.DigestChallenges);
    }

    [Fact]
    [Trait("Spec", "CLIENT-17")]
    public async Task CLIENT_17_default_user_agent_is_Tether_version_and_the_option_replaces_it()
    {
        await using var client = new AsyncHttpClient();
        var version = typeof(AsyncHttpClient).Assembly.GetName().Version!;
        Assert.Equal($"Tether/{version.Major}.{version.Minor}.{version.Build}", (await client.FetchAsync(Url("/headers/user-agent"))).Text);
        Assert.Equal("probe/1", (await client.FetchAsync(new FetchRequest(Url("/headers/user-agent")) { UserAgent = "probe/1" })).Text);
        var explicitHeader = new FetchRequest(Url("/headers/user-agent")) { Headers = { { "User-Agent", "hdr/2" } } };
        Assert.Equal("hdr/2", (await client.FetchAsync(explicitHeader)).Text);
    }

    [Fact]
    [Trait("Spec", "CLIENT-18")]
    public async Task CLIENT_18_text_uses_the_content_type_charset_and_utf8_otherwise()
    {
        await using var client = new AsyncHttpClient();
        var latin1 = await client.FetchAsync(Url("/charset/iso-8859-1"));
        Assert.Equal(4, latin1.Body.Length);
        Assert.Equal(KestrelTestServer.CharsetText, latin1.Text);
        var utf16 = await client.FetchAsync(Url("/charset/utf-16"));
        Assert.Equal(KestrelTestServer.CharsetText, utf16.Text);
        var none = await client.FetchAsync(Url("/nocharset"));
        Assert.Equal(5, none.Body.Length);
        Assert.Equal(KestrelTestServer.CharsetText, none.Text);
    }

    [Fact]
    [Trait("Spec", "CLIENT-19")]
    public async Task CLIENT_19_time_info_phases_are_non_negative_sum_to_at_most_total_and_reuse_has_no_connect()
    {
        await using var client = new AsyncHttpClient();
        // Connect and Tls are zero on a new connection too (TimeInfo's docs say why: the runtime's only exact record
        // of the connection a request was sent on costs every request something), so the wait for a connection is part
        // of FirstByte.
        var first = await client.FetchAsync(Url("/delay/50"));
        var t = first.TimeInfo;
        Assert.Equal((TimeSpan.Zero, TimeSpan.Zero), (t.Connect, t.Tls));
        Assert.True(t.FirstByte >= TimeSpan.FromMilliseconds(45), $"first byte {t.FirstByte}");
        AssertPhases(t);

        var second = await client.FetchAsync(Url("/hello"));
        Assert.Equal((TimeSpan.Zero, TimeSpan.Zero), (second.TimeInfo.Connect, second.TimeInfo.Tls));
        AssertPhases(second.TimeInfo);

        // Queue time: MaxClients = 1, the second fetch waits for the first's 300 ms.
        await using var one = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 1 });
        var slow = one.FetchAsync(Url("/delay/300"));
        var queued = await one.FetchAsync(Url("/hello"));
        await slow;
        // It queued: a fetch that takes its slot at once reports exactly zero (no clock is read). No wall-clock lower
        // bound: on a loaded machine starting the first fetch can take a good part of its 300 ms (a CI run saw the same
        // bound fail in TIMEOUT-06).
        Assert.True(queued.TimeInfo.Queue > TimeSpan.Zero, $"queue {queued.TimeInfo.Queue}");
        AssertPhases(queued.TimeInfo);
    }

    [Theory]
    [Trait("Spec", "CLIENT-19")]
    [InlineData(1)]
    [InlineData(2)]
    public async Task CLIENT_19_over_tls_a_new_and_a_reused_connection_report_zero_connect_and_tls_and_the_phases_fit_the_total(int major)
    {
        await using var https = await KestrelTestServer.StartAsync(new() { Https = true }, TestContext.Current.CancellationToken);
        var check = LeakCheck.Start(server, https.HttpsBaseUri!.Port);
        await using (var client = new AsyncHttpClient())
        {
            var request = new FetchRequest(https.HttpsUrl("/hello")) { CaCertificates = [https.CaCertificate], HttpVersion = new Version(major, major == 1 ? 1 : 0) };
            var first = await client.FetchAsync(request, TestContext.Current.CancellationToken);
            Assert.Equal(new Version(major, major == 1 ? 1 : 0), first.Version); // HTTP/2 by ALPN
            Assert.Equal(1, https.AcceptedConnections);
            // A new connection (TCP and the TLS handshake): not reported per fetch, counted in FirstByte.
            Assert.Equal((TimeSpan.Zero, TimeSpan.Zero), (first.TimeInfo.Connect, first.TimeInfo.Tls));
            Assert.True(first.TimeInfo.FirstByte > TimeSpan.Zero, $"{first.TimeInfo}");
            AssertPhases(first.TimeInfo);

            var second = await client.FetchAsync(request, TestContext.Current.CancellationToken);
            Assert.Equal(1, https.AcceptedConnections); // reused
            Assert.Equal((TimeSpan.Zero, TimeSpan.Zero), (second.TimeInfo.Connect, second.TimeInfo.Tls));
            AssertPhases(second.TimeInfo);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "CLIENT-19")]
    public async Task CLIENT_19_a_slow_tls_handshake_shows_in_first_byte_and_in_the_ledger_not_in_connect_or_tls()
    {
        // A relay in front of Kestrel's TLS endpoint holds the client's first bytes (its ClientHello) for 300 ms: the
        // handshake of the fetch's new connection takes at least what the relay measured it held them.
        var ct = TestContext.Current.CancellationToken;
        await using var https = await KestrelTestServer.StartAsync(new() { Https = true }, ct);
        using var relay = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        relay.Start();
        var relayPort = ((System.Net.IPEndPoint)relay.LocalEndpoint).Port;
        var heldFor = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var relayed = RelayHoldingTheFirstBytesAsync(relay, https.HttpsBaseUri!.Port, TimeSpan.FromMilliseconds(300), heldFor, stop.Token);
        var check = LeakCheck.Start(server, https.HttpsBaseUri!.Port, relayPort);
        try
        {
            await using (var client = new AsyncHttpClient())
            {
                var url = new UriBuilder(https.HttpsUrl("/hello")) { Port = relayPort }.Uri;
                var response = await client.FetchAsync(new FetchRequest(url) { CaCertificates = [https.CaCertificate] }, ct);
                var held = await heldFor.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
                var t = response.TimeInfo;
                Assert.Equal((TimeSpan.Zero, TimeSpan.Zero), (t.Connect, t.Tls));
                Assert.True(t.FirstByte >= held, $"first byte {t.FirstByte} < the {held} the handshake was held");
                AssertPhases(t);

                // The connection's own setup times are exact in the ledger (the fetch's connection is the pool's only one).
                var entry = Assert.Single(client.Pool!.Snapshot());
                Assert.NotNull(entry.ConnectDuration);
                Assert.NotNull(entry.SetupDuration);
                Assert.True(entry.SetupDuration - entry.ConnectDuration >= held,
                    $"TLS in the ledger {entry.SetupDuration - entry.ConnectDuration} < the {held} the handshake was held");
            }

            // The client closed its connection: the relay sees both sides end.
            await relayed.WaitAsync(TimeSpan.FromSeconds(10), ct);
        }
        finally
        {
            await stop.CancelAsync();
        }

        await check.AssertCleanAsync();
    }

    /// <summary>Accepts one connection, holds the client's first bytes for <paramref name="hold"/> before passing them
    /// on to 127.0.0.1:<paramref name="targetPort"/> (how long, measured here, goes to <paramref name="heldFor"/>),
    /// then relays both ways until both sides have closed.</summary>
    private static async Task RelayHoldingTheFirstBytesAsync(System.Net.Sockets.TcpListener listener, int targetPort,
        TimeSpan hold, TaskCompletionSource<TimeSpan> heldFor, CancellationToken ct)
    {
        using var client = await listener.AcceptSocketAsync(ct);
        using var target = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await target.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, targetPort), ct);
        var buffer = new byte[16 * 1024];
        var read = await client.ReceiveAsync(buffer, ct);
        var clock = Stopwatch.StartNew();
        await Task.Delay(hold, ct); // the scenario itself: a server slow to answer the ClientHello
        clock.Stop();
        await target.SendAsync(buffer.AsMemory(0, read), ct);
        heldFor.SetResult(clock.Elapsed);
        await Task.WhenAll(PumpAsync(client, target, ct), PumpAsync(target, client, ct));

        static async Task PumpAsync(System.Net.Sockets.Socket from, System.Net.Sockets.Socket to, CancellationToken ct)
        {
            var chunk = new byte[16 * 1024];
            try
            {
                int n;
                while ((n = await from.ReceiveAsync(chunk, ct)) > 0)
                {
                    await to.SendAsync(chunk.AsMemory(0, n), ct);
                }

                to.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // A side reset, or the test ended.
            }
        }
    }

    internal static void AssertPhases(TimeInfo t)
    {
        foreach (var phase in new[] { t.Queue, t.Connect, t.Tls, t.FirstByte, t.Total })
        {
            Assert.True(phase >= TimeSpan.Zero, $"negative phase in {t}");
        }

        Assert.True(t.Queue + t.Connect + t.Tls + t.FirstByte <= t.Total, $"phases exceed the total: {t}");
    }

    [Fact]
    [Trait("Spec", "CLIENT-20")]
    public async Task CLIENT_20_max_clients_defaults_to_10_and_the_option_overrides_it()
    {
        Assert.Equal(10, new AsyncHttpClientOptions().MaxClients);
        await using var client = new AsyncHttpClient();
        var eleven = Enumerable.Range(0, 11).Select(_ => client.FetchAsync(Url("/delay/400"))).ToArray();
        var responses = await Task.WhenAll(eleven);
        // Exactly the eleventh queued: a fetch that takes its slot at once reports a queue time of exactly zero (no clock
        // is read), whatever the load (a wall-clock bound fails when starting the first ten takes a while).
        Assert.Equal([10], responses.Index().Where(r => r.Item.TimeInfo.Queue > TimeSpan.Zero).Select(r => r.Index));

        await using var two = new AsyncHttpClient(new AsyncHttpClientOptions { MaxClients = 2 });
        var three = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => two.FetchAsync(Url("/delay/400"))));
        Assert.Equal([2], three.Index().Where(r => r.Item.TimeInfo.Queue > TimeSpan.Zero).Select(r => r.Index));
    }

    [Fact]
    [Trait("Spec", "CLIENT-21")]
    public async Task CLIENT_21_throwing_streaming_callback_or_body_producer_fails_with_inner_and_discards_the_connection()
    {
        var check = LeakCheck.Start(server);
        await using (var client = new AsyncHttpClient())
        {
            await client.FetchAsync(Url("/hello"));
            var boom = new InvalidOperationException("callback boom");
            var e = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(new FetchRequest(Url("/bytes/200000"))
            {
                StreamingCallback = _ => throw boom,
            }));
            Assert.Equal((599, FetchErrorKind.Callback), (e.Code, e.Kind));
            Assert.Same(boom, e.InnerException);
            Assert.Equal(0, client.Pool!.Count);

            // Revised 2026-11-30 (issue 16, CORE-03): ConnectionReused is no longer known; the server's count shows
            // that the discarded connection was not reused.
            var accepted = server.Server.AcceptedConnections;
            await client.FetchAsync(Url("/hello"));
            Assert.Equal(accepted + 1, server.Server.AcceptedConnections);

            var producerBoom = new IOException("producer boom");
            var p = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(new FetchRequest(Url("/upload"))
            {
                Method = "POST",
                BodyProducer = async (stream, ct) =>
                {
                    await stream.WriteAsync(new byte[1000], ct);
                    throw producerBoom;
                },
            }));
            Assert.Equal((599, FetchErrorKind.Callback), (p.Code, p.Kind));
            Assert.Same(producerBoom, p.InnerException);
            accepted = server.Server.AcceptedConnections;
            await client.FetchAsync(Url("/hello"));
            Assert.Equal(accepted + 1, server.Server.AcceptedConnections);
        }

        await check.AssertCleanAsync();
    }
}
