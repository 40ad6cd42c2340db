using System.Text.Json;
using Tether.Cli;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Cli;

/// <summary>
/// Issue 16 "done when": <c>tether soak</c> reports, per pattern and per idle-close mode, the client's TIME_WAIT towards
/// the soak's own server and the resets that server saw (CORE-09), and runs every Tether pattern over HTTP/2 (TLS with
/// ALPN on its own server) flat (CLI-05, CLI-06). Each soak starts its own servers (one per row).
/// </summary>
// Each soak runs in a child process (`dotnet Tether.Cli.dll soak …`): its verdict judges its process's fds and sockets,
// and the child is the soak's alone (issue 13), so this class runs in parallel with the rest.
public sealed class SoakCloseModeAndHttp2Tests
{
    // 20 iterations (was 40; issue 13, CI time): every count below is per iteration and exact (a reset for each abortive
    // or aborted close, none for a graceful one), so a single iteration closed the wrong way still fails its row.
    private const int Iterations = 20;

    // A hang guard, not a speed bound: each soak here takes a few seconds unloaded.
    private static readonly TimeSpan SoakTimeout = TimeSpan.FromMinutes(3);

    // CORE-09: graceful idle close = TIME_WAIT on the client and no reset on the server; abortive = resets on the
    // server and no client TIME_WAIT; a client closed with a response in flight (streamed-undisposed) is aborted in
    // both modes: the abort path is distinct from the idle-close path.
    [Fact]
    [Trait("Spec", "CORE-09")]
    [Trait("Spec", "CLI-05")]
    public void CORE_09_CLI_05_soak_reports_client_time_wait_and_server_resets_per_idle_close_mode()
    {
        var (code, output, err) = CliProcess.RunChild(
            ["soak", "-n", $"{Iterations}", "--sample-every", "10", "--patterns", "seed,inside,streamed-undisposed", "--idle-close", "both", "--json", "--no-progress"], SoakTimeout);
        Assert.True(code == ExitCodes.Ok, $"exit {code}\n{output}\n{err}");
        using var json = JsonDocument.Parse(output);
        var rows = json.RootElement.GetProperty("patterns").EnumerateArray().ToList();
        Assert.Equal(6, rows.Count); // 3 patterns × 2 modes
        foreach (JsonElement row in rows)
        {
            string name = row.GetProperty("name").GetString()!;
            string mode = row.GetProperty("closeMode").GetString()!;
            long resets = row.GetProperty("serverResets").GetInt64();
            int timeWait = row.GetProperty("timeWaitAdded").GetInt32();
            string what = $"{name} {mode}: server resets {resets}, client TIME_WAIT added {timeWait}; row: {row.GetProperty("start")} -> {row.GetProperty("end")}, verdict {row.GetProperty("verdict")}, errors {row.GetProperty("errors")}";
            Assert.Equal("HTTP/1.1", row.GetProperty("protocol").GetString());
            Assert.True(row.GetProperty("verdict").GetString() == "flat", what);
            Assert.Equal(Iterations, row.GetProperty("iterations").GetInt32());
            Assert.True(row.GetProperty("errors").GetInt32() == 0, what);
            if (name == "streamed-undisposed")
            {
                // The abort path: one connection per iteration, reset whatever the idle-close mode. Seen once in a
                // parallel CI run: 39 of 40, the last iteration's reset reaching the soak's server after the end sample
                // (the soak waits at most 3 s for it); so at most one may be missing.
                Assert.True(resets is >= Iterations - 1 and <= Iterations, what);
                Assert.True(timeWait <= 0, what); // none added (below zero: older entries were taken over, see below)
            }
            else if (mode == "graceful")
            {
                // A FIN per iteration: the server sees no reset; the client keeps TIME_WAIT, at most one per iteration.
                // Linux (net.ipv4.tcp_tw_reuse = 2, loopback) lets a new connection take over a TIME_WAIT entry older
                // than 1 s, so under port pressure one row's count can fall to zero: "at least one" is checked over
                // both graceful rows below.
                Assert.True(resets == 0, what);
                Assert.True(timeWait <= Iterations, what);
            }
            else
            {
                Assert.Equal("abortive", mode);
                Assert.True(resets == Iterations, what);
                Assert.True(timeWait <= 0, what);
            }
        }

        var gracefulTimeWait = rows.Where(r => r.GetProperty("closeMode").GetString() == "graceful" && r.GetProperty("name").GetString() != "streamed-undisposed")
            .Sum(r => r.GetProperty("timeWaitAdded").GetInt32());
        Assert.True(gracefulTimeWait >= 1, $"no client TIME_WAIT after the graceful closes of seed and inside ({gracefulTimeWait})");

        Assert.Equal(new[] { "graceful", "abortive", "graceful", "abortive", "graceful", "abortive" }, rows.Select(r => r.GetProperty("closeMode").GetString()).ToArray());
    }

