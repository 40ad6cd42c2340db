using System.Globalization;
using System.Text.Json;
using Tether.Cli;
using Tether.Cli.Soak;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Cli;

// Every soak here runs in a child process (`dotnet Tether.Cli.dll soak …`): the soak's verdict counts its process's fds
// and sockets per pattern, and the child is the soak's alone (issue 13), so these tests run in parallel with the rest.
public sealed class SoakCommandTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    // A hang guard, not a speed bound: the biggest soak here (9 patterns × 100 iterations) takes a few seconds unloaded.
    private static readonly TimeSpan SoakTimeout = TimeSpan.FromMinutes(3);

    private static readonly string[] TetherPatterns = ["seed", "inside", "shared", "never-closed", "process-pool", "streamed-undisposed", "server-idle-close"];

    // CLI-05, CLI-06, CLI-07: one 100-iteration soak of every pattern; Tether flat (exit 0), naive shown growing;
    // the report files exist and the CSV and JSON numbers are the table's. 100 iterations (was 200; issue 13, CI wall
    // time): a Tether pattern is flat only if its end sample is at or below its baseline, so one fd or socket left by
    // any iteration still fails it, and a naive pattern still grows by about 100 connections.
    [Fact]
    [Trait("Spec", "CLI-05")]
    [Trait("Spec", "CLI-06")]
    [Trait("Spec", "CLI-07")]
    public void CLI05_CLI06_CLI07_soak_all_patterns_flat_naive_grows_report_matches_table()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"tether-soak-{Guid.NewGuid():N}");
        try
        {
            var (code, output, err) = CliProcess.RunChild(["soak", "--iterations", "100", "--sample-every", "25", "--report", dir], SoakTimeout);
            Assert.True(code == ExitCodes.Ok, $"exit {code}\n{output}\n{err}");

            // CLI-05: progress lines (stdout is not a terminal) and one table row per pattern with a verdict.
            Assert.Contains("seed 25/100: fds=", output, StringComparison.Ordinal);
            string[] lines = CliHarness.Lines(output);
            foreach (string name in TetherPatterns)
            {
                Assert.Contains(lines, l => l.StartsWith("│ " + name + " ", StringComparison.Ordinal) && l.Contains("│ flat", StringComparison.Ordinal));
            }

            // CLI-06: the naive patterns grow by about one connection (2 fds: both ends in this process) per iteration.
            foreach (string name in new[] { "naive-httpclient", "naive-streamed" })
            {
                Assert.Contains(lines, l => l.StartsWith("│ " + name + " ", StringComparison.Ordinal) && l.Contains("grows (naive)", StringComparison.Ordinal));
            }

            // CLI-07: files.
            foreach (string f in new[] { "soak.png", "soak.svg", "summary.csv", "samples.csv", "soak.json" })
            {
                Assert.True(new FileInfo(Path.Combine(dir, f)).Length > 100, f);
            }

            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(dir, "soak.png"))[..4]);
            Assert.Contains("<svg", File.ReadAllText(Path.Combine(dir, "soak.svg")), StringComparison.Ordinal);

            // CLI-07: the CSV row of each pattern equals its table row, and the JSON equals the CSV.
            string[] csv = File.ReadAllLines(Path.Combine(dir, "summary.csv"));
            Assert.Equal(10, csv.Length);
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "soak.json")));
            Assert.Equal(0, json.RootElement.GetProperty("exitCode").GetInt32());
            var patterns = json.RootElement.GetProperty("patterns").EnumerateArray().ToList();
            Assert.Equal(9, patterns.Count);
            foreach (string row in csv[1..])
            {
                string[] c = row.Split(',');
                string name = c[0];
                string tableRow = lines.Single(l => l.StartsWith("│ " + name + " ", StringComparison.Ordinal));
                string[] cells = tableRow.Split('│', StringSplitOptions.TrimEntries)[1..^1];
                Assert.Equal($"{c[4]}→{c[5]}", cells[1]);   // fds
                Assert.Equal($"{c[6]}→{c[7]}", cells[2]);   // ESTABLISHED
                Assert.Equal($"{c[8]}→{c[9]}", cells[3]);   // TIME_WAIT
                Assert.Equal($"{c[10]}→{c[11]}", cells[4]); // CLOSE_WAIT
                Assert.Equal(Signed(c[12]), cells[5]);
                Assert.Equal(Signed(c[13]), cells[6]);
                Assert.Equal(c[3], cells[7]);
                Assert.StartsWith(c[14], cells[9], StringComparison.Ordinal);

                JsonElement p = patterns.Single(x => x.GetProperty("name").GetString() == name);
                Assert.Equal(int.Parse(c[4], CultureInfo.InvariantCulture), p.GetProperty("start").GetProperty("fds").GetInt32());
                Assert.Equal(int.Parse(c[5], CultureInfo.InvariantCulture), p.GetProperty("end").GetProperty("fds").GetInt32());
                Assert.Equal(int.Parse(c[7], CultureInfo.InvariantCulture), p.GetProperty("end").GetProperty("established").GetInt32());
                Assert.Equal(double.Parse(c[12], CultureInfo.InvariantCulture), p.GetProperty("fdsPer1000").GetDouble());
                Assert.Equal(c[14], p.GetProperty("verdict").GetString());
                Assert.Equal(5, p.GetProperty("samples").GetArrayLength()); // baseline, 25, 50, 75, end (100)
            }

            // The naive rows really grew: at least 75 more ESTABLISHED client sockets after 100 iterations.
            JsonElement naive = patterns.Single(x => x.GetProperty("name").GetString() == "naive-httpclient");
            Assert.True(naive.GetProperty("end").GetProperty("established").GetInt32() - naive.GetProperty("start").GetProperty("established").GetInt32() >= 75);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        static string Signed(string v) => double.Parse(v, CultureInfo.InvariantCulture).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture);
    }

    // CLI-05/06 with --json: JSON only on stdout, progress on stderr.
    [Fact]
    [Trait("Spec", "CLI-05")]
    public void CLI05_json_prints_only_json_on_stdout()
    {
        var (code, output, err) = CliProcess.RunChild(["soak", "-n", "40", "--sample-every", "20", "--patterns", "seed,naive-streamed", "--json"], SoakTimeout);
        Assert.Equal(ExitCodes.Ok, code);
        using var json = JsonDocument.Parse(output);
        var names = json.RootElement.GetProperty("patterns").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToList();
        Assert.Equal(["seed", "naive-streamed"], names);
        Assert.Contains("seed 20/40: fds=", err, StringComparison.Ordinal);
    }

    // CLI-08
    [Theory]
    [Trait("Spec", "CLI-08")]
    [InlineData("http://example.com/")]
    [InlineData("http://10.0.0.1:8080/hello")]
    [InlineData("http://127.0.0.1.nip.io/")]
    [InlineData("http://[2001:db8::1]/")]
    public void CLI08_soak_url_refuses_non_loopback_with_one_line(string url)
    {
        var (code, output, err, _) = CliHarness.RunTether(["soak", "--url", url, "-n", "1"]);
        Assert.Equal(ExitCodes.Usage, code);
        string line = Assert.Single(CliHarness.Lines(err));
        Assert.Contains("is not loopback", line, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
    }

    // CLI-08
    [Theory]
    [Trait("Spec", "CLI-08")]
    [InlineData("http://127.0.0.1:1/", true)]
    [InlineData("http://127.9.9.9/", true)]
    [InlineData("http://[::1]:80/", true)]
    [InlineData("http://localhost:8080/", true)]
    [InlineData("http://localhost.example.com/", false)]
    [InlineData("http://192.168.1.1/", false)]
    public void CLI08_loopback_rule(string url, bool loopback) => Assert.Equal(loopback, SoakCommand.IsLoopback(new Uri(url)));

    // CLI-08: a loopback --url is soaked.
    [Fact]
    [Trait("Spec", "CLI-08")]
    public void CLI08_soak_url_accepts_loopback()
    {
        var (code, output, err) = CliProcess.RunChild(["soak", "--url", server.Url("/hello").ToString(), "-n", "30", "--sample-every", "10", "--patterns", "inside"], SoakTimeout);
        Assert.True(code == ExitCodes.Ok, $"{output}\n{err}");
        Assert.Contains("│ inside ", output, StringComparison.Ordinal);
    }
}

