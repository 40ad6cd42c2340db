using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Tether.Cli;
using Tether.Cli.Commands;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Cli;

public sealed class FetchCommandTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private string Url(string path) => server.Url(path).ToString();

    private static byte[] Pattern(int n)
    {
        var bytes = new byte[n];
        TestPatterns.Fill(bytes);
        return bytes;
    }

    // CLI-01
    [Fact]
    [Trait("Spec", "CLI-01")]
    public void CLI01_fetch_writes_the_body_to_stdout()
    {
        var (code, _, err, body) = CliHarness.RunTether(["fetch", Url("/hello")]);
        Assert.True(code == ExitCodes.Ok, err);
        Assert.Equal("Hello, world!", CliHarness.Text(body));
        Assert.Equal(string.Empty, err);
    }

    // CLI-01
    [Fact]
    [Trait("Spec", "CLI-01")]
    public void CLI01_include_adds_status_line_and_headers_before_the_body()
    {
        var (code, _, _, body) = CliHarness.RunTether(["fetch", "-i", Url("/hello")]);
        Assert.Equal(ExitCodes.Ok, code);
        string text = CliHarness.Text(body);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", text, StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Length: 13\r\n", text, StringComparison.OrdinalIgnoreCase);
        Assert.EndsWith("\r\n\r\nHello, world!", text, StringComparison.Ordinal);
    }

    // CLI-01
    [Fact]
    [Trait("Spec", "CLI-01")]
    public void CLI01_output_writes_the_body_to_a_file_and_nothing_to_stdout()
    {
        string file = Path.Combine(Path.GetTempPath(), $"tether-fetch-{Guid.NewGuid():N}.bin");
        try
        {
            var (code, output, _, body) = CliHarness.RunTether(["fetch", "-o", file, Url("/bytes/100000")]);
            Assert.Equal(ExitCodes.Ok, code);
            Assert.Empty(body);
            Assert.Equal(string.Empty, output);
            Assert.Equal(Pattern(100_000), File.ReadAllBytes(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    // CLI-01: method, repeated headers and inline data reach the server as given.
    [Fact]
    [Trait("Spec", "CLI-01")]
    public void CLI01_method_headers_and_inline_data_reach_the_server()
    {
        var (code, _, _, body) = CliHarness.RunTether(["fetch", "-i", "-X", "PUT", "-H", "X-One: 1", "-H", "X-Two: two words", "-d", "a=b&c=d", Url("/echo")]);
        Assert.Equal(ExitCodes.Ok, code);
        string text = CliHarness.Text(body);
        Assert.Contains("X-Method: PUT\r\n", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\na=b&c=d", text, StringComparison.Ordinal);

        var (_, _, _, headers) = CliHarness.RunTether(["fetch", "-H", "X-One: 1", "-H", "X-Two: two words", Url("/echo/headers")]);
        string json = CliHarness.Text(headers);
        Assert.Contains("\"X-One\":[\"1\"]", json, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"X-Two\":[\"two words\"]", json, StringComparison.OrdinalIgnoreCase);
    }

    // CLI-01: -d @file and -d @- (stdin); data without -X means POST.
    [Fact]
    [Trait("Spec", "CLI-01")]
    public void CLI01_data_from_a_file_and_from_stdin()
    {
        // A binary payload goes with --data-binary, as with curl (-d drops CR and LF from a file; see CLI-18).
        byte[] payload = Pattern(70_000);
        string expected = $"{payload.Length} {Convert.ToHexStringLower(SHA256.HashData(payload))}";
        string file = Path.Combine(Path.GetTempPath(), $"tether-data-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(file, payload);
        try
        {
            var (code, _, _, body) = CliHarness.RunTether(["fetch", "--data-binary", "@" + file, Url("/upload")]);
            Assert.Equal(ExitCodes.Ok, code);
            Assert.Equal(expected, CliHarness.Text(body).Trim());
        }
        finally
        {
            File.Delete(file);
        }

        var (code2, _, _, body2) = CliHarness.RunTether(["fetch", "--data-binary", "@-", Url("/upload")], stdin: payload);
        Assert.Equal(ExitCodes.Ok, code2);
        Assert.Equal(expected, CliHarness.Text(body2).Trim());
    }

    // CLI-01: redirects are not followed without -L; -L follows; --max-redirs caps.
    [Fact]
    [Trait("Spec", "CLI-01")]
    public void CLI01_location_and_max_redirs()
    {
        var (code, _, _, body) = CliHarness.RunTether(["fetch", "-i", Url("/redirect/2")]);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.StartsWith("HTTP/1.1 302", CliHarness.Text(body), StringComparison.Ordinal);

        (code, _, _, body) = CliHarness.RunTether(["fetch", "-L", Url("/redirect/2")]);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal("redirected", CliHarness.Text(body));

        (code, _, string err, _) = CliHarness.RunTether(["fetch", "-L", "--max-redirs", "1", Url("/redirect/2")]);
        Assert.Equal(ExitCodes.TransportError, code);
        Assert.Contains("TooManyRedirects", err, StringComparison.Ordinal);
    }

    // CLI-01: --timeout is the whole-request timeout.
    [Fact]
    [Trait("Spec", "CLI-01")]
    public void CLI01_timeout_reaches_the_request()
    {
        var (code, _, err, _) = CliHarness.RunTether(["fetch", "--timeout", "300ms", Url("/delay/5000")]);
        Assert.Equal(ExitCodes.Timeout, code); // issue 14: --timeout is --max-time (curl 28)
        Assert.Contains("--max-time 300ms", err, StringComparison.Ordinal);
        Assert.Single(CliHarness.Lines(err));
    }

    // CLI-01: --connect-timeout against a listener whose accept queue is full.
    [Fact]
    [Trait("Spec", "CLI-01")]
    public async Task CLI01_connect_timeout_reaches_the_connect()
    {
        await using var hostile = HostileServer.Start(HostileBehavior.NeverAccept);
        // The queue is filled as the timeout tests fill it (issue 13's audit): a blocking connect bounded by SO_SNDTIMEO,
        // so "full" is the kernel's answer. The earlier form cancelled async connects after 300 ms, which on a loaded
        // machine could call the queue full while it was not, and the CLI's connect then succeeded.
        var fillers = await Tether.Tests.Timeouts.TimeoutTests.FillAcceptQueueAsync(hostile.Port);
        try
        {
            var (code, _, err, _) = CliHarness.RunTether(["fetch", "--connect-timeout", "0.3", hostile.Url("/").ToString()]);
            Assert.Equal(ExitCodes.Timeout, code); // curl 28
            Assert.Contains("ConnectTimeout", err, StringComparison.Ordinal);
        }
        finally
        {
            fillers.ForEach(s => s.Dispose());
        }
    }

    // CLI-01: --insecure against Kestrel's HTTPS endpoint (certificate from a test CA the system does not trust).
    [Fact]
    [Trait("Spec", "CLI-01")]
    public async Task CLI01_insecure_skips_certificate_validation()
    {
        await using var tls = await KestrelTestServer.StartAsync(new KestrelTestServerOptions { Https = true });
        string url = tls.HttpsUrl("/hello").ToString();
        var (code, _, err, _) = CliHarness.RunTether(["fetch", url]);
        Assert.Equal(ExitCodes.TlsCertificate, code); // curl 60
        Assert.Contains("Tls", err, StringComparison.Ordinal);

        var (code2, _, _, body) = CliHarness.RunTether(["fetch", "-k", url]);
        Assert.Equal(ExitCodes.Ok, code2);
        Assert.Equal("Hello, world!", CliHarness.Text(body));
    }

    // CLI-01, SEC-12: --proxy with credentials reaches the proxy; -v never prints the password.
    [Fact]
    [Trait("Spec", "CLI-01")]
    [Trait("Spec", "SEC-12")]
    public async Task CLI01_proxy_with_credentials_and_no_password_in_verbose_output()
    {
        await using var proxy = ProxyServer.Start(new ProxyServerOptions { UserName = "pu", Password = "proxy-s3cret" });
        var (code, _, err, body) = CliHarness.RunTether(["fetch", "-v", "-x", $"http://pu:proxy-s3cret@127.0.0.1:{proxy.Port}", Url("/hello")]);
        Assert.True(code == ExitCodes.Ok, err);
        Assert.Equal("Hello, world!", CliHarness.Text(body));
        Assert.Equal(1, proxy.AcceptedConnections);
        Assert.DoesNotContain("proxy-s3cret", err, StringComparison.Ordinal);

        var (code2, _, err2, _) = CliHarness.RunTether(["fetch", "-v", $"http://user:url-s3cret@127.0.0.1:{server.Server.Port}/auth/basic"]);
        Assert.Equal(ExitCodes.Ok, code2);
        Assert.DoesNotContain("url-s3cret", err2, StringComparison.Ordinal);
    }

    // CLI-02
    [Fact]
    [Trait("Spec", "CLI-02")]
    public void CLI02_verbose_reports_new_or_reused_connection_ledger_id_and_timings()
    {
        var (code, _, err, _) = CliHarness.RunTether(["fetch", "-v", Url("/hello")]);
        Assert.Equal(ExitCodes.Ok, code);
        // Revised 2026-11-30 (issue 16, CORE-03): "new"/"reused" is no longer known per response (the handler picks the
        // connection); -v lists the run's ledger connections and how many are open, which is exact.
        Assert.Matches(new Regex(@"^\* connection #\d+ \(ledger id\), 1 open, to http://127\.0\.0\.1:\d+/hello$", RegexOptions.Multiline), err);
        Assert.Matches(new Regex(@"^\* timings: queue [\d.]+ ms, connect [\d.]+ ms, tls none, first byte [\d.]+ ms, total [\d.]+ ms$", RegexOptions.Multiline), err);
        Assert.Contains("< HTTP/1.1 200 OK", err, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^\* body 13 bytes in [\d.]+ ms; connection #\d+ closed with the client on exit$", RegexOptions.Multiline), err);

        // After two redirects on one keep-alive connection, the run still opened one connection.
        var (code2, _, err2, _) = CliHarness.RunTether(["fetch", "-v", "-L", Url("/redirect/2")]);
        Assert.Equal(ExitCodes.Ok, code2);
        Assert.Matches(new Regex(@"^\* connection #\d+ \(ledger id\), 1 open, to ", RegexOptions.Multiline), err2);
    }

    // CLI-03: each outcome has its own code.
    [Fact]
    [Trait("Spec", "CLI-03")]
    public void CLI03_success_http_error_transport_error_and_usage_error_are_distinct()
    {
        var ok = CliHarness.RunTether(["fetch", Url("/hello")]);
        var http = CliHarness.RunTether(["fetch", Url("/status/404")]);
        var transport = CliHarness.RunTether(["fetch", $"http://127.0.0.1:{HostileServer.GetClosedPort()}/"]);
        var usage = CliHarness.RunTether(["fetch", "not a url"]);

        Assert.Equal(ExitCodes.Ok, ok.Code);
        Assert.Equal(ExitCodes.HttpError, http.Code);
        Assert.Equal("status 404", CliHarness.Text(http.Body)); // the error body is still written, like curl
        Assert.Contains("HTTP 404", http.Err, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.ConnectFailed, transport.Code); // curl 7
        Assert.Contains("ConnectionRefused", transport.Err, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, usage.Code);
        Assert.Equal(4, new[] { ok.Code, http.Code, transport.Code, usage.Code }.Distinct().Count());
    }

    // CLI-11: bad URL and unknown flag: one line, exit 2, no stack trace.
    [Theory]
    [Trait("Spec", "CLI-11")]
    [InlineData("fetch", "ftp://127.0.0.1/x")]
    [InlineData("fetch", "--bogus", "http://127.0.0.1/")]
    [InlineData("fetch", "-H", "NoColon", "http://127.0.0.1/")]
    [InlineData("fetch", "--timeout", "soon", "http://127.0.0.1/")]
    [InlineData("soak", "--patterns", "nope")]
    [InlineData("soak", "--iterations", "0")]
    public void CLI11_fetch_and_soak_usage_errors_give_one_line_and_exit_2(params string[] args)
    {
        var (code, output, err, body) = CliHarness.RunTether(args);
        Assert.Equal(ExitCodes.Usage, code);
        string line = Assert.Single(CliHarness.Lines(err));
        Assert.StartsWith("tether: ", line, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", err, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
        Assert.Empty(body);
    }

    // CLI-04: in process, a non-terminal stdout gets the body byte for byte and no progress.
    [Fact]
    [Trait("Spec", "CLI-04")]
    public void CLI04_piped_output_is_byte_identical_in_process()
    {
        var (code, output, err, body) = CliHarness.RunTether(["fetch", Url("/bytes/3000000")]);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(Pattern(3_000_000), body);
        Assert.Equal(string.Empty, err);
        Assert.Equal(string.Empty, output);
    }

    // CLI-04: the rule itself.
    [Theory]
    [Trait("Spec", "CLI-04")]
    [InlineData(true, true, true, 5_000_000L, true)]
    [InlineData(true, true, true, null, true)]
    [InlineData(true, true, true, 1000L, false)]   // small
    [InlineData(true, false, true, 5_000_000L, false)] // stdout piped
    [InlineData(true, true, false, 5_000_000L, false)] // stderr redirected
    [InlineData(false, true, true, 5_000_000L, false)] // body goes to the terminal itself
    public void CLI04_progress_only_for_large_downloads_to_a_file_on_a_terminal(bool toFile, bool stdoutTty, bool stderrTty, long? length, bool expected) =>
        Assert.Equal(expected, FetchCommand.ShowsProgress(toFile, stdoutTty, stderrTty, length));

    // CLI-04: end to end, a real child process with stdout piped writes exactly the body and no progress bar.
    [Fact]
    [Trait("Spec", "CLI-04")]
    public void CLI04_piped_child_process_output_is_the_body_byte_for_byte()
    {
        var (code, stdout, err) = CliProcess.Run("fetch", Url("/bytes/2000000"));
        Assert.True(code == ExitCodes.Ok, err);
        Assert.Equal(Pattern(2_000_000), stdout);
        Assert.Equal(string.Empty, err);
    }

    // CLI-04: on a pseudo-terminal (script), -o FILE with a large body draws the progress bar; the file is exact.
    [Fact]
    [Trait("Spec", "CLI-04")]
    public void CLI04_progress_bar_on_a_terminal()
    {
        Assert.SkipUnless(File.Exists("/usr/bin/script"), "needs util-linux `script` to give the child a pseudo-terminal");
        string file = Path.Combine(Path.GetTempPath(), $"tether-progress-{Guid.NewGuid():N}.bin");
        try
        {
            var (code, transcript) = CliProcess.RunOnTerminal($"dotnet '{CliProcess.Dll}' fetch -o '{file}' {Url("/bytes/8000000")}");
            Assert.True(code == 0, transcript);
            Assert.Contains("100%", transcript, StringComparison.Ordinal);
            Assert.Contains(Path.GetFileName(file), transcript, StringComparison.Ordinal);
            Assert.Equal(Pattern(8_000_000), File.ReadAllBytes(file));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