    // CORE-09 / CLI-05: the table shows the same numbers in its protocol, idle close and server RST columns.
    [Fact]
    [Trait("Spec", "CORE-09")]
    [Trait("Spec", "CLI-05")]
    public void CORE_09_CLI_05_soak_table_has_protocol_idle_close_and_server_reset_columns()
    {
        var (code, output, err) = CliProcess.RunChild(["soak", "-n", "10", "--sample-every", "5", "--patterns", "seed,shared", "--idle-close", "abortive"], SoakTimeout);
        Assert.True(code == ExitCodes.Ok, $"exit {code}\n{output}\n{err}");
        string[] lines = CliHarness.Lines(output);
        string header = lines.Single(l => l.StartsWith("│ pattern ", StringComparison.Ordinal));
        Assert.Equal(new[] { "protocol", "idle close", "server RST" }, header.Split('│', StringSplitOptions.TrimEntries)[^4..^1]);
        string[] seed = lines.Single(l => l.StartsWith("│ seed ", StringComparison.Ordinal)).Split('│', StringSplitOptions.TrimEntries)[^4..^1];
        Assert.Equal(new[] { "HTTP/1.1", "abortive", "10" }, seed);
        // AsyncHttpClient.Shared's pool is not the soak's to configure: its row says so, and its idle closes are FINs.
        string[] shared = lines.Single(l => l.StartsWith("│ shared ", StringComparison.Ordinal)).Split('│', StringSplitOptions.TrimEntries)[^4..^1];
        Assert.Equal(new[] { "HTTP/1.1", "graceful (fixed)", "0" }, shared);
        Assert.Contains("seed [abortive] 5/10: fds=", output, StringComparison.Ordinal);
    }

    // --protocol http2 needs the embedded server: with --url it is a usage error (exit 2) that says why.
    [Fact]
    [Trait("Spec", "CLI-08")]
    public void CLI_08_soak_http2_with_url_is_a_usage_error()
    {
        var (code, output, err, _) = CliHarness.RunTether(["soak", "--url", "http://127.0.0.1:1/", "--protocol", "http2", "-n", "1"]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--protocol http2", Assert.Single(CliHarness.Lines(err)), StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
    }
}

/// <summary>Issue 16 "done when": every Tether pattern flat over HTTP/2 (the longest soak here: its own class, so it runs
/// beside SoakCloseModeAndHttp2Tests rather than after it). The soak runs in a child process.</summary>
public sealed class SoakHttp2Tests
{
    // A hang guard, not a speed bound: about 11 s unloaded.
    private static readonly TimeSpan SoakTimeout = TimeSpan.FromMinutes(3);

