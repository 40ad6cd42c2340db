using System.Globalization;
using Tether.Cli;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Cli;

public sealed class WatchCommandTests
{
    // CLI-10: the leaker adds a socketpair (2 fds) every 100 ms, about 1200 fds/min.
    [Fact]
    public void CLI10_watch_against_a_socketpair_leaker_reports_growth_and_exits_3()
    {
        using var child = new PythonChild(PythonChild.TimedLeaker, limit: 100, maxSeconds: 20);
        Assert.Equal("ready 0", child.ReadLine());
        (int code, string output, string error) = CliHarness.Run(
            "watch", "--pid", Pid(child), "--fail-on-growth", "10", "--duration", "3s", "--interval", "250ms");

        Assert.True(code == ExitCodes.GrowthDetected, $"exit {code}\n{output}\n{error}");
        Assert.Contains("GROWTH DETECTED", output, StringComparison.Ordinal);
        Assert.InRange(CliHarness.Lines(output).Count(l => l.StartsWith("t=", StringComparison.Ordinal)), 12, 13); // ~13 samples
    }

    // CLI-10
    [Fact]
    public void CLI10_watch_against_a_flat_process_exits_0()
    {
        using var child = new PythonChild(PythonChild.Flat, limit: 0, maxSeconds: 20);
        Assert.Equal("ready 0", child.ReadLine());
        (int code, string output, string error) = CliHarness.Run(
            "watch", "--pid", Pid(child), "--fail-on-growth", "10", "--duration", "3s", "--interval", "250ms");

        Assert.True(code == ExitCodes.Ok, $"exit {code}\n{output}\n{error}");
        Assert.Contains("growth 0.0 fds/min (limit 10.0): ok", output, StringComparison.Ordinal);
    }

    // CLI-11 (newcomer review 2026-12-01): a process that exits during the watch is said to have exited, not "not
    // found", and the samples taken are still summarised; exit 5 as before.
    [Fact]
    [Trait("Spec", "CLI-11")]
    public void CLI11_a_process_that_exits_during_the_watch_is_reported_as_exited_with_its_summary()
    {
        // Lives 2 s: the first sample comes well before that (the watch starts at once; 2 s is the margin for a loaded
        // machine), and the watch's 20 s would outlast it by far.
        using var child = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "2") { UseShellExecute = false })!;
        (int code, string output, string error) = CliHarness.Run(
            "watch", "--pid", child.Id.ToString(CultureInfo.InvariantCulture), "--duration", "20s", "--interval", "100ms");

        Assert.True(code == ExitCodes.ProcessNotFound, $"exit {code}\n{output}\n{error}");
        Assert.Contains($"process {child.Id} exited during the watch", error, StringComparison.Ordinal);
        Assert.DoesNotContain("not found", error, StringComparison.Ordinal);
        Assert.Contains($"pid {child.Id}: ", output, StringComparison.Ordinal);
        Assert.Contains(" samples over ", output, StringComparison.Ordinal);
    }

    // CLI-11
    [Theory]
    [InlineData("census")]
    [InlineData("watch")]
    public void CLI11_a_dead_pid_gives_one_actionable_line_and_exit_5(string command)
    {
        string pid = PythonChild.DeadPid().ToString(CultureInfo.InvariantCulture);
        string[] args = command == "watch" ? [command, "--pid", pid, "--duration", "1s"] : [command, "--pid", pid];
        (int code, string output, string error) = CliHarness.Run(args);

        Assert.Equal(ExitCodes.ProcessNotFound, code);
        string line = Assert.Single(CliHarness.Lines(error));
        Assert.Contains($"Process {pid} not found", line, StringComparison.Ordinal);
        Assert.Contains($"ps -p {pid}", line, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
    }

    // CLI-11
    [Fact]
    public void CLI11_verbose_adds_the_stack_trace()
    {
        string pid = PythonChild.DeadPid().ToString(CultureInfo.InvariantCulture);
        (int code, _, string error) = CliHarness.Run("census", "--pid", pid, "--verbose");
        Assert.Equal(ExitCodes.ProcessNotFound, code);
        Assert.Contains("CensusException", error, StringComparison.Ordinal);
        Assert.Contains(" at ", error, StringComparison.Ordinal);
    }

    // CLI-11
    [Theory]
    [InlineData("watch")]                                    // missing --pid
    [InlineData("watch", "--pid", "1", "--interval", "soon")] // bad duration
    [InlineData("census", "--bogus")]                         // unknown flag
    [InlineData("census", "--pid", "-5")]                     // not a PID
    public void CLI11_usage_errors_give_one_line_and_exit_2(params string[] args)
    {
        (int code, string output, string error) = CliHarness.Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        string line = Assert.Single(CliHarness.Lines(error));
        Assert.StartsWith("tether: ", line, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
    }

    private static string Pid(PythonChild child) => child.Pid.ToString(CultureInfo.InvariantCulture);
}