/// <summary>CLI-06's failing verdict, apart from SoakCommandTests so that the two long soaks run side by side (tests of
/// one class run one after another).</summary>
public sealed class SoakGrowthVerdictTests
{
    // CLI-06: a pattern marked as Tether that keeps one raw connection per iteration fails the run with exit 3. The
    // pattern is not the CLI's: Tether.ExitProbe runs the tether CLI with it as the soak's only pattern (soak-leaky).
    [Fact]
    [Trait("Spec", "CLI-06")]
    public void CLI06_a_growing_tether_pattern_exits_3()
    {
        string probe = CliProcess.ExitProbeDll;
        Assert.True(File.Exists(probe), $"missing {probe}");
        // A hang guard, not a speed bound: about 8 s unloaded (the end sample waits for a growth that never settles).
        var (code, output, err) = CliProcess.RunChild(["soak-leaky", "-n", "20", "--sample-every", "5", "--patterns", "leaky"], TimeSpan.FromMinutes(3), probe);
        Assert.True(code == ExitCodes.GrowthDetected, $"exit {code}\n{output}\n{err}");
        Assert.Contains("GROWS", output, StringComparison.Ordinal);
        string row = CliHarness.Lines(output).Single(l => l.StartsWith("│ leaky ", StringComparison.Ordinal));
        double perThousand = double.Parse(row.Split('│', StringSplitOptions.TrimEntries)[6], CultureInfo.InvariantCulture);
        Assert.InRange(perThousand, 1500, 2500); // about 2 fds (both ends in the child: the soak's own server) per iteration
    }
}
