using System.Diagnostics;
using System.Globalization;
using Tether.Cli;
using Tether.Cli.Commands;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Cli;

/// <summary>CLI-13 (durations read one way everywhere) and CLI-19 (usage errors name the token, list every error).</summary>
public sealed class DurationAndUsageTests
{
    // CLI-13: the one parser.
    [Theory]
    [Trait("Spec", "CLI-13")]
    [InlineData("3", 3000)]
    [InlineData("2.5", 2500)]
    [InlineData("500ms", 500)]
    [InlineData("2s", 2000)]
    [InlineData("1m", 60_000)]
    [InlineData("1h", 3_600_000)]
    public void CLI13_a_bare_number_is_seconds_and_ms_s_m_h_suffixes_work(string text, double ms)
    {
        Assert.True(CliSupport.TryParseDuration(text, out TimeSpan value));
        Assert.Equal(TimeSpan.FromMilliseconds(ms), value);
    }

    // CLI-13: everything else is rejected, including the TimeSpan form that made `3` mean three days.
    [Theory]
    [Trait("Spec", "CLI-13")]
    [InlineData("3d")]
    [InlineData("00:00:05")]
    [InlineData("soon")]
    [InlineData("")]
    [InlineData("1e999")]
    public void CLI13_other_forms_are_not_durations(string text) => Assert.False(CliSupport.TryParseDuration(text, out _));

