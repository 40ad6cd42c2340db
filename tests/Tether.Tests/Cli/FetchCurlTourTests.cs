using System.Diagnostics;
using Tether.Cli;
using Tether.Cli.Commands;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Cli;

/// <summary>
/// Newcomer tour 2026-12-02: curl flags a user types out of habit that <c>tether fetch</c> took and then did something
/// else with. Each test starts its own loopback server.
/// </summary>
public sealed class FetchCurlTourTests
{
    // `curl -sv URL` (no progress meter, but the trace) is a common habit; `tether fetch -sv` printed no trace at all,
    // because -s silenced every stderr line, -v's included. As curl: -s silences the progress bar and the error
    // message, not -v's trace.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_silent_does_not_silence_verbose()
    {
        await using var server = await KestrelTestServer.StartAsync();

        var run = CliHarness.RunTether(["fetch", "-sv", server.Url("/hello").ToString()]);

        Assert.True(run.Code == ExitCodes.Ok, $"exit {run.Code}: {run.Err}");
        Assert.Contains("> GET ", run.Err, StringComparison.Ordinal);
        Assert.Contains("< HTTP/1.1 200", run.Err, StringComparison.Ordinal);
        Assert.Contains("* body ", run.Err, StringComparison.Ordinal);

        // An error: -s still silences the message (curl -sv prints its trace, not "curl: (7) ..."); -sSv shows it.
        string refused = $"http://127.0.0.1:{HostileServer.GetClosedPort()}/";
        run = CliHarness.RunTether(["fetch", "-sv", refused]);
        Assert.True(run.Code == ExitCodes.ConnectFailed, $"exit {run.Code}: {run.Err}");
        Assert.Contains("> GET ", run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("tether:", run.Err, StringComparison.Ordinal);

        run = CliHarness.RunTether(["fetch", "-sSv", refused]);
        Assert.True(run.Code == ExitCodes.ConnectFailed, $"exit {run.Code}: {run.Err}");
        Assert.Contains("tether: Connection refused", run.Err, StringComparison.Ordinal);
    }

    // `curl -O URL` saves the body under the URL's last path segment; `tether fetch -O` was an unknown option whose
    // hint ("did you mean '-o'?") needs a file name the user wanted taken from the URL. Run as a child process in a
    // directory of its own, since -O writes to the current directory.
    [Fact]
    [Trait("Spec", "CLI-01")]
    public async Task CLI01_remote_name_saves_the_body_under_the_last_path_segment()
    {
        await using var server = await KestrelTestServer.StartAsync();
        string dir = Directory.CreateTempSubdirectory("tether-remote-name-").FullName;
        try
        {
            var info = new ProcessStartInfo("dotnet")
            {
                WorkingDirectory = dir,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string a in new[] { CliProcess.Dll, "fetch", "-O", server.Url("/hello?x=1").ToString() })
            {
                info.ArgumentList.Add(a);
            }

            using var p = Process.Start(info)!;
            Task<string> output = p.StandardOutput.ReadToEndAsync();
            Task<string> error = p.StandardError.ReadToEndAsync();
            Assert.True(p.WaitForExit(60_000), "tether did not exit within 60 s"); // a hang guard: it takes about a second
            p.WaitForExit();
            Assert.True(p.ExitCode == ExitCodes.Ok, $"exit {p.ExitCode}: {await error}");
            Assert.Empty(await output);
            var expected = CliHarness.RunTether(["fetch", server.Url("/hello").ToString()]).Body;
            Assert.Equal(expected, await File.ReadAllBytesAsync(Path.Combine(dir, "hello")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        // No file name in the URL, or both -o and -O: a usage error before the request, as curl refuses the first.
        var run = CliHarness.RunTether(["fetch", "-O", server.Url("/").ToString()]);
        Assert.True(run.Code == ExitCodes.Usage, $"exit {run.Code}: {run.Err}");
        Assert.Contains("-O takes the file name", run.Err, StringComparison.Ordinal);
        run = CliHarness.RunTether(["fetch", "-O", "-o", "x.bin", server.Url("/hello").ToString()]);
        Assert.True(run.Code == ExitCodes.Usage, $"exit {run.Code}: {run.Err}");
        Assert.Contains("-o and -O", run.Err, StringComparison.Ordinal);
        Assert.Equal(("a%20b.txt", (string?)null), FetchCommand.RemoteName("http://127.0.0.1:1/dir/a%20b.txt?q=1#f"));
    }

    // `-X get` went out as GET (.NET's HttpMethod upper-cases the standard names), but the CLI's checks compared the
    // method as typed, so `-X get -d x` sent a GET with a body that `-X GET -d x` refuses (docs/cli.md: refused, exit 2),
    // and -v showed "> get" for a request line that said GET.
    [Fact]
    [Trait("Spec", "CLI-01")]
    public async Task CLI01_a_standard_method_in_lower_case_is_checked_and_shown_as_it_is_sent()
    {
        await using var server = await KestrelTestServer.StartAsync();
        string url = server.Url("/echo").ToString();

        var run = CliHarness.RunTether(["fetch", "-X", "get", "-d", "x", url]);
        Assert.True(run.Code == ExitCodes.Usage, $"exit {run.Code}: {run.Err}");
        Assert.Contains("with GET", run.Err, StringComparison.Ordinal);

        run = CliHarness.RunTether(["fetch", "-v", "-X", "get", server.Url("/hello").ToString()]);
        Assert.True(run.Code == ExitCodes.Ok, $"exit {run.Code}: {run.Err}");
        Assert.Contains("> GET ", run.Err, StringComparison.Ordinal);

        run = CliHarness.RunTether(["fetch", "-v", "-X", "Purge", server.Url("/hello").ToString()]);
        Assert.Contains("> Purge ", run.Err, StringComparison.Ordinal); // a non-standard method is sent as given
    }

    // curl sends `-u :token` as Basic with an empty user name (some APIs take a token as the password); tether refused
    // it as "-u needs 'user:password'", which it was.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_user_with_an_empty_name_is_sent_as_curl_does()
    {
        await using var server = await KestrelTestServer.StartAsync();

        var run = CliHarness.RunTether(["fetch", "-u", ":t0ken", server.Url("/auth/basic").ToString()]);

        Assert.True(run.Code == ExitCodes.Ok, $"exit {run.Code}: {run.Err}");
        Assert.Equal(":t0ken", CliHarness.Text(run.Body));
    }
}