    // Issue 16 done-when, CLI-05/CLI-06 over HTTP/2: every Tether pattern that can speak HTTP/2 runs over TLS with
    // ALPN h2 against the soak's own server and stays flat (exit 0); the naive per-iteration HttpClient still grows.
    [Fact]
    [Trait("Spec", "CLI-05")]
    [Trait("Spec", "CLI-06")]
    public void CLI_05_CLI_06_soak_over_http2_every_tether_pattern_is_flat()
    {
        var (code, output, err) = CliProcess.RunChild(["soak", "-n", "30", "--sample-every", "10", "--protocol", "http2", "--json", "--no-progress"], SoakTimeout);
        Assert.True(code == ExitCodes.Ok, $"exit {code}\n{output}\n{err}");
        using var json = JsonDocument.Parse(output);
        var rows = json.RootElement.GetProperty("patterns").EnumerateArray().ToList();
        Assert.All(rows, r => Assert.Equal("HTTP/2", r.GetProperty("protocol").GetString()));
        var tether = rows.Where(r => r.GetProperty("kind").GetString() == "tether").ToList();
        Assert.Equal(
            new[] { "seed", "inside", "shared", "never-closed", "process-pool", "streamed-undisposed" },
            tether.Select(r => r.GetProperty("name").GetString()).ToArray());
        foreach (JsonElement r in tether)
        {
            Assert.True(r.GetProperty("verdict").GetString() == "flat" && r.GetProperty("errors").GetInt32() == 0, r.ToString());
            Assert.Equal(30, r.GetProperty("iterations").GetInt32());
        }

        // CORE-09 over HTTP/2: the graceful idle close is a FIN here too (regression: it was an RST, because .NET makes
        // a close that cancels the HTTP/2 reader's pending receive abortive); only the abort path resets.
        var graceful = tether.Where(r => r.GetProperty("name").GetString() is "seed" or "inside" or "never-closed").ToList();
        foreach (JsonElement r in graceful)
        {
            Assert.True(r.GetProperty("serverResets").GetInt64() == 0, r.GetProperty("name").GetString() + ": " + r.GetProperty("serverResets"));
        }

        // The exact check is the one above (no reset reached the server). The client's TIME_WAIT entries confirm that the
        // client closed first, but only in total: with net.ipv4.tcp_tw_reuse = 2 (the default, loopback only) a new
        // connection to the same server port may take over a TIME_WAIT entry older than 1 s, so under port pressure (a
        // stress run with the whole suite's TIME_WAITs) one pattern's count can even come out at zero while its closes
        // were graceful (seen once in a stress run: never-closed at zero or below, seed and inside passing).
        Assert.True(graceful.Sum(r => r.GetProperty("timeWaitAdded").GetInt32()) >= 1,
            "no client TIME_WAIT after the graceful closes of seed, inside and never-closed: " +
            string.Join(", ", graceful.Select(r => $"{r.GetProperty("name").GetString()} {r.GetProperty("timeWaitAdded").GetInt32()}")));

        // The abort path resets one connection per iteration. As over HTTP/1.1 (CORE-09 above), the last reset can reach
        // the soak's server after its end sample (seen in a parallel CI run at load 12: 29 of 30), so at most one may be
        // missing; a close path that stopped resetting would miss far more.
        long h2Resets = tether.Single(r => r.GetProperty("name").GetString() == "streamed-undisposed").GetProperty("serverResets").GetInt64();
        Assert.True(h2Resets is >= 29 and <= 30, $"streamed-undisposed over HTTP/2: {h2Resets} server resets, expected 30 (29 if the last one arrived after the end sample)");

        // The contrast still shows: a new HttpClient per iteration over HTTP/2 keeps one connection each.
        JsonElement naive = rows.Single(r => r.GetProperty("name").GetString() == "naive-httpclient");
        Assert.True(naive.GetProperty("end").GetProperty("established").GetInt32() - naive.GetProperty("start").GetProperty("established").GetInt32() >= 25, naive.ToString());
        // Patterns that cannot speak HTTP/2 (a raw HTTP/1.1 server; undisposed streams that would exhaust one
        // connection's streams) are not run over it.
        Assert.DoesNotContain(rows, r => r.GetProperty("name").GetString() is "server-idle-close" or "naive-streamed");
    }
}