    // CLI-13: a bad duration is exit 2 naming the option, in every command that takes one.
    [Theory]
    [Trait("Spec", "CLI-13")]
    [InlineData("--duration", "watch", "--pid", "1", "--duration", "3d")]
    [InlineData("--interval", "watch", "--pid", "1", "--interval", "00:00:01")]
    [InlineData("--max-time", "fetch", "--max-time", "1x", "http://127.0.0.1:9/")]
    [InlineData("--timeout", "fetch", "--timeout", "0", "http://127.0.0.1:9/")]
    [InlineData("--connect-timeout", "fetch", "--connect-timeout", "-1", "http://127.0.0.1:9/")]
    public void CLI13_a_bad_duration_is_a_usage_error_naming_the_option(string option, params string[] args)
    {
        var (code, output, err, _) = CliHarness.RunTether(args);
        Assert.Equal(ExitCodes.Usage, code);
        string line = Assert.Single(CliHarness.Lines(err));
        Assert.StartsWith($"tether: {option} '", line, StringComparison.Ordinal);
        Assert.Contains("500ms, 2s, 1m", line, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
    }

    // Issue 14 item 1 (regression): `watch --duration 3 --interval 1` ran for three days; it ends after 3 s.
    [Fact]
    [Trait("Spec", "CLI-13")]
    public void CLI13_watch_duration_3_ends_after_three_seconds()
    {
        using var child = new PythonChild(PythonChild.Flat, limit: 0, maxSeconds: 30);
        Assert.Equal("ready 0", child.ReadLine());
        var clock = Stopwatch.StartNew();
        (int code, string output, string error) = CliHarness.Run("watch", "--pid", child.Pid.ToString(CultureInfo.InvariantCulture), "--duration", "3", "--interval", "1");
        TimeSpan elapsed = clock.Elapsed;

        Assert.True(code == ExitCodes.Ok, error);
        Assert.Equal(4, CliHarness.Lines(output).Count(l => l.StartsWith("t=", StringComparison.Ordinal))); // t = 0, 1, 2, 3 s
        Assert.True(elapsed >= TimeSpan.FromSeconds(3), $"ended after {elapsed}");
        Assert.True(elapsed < TimeSpan.FromSeconds(6), $"ended after {elapsed}"); // 3 s + a 3 s margin for a loaded 2-core machine
        Assert.Contains("4 samples over 3.", output, StringComparison.Ordinal);
    }

    // Issue 14 item 9 (regression): one sample with --fail-on-growth reported "ok"; now it is refused up front.
    [Fact]
    [Trait("Spec", "CLI-13")]
    public void CLI13_fail_on_growth_with_a_single_sample_is_a_usage_error()
    {
        (int code, string output, string error) = CliHarness.Run("watch", "--pid", "1", "--duration", "1", "--interval", "2", "--fail-on-growth", "5");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("takes one sample", error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
    }

    // Issue 14 item 7 (regression): `fetch --bogus URL` blamed the URL; now the unknown option is named, with the closest.
    [Fact]
    [Trait("Spec", "CLI-19")]
    public void CLI19_an_unknown_option_is_named_not_the_url_after_it()
    {
        var (code, _, err, _) = CliHarness.RunTether(["fetch", "--bogus", "http://127.0.0.1:9/"]);
        Assert.Equal(ExitCodes.Usage, code);
        string line = Assert.Single(CliHarness.Lines(err));
        Assert.Contains("unknown option '--bogus' for 'tether fetch'", line, StringComparison.Ordinal);
        Assert.DoesNotContain("http://127.0.0.1:9/", line, StringComparison.Ordinal);

        (code, _, err, _) = CliHarness.RunTether(["fetch", "--locaton", "http://127.0.0.1:9/"]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("did you mean '--location'?", err, StringComparison.Ordinal);

        // Coordinator's curl tour (2026-12-01): an unknown option with a value (`-Q value URL`) also blamed the URL,
        // on a second line ("Unrecognized command or argument"): the value had become the URL.
        (code, _, err, _) = CliHarness.RunTether(["fetch", "-Q", "some value", "http://127.0.0.1:9/"]);
        Assert.Equal(ExitCodes.Usage, code);
        line = Assert.Single(CliHarness.Lines(err));
        Assert.Contains("unknown option '-Q' for 'tether fetch'", line, StringComparison.Ordinal);
        Assert.DoesNotContain("http://127.0.0.1:9/", line, StringComparison.Ordinal);
    }

    // CLI-19: every parser error is printed, each on its own line, each naming its token.
    [Fact]
    [Trait("Spec", "CLI-19")]
    public void CLI19_every_parser_error_is_printed()
    {
        var (code, _, err, _) = CliHarness.RunTether(["watch", "--pid", "abc", "--interval", "soon", "--bogus"]);
        Assert.Equal(ExitCodes.Usage, code);
        string[] lines = CliHarness.Lines(err);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.StartsWith("tether: ", l, StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("'--bogus'", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("--pid 'abc' is not a process id", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("--interval 'soon'", StringComparison.Ordinal));
        Assert.EndsWith("Run 'tether watch --help' for usage.", lines[^1], StringComparison.Ordinal);
    }

    // Issue 14 item 7 (regression): `--pid abc` printed "System.Nullable`1[System.Int32]"; other typed options too.
    [Theory]
    [Trait("Spec", "CLI-19")]
    [InlineData("--pid 'abc' is not a process id", "census", "--pid", "abc")]
    [InlineData("--iterations 'many' is not a whole number", "soak", "--iterations", "many")]
    [InlineData("--fail-on-growth 'lots' is not a number", "watch", "--pid", "1", "--fail-on-growth", "lots")]
    [InlineData("--max-redirs 'x' is not a whole number", "fetch", "--max-redirs", "x", "http://127.0.0.1:9/")]
    public void CLI19_a_bad_typed_value_names_the_option_and_value_not_a_dotnet_type(string expected, params string[] args)
    {
        var (code, _, err, _) = CliHarness.RunTether(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(expected, err, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", err, StringComparison.Ordinal);
    }

    // Issue 14 item 7 (regression): `tether nosuch` said "Run 'tether Tether.Cli --help'"; now it suggests the closest.
    [Theory]
    [Trait("Spec", "CLI-19")]
    [InlineData("wacth", "watch")]
    [InlineData("fecth", "fetch")]
    [InlineData("censuss", "census")]
    [InlineData("nosuch", null)] // far from every command: still the closest one, and the list
    public void CLI19_an_unknown_command_suggests_the_closest(string typed, string? suggested)
    {
        var (code, _, err, _) = CliHarness.RunTether([typed]);
        Assert.Equal(ExitCodes.Usage, code);
        string line = Assert.Single(CliHarness.Lines(err));
        Assert.Contains($"unknown command '{typed}'; did you mean '{suggested}", line, StringComparison.Ordinal);
        Assert.Contains("Commands: fetch, soak, census, watch.", line, StringComparison.Ordinal);
        Assert.EndsWith("Run 'tether --help' for usage.", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Tether.Cli", line, StringComparison.Ordinal);
    }

    // Issue 14 item 9 (regression): the root --help repeated the exit-code line five times; and watch help said "chart".
    [Fact]
    [Trait("Spec", "CLI-19")]
    public void CLI19_root_help_prints_the_exit_codes_once_and_watch_help_says_table()
    {
        var (code, output, _, _) = CliHarness.RunTether(["--help"]);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(1, output.Split("Exit codes:").Length - 1);
        Assert.Equal(1, output.Split("Examples:").Length - 1);

        (_, output, _, _) = CliHarness.RunTether(["watch", "--help"]);
        Assert.DoesNotContain("chart", output, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("table", output, StringComparison.Ordinal);
        Assert.Contains("130 interrupted", output, StringComparison.Ordinal);
    }
}
