using System.Diagnostics;
using System.Text;
using Tether.Cli;
using Tether.Cli.Commands;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Cli;

/// <summary>CLI-14 (--max-time bounds the whole transfer) and CLI-18 (curl's flags and exit codes); each test its own server.</summary>
public sealed class CurlHabitsTests
{
    // Issue 14 item 2 (regression): `fetch --timeout 1s` on a body that stalls returned exit 0 after 5.4 s. Now the one
    // --max-time token covers the body: exit 28 at T. Upper bound: T + 2 s, for a loaded 2-core machine (the spec's
    // T + max(250 ms, T/2) plus room for the in-process client's first use).
    [Theory]
    [Trait("Spec", "CLI-14")]
    [Trait("Category", "Timing")]
    [InlineData("--max-time")]
    [InlineData("--timeout")]
    [InlineData("-m")]
    public async Task CLI14_max_time_ends_a_stalled_body_at_T_with_exit_28(string option)
    {
        await using var server = await KestrelTestServer.StartAsync();
        var clock = Stopwatch.StartNew();
        var (code, _, err, body) = CliHarness.RunTether(["fetch", option, "1", server.Url("/stream/10?stallAfter=2").ToString()]);
        TimeSpan elapsed = clock.Elapsed;

        Assert.True(code == ExitCodes.Timeout, $"exit {code}: {err}");
        Assert.Equal("chunk 0\nchunk 1\n", CliHarness.Text(body)); // what arrived before the stall was written
        Assert.True(elapsed >= TimeSpan.FromSeconds(1), $"ended after {elapsed}");
        // The CLI runs in process: it ends a few ms after T = 1 s unloaded. T + 2 s is the margin for a loaded 2-core
        // machine running the suite in parallel (wider than the Timing rule's T + 0.5 s: the run includes the CLI's
        // own start, connect and the two chunks before the stall).
        Assert.True(elapsed < TimeSpan.FromSeconds(3), $"ended after {elapsed}");
        string line = Assert.Single(CliHarness.Lines(err));
        Assert.Contains("timed out", line, StringComparison.Ordinal);
        Assert.Contains("--max-time 1s", line, StringComparison.Ordinal);
    }

