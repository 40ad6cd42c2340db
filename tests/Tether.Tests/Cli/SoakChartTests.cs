using System.Diagnostics;
using System.Text.RegularExpressions;
using Tether.Cli;
using Tether.Cli.Soak;
using Xunit;

namespace Tether.Tests.Cli;

/// <summary>CLI-20: the soak report directory is checked before the run; the chart a person reads.</summary>
// The soak that runs (warnings test) runs in a child process: its verdict counts its process's fds, and in this test
// host the runtime and the tests beside it move that count (seen: "inside" GROWS by 2 fds, sockets flat, with the test
// alone in its collection). The other tests parse, chart or fail before any pattern runs, in process.
public sealed class SoakChartTests
{
    // Issue 14 item 8 (regression): an unusable --report DIR was found only after the whole run, then exit 4.
    [Fact]
    [Trait("Spec", "CLI-20")]
    public void CLI20_an_unusable_report_dir_is_exit_2_before_the_run()
    {
        string file = Path.Combine(Path.GetTempPath(), $"tether-not-a-dir-{Guid.NewGuid():N}");
        File.WriteAllText(file, "x");
        try
        {
            foreach (string dir in new[] { file, Path.Combine(file, "sub") })
            {
                var clock = Stopwatch.StartNew();
                var (code, output, err, _) = CliHarness.RunTether(["soak", "-n", "1000000", "--report", dir]);
                Assert.Equal(ExitCodes.Usage, code);
                string line = Assert.Single(CliHarness.Lines(err));
                Assert.Contains($"--report '{dir}'", line, StringComparison.Ordinal);
                Assert.Equal(string.Empty, output); // no pattern ran
                // The check comes before any pattern runs (milliseconds); a million iterations would take minutes, so
                // 10 s separates the two with a margin for a loaded 2-core machine.
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}: the soak ran before the check");
            }
        }
        finally
        {
            File.Delete(file);
        }
    }

    // CLI-20: title with iterations, exit code and every verdict; one panel per pattern; the naive panels marked.
    [Fact]
    [Trait("Spec", "CLI-20")]
    public void CLI20_chart_has_a_title_with_iterations_and_verdicts_and_a_panel_per_pattern()
    {
        List<SoakResult> results = Results();
        (string run, string tether, string naive) = SoakReport.Title(results, 1000, 0);
        Assert.Contains("1000 iterations per pattern, exit 0 (every Tether pattern flat)", run, StringComparison.Ordinal);
        Assert.Equal("Tether patterns (2, one shared scale): all flat", tether);
        Assert.Equal("naive .NET patterns (own scale): naive-a grows (+2000 fds), naive-b grows (+1000 fds)", naive);

        string dir = Path.Combine(Path.GetTempPath(), $"tether-chart-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            SoakReport.Charts(results, Path.Combine(dir, "soak.png"), Path.Combine(dir, "soak.svg"), 1000, 0);
            string svg = File.ReadAllText(Path.Combine(dir, "soak.svg"));
            string text = string.Concat(Regex.Matches(svg, ">([^<]*)</text>").Select(m => m.Groups[1].Value));
            foreach (string expected in new[] { "seed: flat", "inside: flat", "naive-a: grows (naive .NET)", "naive-b: grows (naive .NET)", "iterations per pattern" })
            {
                Assert.Contains(expected, System.Net.WebUtility.HtmlDecode(text), StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // CLI-20: Tether patterns share one scale that is not the naive patterns' 2,000; socket axes start at 0; each naive
    // pattern has its own scale (the two naive lines no longer share one axis).
    [Fact]
    [Trait("Spec", "CLI-20")]
    public void CLI20_tether_panels_share_a_small_scale_and_no_socket_axis_goes_negative()
    {
        List<SoakResult> results = Results();
        IReadOnlyList<(double Bottom, double Top)> scales = SoakReport.Scales(results);
        Assert.Equal(scales[0], scales[1]);                       // Tether: one shared scale
        Assert.Equal(0, scales[0].Bottom);                        // no negative axis for counts that are never negative
        Assert.InRange(scales[0].Top, 10, 20);                    // not 0..2000
        Assert.InRange(scales[2].Top, 2000, 2500);                // naive-a: its own
        Assert.InRange(scales[3].Top, 1000, 1250);                // naive-b: its own
        Assert.All(scales, s => Assert.True(s.Bottom >= 0, "no negative axis"));
    }

    // Issue 14 item 9 (regression): soak warnings named one call site two ways (`SoakPatterns..cctor` and
    // `-cctor (SoakPatterns.cs:40)`); each pattern is now a named method, and a warning names it.
    [Fact]
    [Trait("Spec", "CLI-20")]
    public void CLI20_soak_warnings_name_each_call_site_by_its_pattern_method()
    {
        // A hang guard, not a speed bound: 2 × 100 iterations take a few seconds unloaded. 100 (was 200; issue 13, CI
        // time) still crosses ClientChurn's threshold of 20 new clients within one second unless an iteration took
        // 50 ms, twenty times its unloaded cost.
        var (code, output, err) = CliProcess.RunChild(["soak", "-n", "100", "--sample-every", "50", "--patterns", "seed,inside", "--no-progress"], TimeSpan.FromMinutes(3));
        Assert.True(code == ExitCodes.Ok, $"exit {code}\n{output}\n{err}");
        string text = output.ReplaceLineEndings(" ");
        Assert.Contains("ClientChurn", text, StringComparison.Ordinal); // 100 clients in well under a second: above the threshold of 20/s
        Assert.DoesNotContain("cctor", text, StringComparison.Ordinal);
        var sites = Regex.Matches(text, @"created at\s+(Tether\.Cli\.Soak\.SoakPatterns\.[A-Za-z]+)").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(sites);
        Assert.All(sites, site => Assert.Contains(site, new[] { "Tether.Cli.Soak.SoakPatterns.Seed", "Tether.Cli.Soak.SoakPatterns.Inside" }));
    }

    private static List<SoakResult> Results()
    {
        static SoakSample S(int i, int fds, int est) => new(i, fds, fds, est, 0, 0, 0, 0, 0, 0, 0, 0);
        static SoakResult R(string name, bool tether, int growth) => new()
        {
            Pattern = new SoakPattern(name, tether, name, _ => throw new NotSupportedException()),
            Iterations = 1000,
            Errors = 0,
            Seconds = 1,
            Samples = [.. Enumerable.Range(0, 11).Select(k => S(k * 100, 200 + (growth * k / 10), growth * k / 20))],
        };
        return [R("seed", true, 0), R("inside", true, 0), R("naive-a", false, 2000), R("naive-b", false, 1000)];
    }
}
