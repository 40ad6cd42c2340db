using Tether.Cli;
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
}