    // Issue 14 item 2 (regression): a trickling body (each read on time) ran past T; it ends at T too.
    [Fact]
    [Trait("Spec", "CLI-14")]
    [Trait("Category", "Timing")]
    public async Task CLI14_max_time_ends_a_trickling_body_at_T()
    {
        await using var hostile = HostileServer.Start(
            HostileBehavior.TrickleOneBytePerSecond, new HostileServerOptions { TrickleInterval = TimeSpan.FromMilliseconds(100), BodySize = 100 });
        var clock = Stopwatch.StartNew();
        var (code, _, err, body) = CliHarness.RunTether(["fetch", "--max-time", "1500ms", hostile.Url("/").ToString()]);
        TimeSpan elapsed = clock.Elapsed;

        Assert.True(code == ExitCodes.Timeout, $"exit {code}: {err}");
        Assert.InRange(body.Length, 1, 99); // some bytes came, not all 100 (10 s of trickle)
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(1500), $"ended after {elapsed}");
        Assert.True(elapsed < TimeSpan.FromSeconds(3.5), $"ended after {elapsed}"); // T + 2 s margin, as above
    }

    // CLI-14: a server that never answers: the same token covers the wait for the headers.
    [Fact]
    [Trait("Spec", "CLI-14")]
    [Trait("Category", "Timing")]
    public async Task CLI14_max_time_ends_a_wait_for_headers_at_T()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var clock = Stopwatch.StartNew();
        var (code, _, err, _) = CliHarness.RunTether(["fetch", "--max-time", "500ms", hostile.Url("/").ToString()]);
        Assert.True(code == ExitCodes.Timeout, $"exit {code}: {err}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2.5), $"ended after {clock.Elapsed}"); // T + 2 s margin
    }

    // CLI-18: -f writes no body on an HTTP error and exits 22; without -f the body is written and the exit is 1.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_fail_flag_exits_22_without_the_body()
    {
        await using var server = await KestrelTestServer.StartAsync();
        var (code, _, err, body) = CliHarness.RunTether(["fetch", "-f", server.Url("/status/404").ToString()]);
        Assert.Equal(ExitCodes.HttpErrorFail, code);
        Assert.Empty(body);
        Assert.Contains("HTTP 404", err, StringComparison.Ordinal);

        (code, _, err, body) = CliHarness.RunTether(["fetch", "-sf", server.Url("/status/500").ToString()]);
        Assert.Equal(ExitCodes.HttpErrorFail, code);
        Assert.Equal(string.Empty, err); // -s: exit code only
        Assert.Empty(body);
    }

    // CLI-18: -I sends HEAD and writes the head only; -i writes head and body.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_head_flag_sends_head_and_prints_the_headers()
    {
        await using var server = await KestrelTestServer.StartAsync();
        var (code, _, err, body) = CliHarness.RunTether(["fetch", "-I", server.Url("/status/200").ToString()]);
        Assert.True(code == ExitCodes.Ok, err);
        string text = CliHarness.Text(body);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("status 200", text, StringComparison.Ordinal); // the body GET would have
        Assert.Contains("\r\nDate: ", text, StringComparison.Ordinal);
    }

    // CLI-18: -w prints http_code and time_total after the body; -o - is stdout.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_write_out_and_output_dash()
    {
        await using var server = await KestrelTestServer.StartAsync();
        var (code, _, err, body) = CliHarness.RunTether(["fetch", "-o", "-", "-w", "\\n%{http_code} %{time_total} %{size_download}\\n", server.Url("/hello").ToString()]);
        Assert.True(code == ExitCodes.Ok, err);
        string[] parts = CliHarness.Text(body).Split('\n');
        Assert.Equal("Hello, world!", parts[0]);
        string[] fields = parts[1].Split(' ');
        Assert.Equal("200", fields[0]);
        double seconds = double.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
        // A sanity range on the printed number: a loopback /hello takes milliseconds unloaded; 30 s is the margin for
        // a loaded 2-core machine.
        Assert.InRange(seconds, 0.000001, 30);
        Assert.Equal("13", fields[2]);
        Assert.False(File.Exists("-"), "-o - must not create a file named '-'");

        // curl prints 000 when no response came.
        (code, _, _, body) = CliHarness.RunTether(["fetch", "-s", "-w", "%{http_code}", $"http://127.0.0.1:{HostileServer.GetClosedPort()}/"]);
        Assert.Equal(ExitCodes.ConnectFailed, code);
        Assert.Equal("000", CliHarness.Text(body));

        (code, _, err, _) = CliHarness.RunTether(["fetch", "-w", "%{nonsense}", server.Url("/hello").ToString()]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("%{nonsense}", err, StringComparison.Ordinal);
    }

    // CLI-18: -u user:pass reaches the server as Basic credentials.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_user_flag_sends_basic_credentials()
    {
        await using var server = await KestrelTestServer.StartAsync();
        var (code, _, err, body) = CliHarness.RunTether(["fetch", "-u", "alice:s3cret", server.Url("/auth/basic").ToString()]);
        Assert.True(code == ExitCodes.Ok, err);
        Assert.Equal("alice:s3cret", CliHarness.Text(body));
    }

    // Issue 14 item 6 (regression): /gzip printed raw gzip; it is decoded by default and with --compressed.
    [Theory]
    [Trait("Spec", "CLI-18")]
    [InlineData]
    [InlineData("--compressed")]
    public async Task CLI18_a_gzip_body_is_decoded(params string[] flags)
    {
        await using var server = await KestrelTestServer.StartAsync();
        var (code, _, err, body) = CliHarness.RunTether(["fetch", .. flags, server.Url("/gzip").ToString()]);
        Assert.True(code == ExitCodes.Ok, err);
        Assert.NotEmpty(body);
        Assert.False(body.Length >= 2 && body[0] == 0x1f && body[1] == 0x8b, "the body is still gzip");
        Assert.DoesNotContain('\uFFFD', Encoding.UTF8.GetString(body));
    }

    // CLI-18: --cacert trusts the test CA (exit 0); without it the certificate is refused with curl's 60 and the hint names
    // the CLI flags, not the library property (issue 14 item 6).
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_cacert_trusts_the_ca_and_an_untrusted_certificate_is_exit_60_with_a_cli_hint()
    {
        await using var tls = await KestrelTestServer.StartAsync(new KestrelTestServerOptions { Https = true });
        string url = tls.HttpsUrl("/hello").ToString();
        var (code, _, err, _) = CliHarness.RunTether(["fetch", url]);
        Assert.Equal(ExitCodes.TlsCertificate, code);
        Assert.Contains("--cacert FILE", err, StringComparison.Ordinal);
        Assert.Contains("-k/--insecure", err, StringComparison.Ordinal);
        Assert.DoesNotContain("CaCertificates", err, StringComparison.Ordinal);

        string pem = Path.Combine(Path.GetTempPath(), $"tether-ca-{Guid.NewGuid():N}.pem");
        try
        {
            File.WriteAllText(pem, tls.CaCertificate.ExportCertificatePem());
            var (code2, _, err2, body) = CliHarness.RunTether(["fetch", "--cacert", pem, url]);
            Assert.True(code2 == ExitCodes.Ok, err2);
            Assert.Equal("Hello, world!", CliHarness.Text(body));
        }
        finally
        {
            File.Delete(pem);
        }
    }

    // CLI-18: curl's exit codes for refused (7) and timeout (28); the mapping for the rest.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public void CLI18_exit_codes_follow_curl_for_refused_timeout_and_tls()
    {
        var (code, _, err, _) = CliHarness.RunTether(["fetch", $"http://127.0.0.1:{HostileServer.GetClosedPort()}/"]);
        Assert.Equal(ExitCodes.ConnectFailed, code);
        Assert.Contains("ConnectionRefused", err, StringComparison.Ordinal);
        Assert.Equal(7, ExitCodes.ConnectFailed);
        Assert.Equal(28, ExitCodes.Timeout);
        Assert.Equal(22, ExitCodes.HttpErrorFail);
        Assert.Equal(35, FetchCommand.ExitCodeFor(FetchErrorKind.Tls, TlsFailureKind.Handshake));
        Assert.Equal(60, FetchCommand.ExitCodeFor(FetchErrorKind.Tls, TlsFailureKind.UntrustedChain));
        Assert.Equal(28, FetchCommand.ExitCodeFor(FetchErrorKind.ConnectTimeout));
        Assert.Equal(4, FetchCommand.ExitCodeFor(FetchErrorKind.ConnectionReset));
    }

    // Issue 14 item 9 (regression): `-o /nonexistent/x` was exit 4 "transfer failed" after the request.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_output_into_a_missing_directory_is_a_usage_error_before_the_request()
    {
        await using var server = await KestrelTestServer.StartAsync();
        var (code, _, err, _) = CliHarness.RunTether(["fetch", "-o", "/nonexistent-tether-dir/x", server.Url("/hello").ToString()]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("'/nonexistent-tether-dir' does not exist", err, StringComparison.Ordinal);
        Assert.Equal(0, server.AcceptedConnections); // refused before any request
    }

    // Issue 14 item 9 (regression): `-X GET -d x` answered with a library property name.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public void CLI18_get_with_data_names_the_flags()
    {
        var (code, _, err, _) = CliHarness.RunTether(["fetch", "-X", "GET", "-d", "x", "http://127.0.0.1:9/"]);
        Assert.Equal(ExitCodes.Usage, code);
        string line = Assert.Single(CliHarness.Lines(err));
        Assert.Contains("use -X POST", line, StringComparison.Ordinal);
        Assert.DoesNotContain("FetchRequest", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Body", line, StringComparison.Ordinal);
    }

    // Issue 14 item 9 (regression): the progress bar of a 7-byte chunked body said "100% 2147483647 bytes".
    [Fact]
    [Trait("Spec", "CLI-04")]
    public async Task CLI04_progress_bar_of_a_small_body_of_unknown_length_shows_its_real_size()
    {
        Assert.SkipUnless(File.Exists("/usr/bin/script"), "needs util-linux `script` to give the child a pseudo-terminal");
        await using var server = await KestrelTestServer.StartAsync();
        string file = Path.Combine(Path.GetTempPath(), $"tether-chunked-{Guid.NewGuid():N}.txt");
        try
        {
            var (code, transcript) = CliProcess.RunOnTerminal($"dotnet '{CliProcess.Dll}' fetch -o '{file}' {server.Url("/stream/1")}");
            Assert.True(code == 0, transcript);
            Assert.Equal("chunk 0\n", File.ReadAllText(file));
            Assert.DoesNotContain("2147483647", transcript, StringComparison.Ordinal);
            Assert.DoesNotContain("1.7976931348623157E+308", transcript, StringComparison.Ordinal);
            Assert.Contains("100%", transcript, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
    // Newcomer test 2026-11-30: `-d @file` sent the file's newlines, where curl's -d removes CR and LF from a file (its
    // --data-binary keeps them). Both are compared against what the server received.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_data_at_file_drops_newlines_as_curl_does_and_data_binary_keeps_them()
    {
        await using var server = await KestrelTestServer.StartAsync();
        string file = Path.Combine(Path.GetTempPath(), $"tether-data-{Guid.NewGuid():N}.txt");
        try
        {
            File.WriteAllText(file, "a=1&b=2\r\nline2\n");
            string url = server.Url("/echo").ToString();
            var (code, _, err, body) = CliHarness.RunTether(["fetch", "-d", "@" + file, url]);
            Assert.True(code == ExitCodes.Ok, err);
            Assert.Equal("a=1&b=2line2", CliHarness.Text(body));

            var (code2, _, err2, body2) = CliHarness.RunTether(["fetch", "--data-binary", "@" + file, url]);
            Assert.True(code2 == ExitCodes.Ok, err2);
            Assert.Equal("a=1&b=2\r\nline2\n", CliHarness.Text(body2));

            var (code3, _, err3, _) = CliHarness.RunTether(["fetch", "-d", "x", "--data-binary", "y", url]);
            Assert.Equal(ExitCodes.Usage, code3);
            Assert.Contains("--data-binary", err3, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    // CLI-18 (coordinator's curl tour, 2026-12-01): curl's --json. The body goes as given, with Content-Type and Accept
    // of application/json and POST; repeats are joined with nothing between (curl 7.82's rule).
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_json_posts_the_body_as_given_with_json_content_type_and_accept()
    {
        await using var server = await KestrelTestServer.StartAsync();
        var (code, _, err, body) = CliHarness.RunTether(["fetch", "-i", "--json", "{\"a\":", "--json", "1}", server.Url("/echo").ToString()]);
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.EndsWith("{\"a\":1}", CliHarness.Text(body), StringComparison.Ordinal);
        string head = CliHarness.Text(body);
        Assert.Contains("X-Method: POST", head, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Content-Type: application/json", head, StringComparison.OrdinalIgnoreCase); // the echo answers with the request's type

        var sent = CliHarness.Received(CliHarness.RunTether(["fetch", "--json", "{}", server.Url("/echo/headers").ToString()]));
        Assert.Equal("application/json", sent["Accept"][0]);
        Assert.Equal("application/json", sent["Content-Type"][0]);

        // One body form per command, as with -d and --data-binary.
        (code, _, err, _) = CliHarness.RunTether(["fetch", "--json", "{}", "-d", "a=1", server.Url("/echo").ToString()]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("use one of them", err, StringComparison.Ordinal);
    }

    // CLI-18 (coordinator's curl tour): -A sets the User-Agent, -A '' sends none, and an -H User-Agent wins over -A.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_user_agent_option_sets_or_removes_the_header()
    {
        await using var server = await KestrelTestServer.StartAsync();
        string url = server.Url("/headers/user-agent").ToString();
        var (code, _, err, body) = CliHarness.RunTether(["fetch", "-A", "probe/1.0", url]);
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.Equal("probe/1.0", CliHarness.Text(body));

        (code, _, err, body) = CliHarness.RunTether(["fetch", "-A", "", url]);
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.Equal(string.Empty, CliHarness.Text(body));

        (code, _, err, body) = CliHarness.RunTether(["fetch", "--user-agent", "probe/1.0", "-H", "User-Agent: header/2.0", url]);
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.Equal("header/2.0", CliHarness.Text(body));
    }

    // CLI-18 (coordinator's curl tour): `curl 127.0.0.1:8080/x` guesses http://; tether did not (exit 2). A scheme other
    // than http or https is still refused.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_a_url_without_a_scheme_is_fetched_over_http()
    {
        await using var server = await KestrelTestServer.StartAsync();
        Uri url = server.Url("/hello");
        var (code, _, err, body) = CliHarness.RunTether(["fetch", $"{url.Host}:{url.Port}/hello"]);
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.Equal(KestrelTestServer.HelloText, CliHarness.Text(body));
        Assert.Equal("http://127.0.0.1:8080/x", FetchCommand.WithScheme("127.0.0.1:8080/x"));
        Assert.Equal("ftp://127.0.0.1/x", FetchCommand.WithScheme("ftp://127.0.0.1/x"));

        (code, _, err, _) = CliHarness.RunTether(["fetch", "ftp://127.0.0.1:9/x"]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("is not an absolute http:// or https:// URL", err, StringComparison.Ordinal);
    }

    // CLI-18 (coordinator's curl tour, 2026-12-01): -v listed only the -H headers, not the User-Agent, Accept-Encoding,
    // Authorization and Content-Length that went out. Differential: every request line -v prints was received by the
    // server with that value (secrets masked), and every header the server received, apart from Host, is printed.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_verbose_prints_every_request_header_that_was_sent()
    {
        await using var server = await KestrelTestServer.StartAsync();
        var run = CliHarness.RunTether(["fetch", "-v", "-u", "alice:secret", "-H", "X-Probe: 1", "-d", "a=1", server.Url("/echo/headers").ToString()]);
        var received = CliHarness.Received(run);
        string err = run.Err;
        var printed = CliHarness.Lines(err).Where(l => l.StartsWith("> ", StringComparison.Ordinal) && l.Contains(':', StringComparison.Ordinal)
            && !l.StartsWith("> POST ", StringComparison.Ordinal))
            .Select(l => (Name: l[2..l.IndexOf(':', StringComparison.Ordinal)], Value: l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim()))
            .ToList();
        var sent = received.Where(p => !p.Key.Equals("Host", StringComparison.OrdinalIgnoreCase))
            .ToDictionary(p => p.Key, p => p.Value[0], StringComparer.OrdinalIgnoreCase);

        Assert.Equal(sent.Keys.Order(StringComparer.OrdinalIgnoreCase), printed.Select(p => p.Name).Order(StringComparer.OrdinalIgnoreCase),
            StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in printed)
        {
            if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
            {
                Assert.Equal("***", value); // SEC-12: the secret is masked
                Assert.StartsWith("Basic ", sent[name], StringComparison.Ordinal);
                continue;
            }

            Assert.Equal(sent[name], value);
        }
    }

    // CLI-18 (coordinator's curl tour, 2026-12-01): `-i -L` printed only the final head; curl prints every hop's head,
    // then the final one. Oracle: the status lines curl itself prints for the same chain, when curl is installed.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_include_with_location_prints_the_head_of_every_hop_as_curl()
    {
        await using var server = await KestrelTestServer.StartAsync();
        string url = server.Url("/redirect/2").ToString();
        var (code, _, err, body) = CliHarness.RunTether(["fetch", "-i", "-L", url]);
        Assert.True(code == 0, $"exit {code}: {err}");
        string text = CliHarness.Text(body);
        var statusLines = text.Split("\r\n").Where(l => l.StartsWith("HTTP/", StringComparison.Ordinal)).Select(l => l.Split(' ')[1]).ToArray();
        Assert.Equal(["302", "302", "200"], statusLines);
        Assert.EndsWith("\r\n\r\nredirected", text, StringComparison.Ordinal); // one body, the final one
        Assert.Equal(2, text.Split("\r\nLocation: ", StringSplitOptions.None).Length - 1);

        // Without -L only the first head; without -i no head at all.
        (code, _, err, body) = CliHarness.RunTether(["fetch", "-i", url]);
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.Single(CliHarness.Text(body).Split("\r\n"), l => l.StartsWith("HTTP/", StringComparison.Ordinal));

        if (FindOnPath("curl") is { } curl)
        {
            var psi = new ProcessStartInfo(curl, ["-s", "-i", "-L", url]) { RedirectStandardOutput = true, UseShellExecute = false };
            using var process = Process.Start(psi)!;
            string curlOut = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            var curlStatus = curlOut.Split("\r\n").Where(l => l.StartsWith("HTTP/", StringComparison.Ordinal)).Select(l => l.Split(' ')[1]).ToArray();
            Assert.Equal(curlStatus, statusLines);
        }
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    // CLI-18 (coordinator's curl tour, 2026-12-01): -w %{time_connect} and %{time_appconnect} printed 0 and -v said
    // "connect 0.0 ms, tls 0.0 ms" for a new connection. They now come from the ledger's record of the connection that
    // served the response (DIAG: LedgerEntry.ConnectDuration, SetupDuration), as curl's: counted from the start,
    // connect <= appconnect (TLS) <= start of transfer <= total, and appconnect 0 without TLS.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_write_out_connect_and_tls_times_come_from_the_serving_connection()
    {
        const string Format = "%{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total}";
        await using var tls = await KestrelTestServer.StartAsync(new KestrelTestServerOptions { Https = true });
        string pem = Path.Combine(Path.GetTempPath(), $"tether-ca-{Guid.NewGuid():N}.pem");
        try
        {
            File.WriteAllText(pem, tls.CaCertificate.ExportCertificatePem());
            var (code, _, err, stdout) = CliHarness.RunTether(["fetch", "-v", "-o", "/dev/null", "--cacert", pem, "-w", Format, tls.HttpsUrl("/hello").ToString()]);
            Assert.True(code == ExitCodes.Ok, err);
            string output = CliHarness.Text(stdout);
            double[] t = Times(output);
            Assert.True(t[0] > 0 && t[0] <= t[1] && t[1] <= t[2] && t[2] <= t[3], $"times {output}");
            string timings = Assert.Single(CliHarness.Lines(err), l => l.StartsWith("* timings:", StringComparison.Ordinal));
            Assert.DoesNotContain("n/a", timings, StringComparison.Ordinal);
            Assert.DoesNotContain("tls none", timings, StringComparison.Ordinal);

            (code, _, err, stdout) = CliHarness.RunTether(["fetch", "-v", "-o", "/dev/null", "-w", Format, tls.Url("/hello").ToString()]);
            Assert.True(code == ExitCodes.Ok, err);
            output = CliHarness.Text(stdout);
            t = Times(output);
            Assert.True(t[0] > 0 && t[1] == 0 && t[0] <= t[2] && t[2] <= t[3], $"times {output}");
            Assert.Contains("tls none", err, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(pem);
        }

        static double[] Times(string output) =>
            output.Trim().Split(' ').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    // CLI-18 (coordinator's curl tour): `curl http://user:pass@host/` sends Basic auth from the URL; tether sent none.
    // Percent-escapes are decoded, -u wins over the URL, and -v masks the header (SEC-12).
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_credentials_in_the_url_are_sent_as_basic_auth_as_curl()
    {
        await using var server = await KestrelTestServer.StartAsync();
        Uri url = server.Url("/echo/headers");
        string Expected(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

        var run = CliHarness.RunTether(["fetch", "-v", $"http://al%40ice:p%3Ass@{url.Host}:{url.Port}{url.AbsolutePath}"]);
        Assert.Equal(Expected("al@ice", "p:ss"), CliHarness.Received(run)["Authorization"][0]);
        Assert.Contains("> Authorization: ***", run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("p%3Ass", run.Err, StringComparison.Ordinal);

        run = CliHarness.RunTether(["fetch", "-u", "bob:pw", $"http://alice:secret@{url.Host}:{url.Port}{url.AbsolutePath}"]);
        Assert.Equal(Expected("bob", "pw"), CliHarness.Received(run)["Authorization"][0]);
    }
}
