using System.CommandLine;
using System.Globalization;
using System.Net;
using Spectre.Console;
using Tether.Cli.Commands;

namespace Tether.Cli.Soak;

/// <summary>
/// <c>tether soak</c>: runs every usage pattern many times against a loopback server, samples the socket census, and
/// shows per pattern whether fds and sockets stay flat. Exit 0 when every Tether pattern is flat, 3 when one grows.
/// </summary>
public static class SoakCommand
{
    /// <summary>Creates the <c>soak</c> command.</summary>
    /// <param name="catalogue">The patterns it knows (default <see cref="SoakPatterns.All"/>; tests add a leaking one).</param>
    /// <returns>The command.</returns>
    public static Command Create(IReadOnlyList<SoakPattern>? catalogue = null)
    {
        IReadOnlyList<SoakPattern> all = catalogue ?? SoakPatterns.All;
        var iterations = new Option<int>("--iterations", "-n") { Description = "Iterations per pattern (after one warm-up iteration).", DefaultValueFactory = _ => 1000, HelpName = "N" };
        var sampleEvery = new Option<int>("--sample-every") { Description = "Take a socket census every K iterations.", DefaultValueFactory = _ => 50, HelpName = "K" };
        var patterns = new Option<string[]>("--patterns", "-p")
        {
            Description = "Patterns to run, comma-separated or repeated (default: all): "
                + string.Join(", ", all.Select(p => p.Name)) + ".",
            HelpName = "NAMES",
        };
        var url = new Option<string?>("--url") { Description = "Soak this loopback URL instead of the embedded server (server-idle-close always uses its own raw server).", HelpName = "URL" };
        var report = new Option<DirectoryInfo?>("--report") { Description = "Write soak.png, soak.svg, summary.csv, samples.csv and soak.json into DIR.", HelpName = "DIR" };
        var idleClose = new Option<string>("--idle-close")
        {
            Description = "How the patterns' pools close idle connections (CORE-09): graceful (FIN, the library default), abortive (RST), or both (each such pattern runs once per mode).",
            DefaultValueFactory = _ => "graceful",
            HelpName = "MODE",
        };
        idleClose.AcceptOnlyFromAmong("graceful", "abortive", "both");
        var protocol = new Option<string>("--protocol")
        {
            Description = "Protocol of the embedded server's runs: http1 (plain HTTP/1.1), http2 (TLS with ALPN h2, the soak's own CA), or both.",
            DefaultValueFactory = _ => "http1",
            HelpName = "PROTO",
        };
        protocol.AcceptOnlyFromAmong("http1", "http2", "both");
        var json = new Option<bool>("--json") { Description = "Print the JSON report on stdout instead of the table (progress goes to stderr)." };
        var noProgress = new Option<bool>("--no-progress") { Description = "Do not show progress." };
        Option<bool> verbose = CliSupport.VerboseOption();
        var command = new Command(
            "soak",
            "Run each usage pattern N times against a loopback server and show which ones leak sockets (Tether patterns must stay flat).")
        {
            iterations, sampleEvery, patterns, url, idleClose, protocol, report, json, noProgress, verbose,
        };
        command.WithEpilog(
            "Samples fds and TCP sockets by state every K iterations, prints start/end counts, growth per 1,000 iterations "
            + "(least-squares slope) and a verdict. Tether patterns must stay flat (end fds <= baseline, no extra "
            + "ESTABLISHED or CLOSE_WAIT towards the server); the naive HttpClient patterns are shown for contrast and "
            + "never fail the run. TIME_WAIT is reported, not judged: it belongs to the kernel and holds no fd.\n"
            + "CORE-09: the last columns give the protocol, the idle-close mode of the pattern's pools and the resets (RST) the "
            + "embedded server saw; with --idle-close both, compare TIME_WAIT (client) with server RST per mode.\n"
            + "--report DIR is checked (created, written to) before the run: an unusable DIR is exit 2 at once.\n"
            + "Ctrl-C stops after the current iteration: the patterns measured so far are printed (and reported) and the "
            + "exit code is 130.\n\n"
            + "Examples:\n"
            + "  tether soak                                   # all patterns, 1000 iterations each\n"
            + "  tether soak -n 200 --patterns seed,shared      # a quick check\n"
            + "  tether soak --report ./soak-report             # + PNG/SVG charts, CSV and JSON\n"
            + "  tether soak -n 300 --idle-close both           # TIME_WAIT vs server resets, FIN and RST\n"
            + "  tether soak -n 300 --protocol both             # every pattern over HTTP/1.1 and HTTP/2\n"
            + "  tether soak --json --no-progress | jq '.patterns[] | {name, verdict}'\n"
            + "  tether soak --url http://127.0.0.1:8080/hello  # your own loopback server");

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;
            var settings = new Settings(
                parseResult.GetValue(iterations),
                parseResult.GetValue(sampleEvery),
                parseResult.GetValue(json),
                parseResult.GetValue(noProgress),
                parseResult.GetValue(report),
                parseResult.GetValue(idleClose) switch
                {
                    "abortive" => [IdleCloseMode.Abortive],
                    "both" => [IdleCloseMode.Graceful, IdleCloseMode.Abortive],
                    _ => [IdleCloseMode.Graceful],
                },
                parseResult.GetValue(protocol) switch
                {
                    "http2" => [true],
                    "both" => [false, true],
                    _ => [false],
                });
            string? usage = Validate(all, settings, parseResult.GetValue(patterns) ?? [], parseResult.GetValue(url), out List<SoakPattern> chosen, out Uri? target);
            usage ??= settings.Report is null ? null : SoakReport.CheckDirectory(settings.Report.FullName);
            if (usage is not null)
            {
                error.WriteLine($"tether: {usage} Run 'tether soak --help' for usage.");
                return ExitCodes.Usage;
            }

            try
            {
                return await RunAsync(settings, chosen, target, output, error, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Tether.Diagnostics.CensusException)
            {
                error.WriteLine(ex is Tether.Diagnostics.CensusException ? $"tether: soak failed: {ex.Message}" : $"tether: soak failed (writing the report?): {ex.Message}");
                if (parseResult.GetValue(verbose))
                {
                    error.WriteLine(ex.ToString());
                }

                return ex is Tether.Diagnostics.CensusException ? ExitCodes.ProcUnreadable : ExitCodes.TransportError;
            }
        });
        return command;
    }

    /// <summary>Whether <paramref name="url"/> names a loopback host (127.0.0.0/8, ::1 or localhost), without DNS.</summary>
    /// <param name="url">The URL.</param>
    /// <returns>True for loopback.</returns>
    public static bool IsLoopback(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.IsLoopback && url.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6)
        {
            return true;
        }

        return url.HostNameType == UriHostNameType.Dns && string.Equals(url.Host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(url.Host.Trim('[', ']'), out IPAddress? ip) && IPAddress.IsLoopback(ip));
    }

    private sealed record Settings(int Iterations, int SampleEvery, bool Json, bool NoProgress, DirectoryInfo? Report, IdleCloseMode[] Modes, bool[] Http2);

    /// <summary>One row of the soak: a pattern over one protocol with one close mode.</summary>
    private sealed record Row(SoakPattern Pattern, bool Http2, IdleCloseMode Mode)
    {
        public string Label => Pattern.Name
            + (Http2 || (Pattern.TakesCloseMode && Mode == IdleCloseMode.Abortive)
                ? $" [{string.Join(' ', new[] { Http2 ? "HTTP/2" : null, Pattern.TakesCloseMode && Mode == IdleCloseMode.Abortive ? "abortive" : null }.Where(x => x is not null))}]"
                : string.Empty);
    }

    // Tether rows first (pattern order, then protocol, then mode), so the naive patterns' leftovers cannot touch them.
    private static List<Row> Rows(List<SoakPattern> chosen, Settings s, out List<string> skipped)
    {
        var rows = new List<Row>();
        skipped = [];
        foreach (SoakPattern p in chosen)
        {
            foreach (bool h2 in s.Http2)
            {
                if (h2 && !p.SupportsHttp2)
                {
                    skipped.Add(p.Name);
                    continue;
                }

                foreach (IdleCloseMode mode in p.TakesCloseMode ? s.Modes : s.Modes.Take(1))
                {
                    rows.Add(new Row(p, h2, mode));
                }
            }
        }

        return rows;
    }

    private static string? Validate(IReadOnlyList<SoakPattern> all, Settings s, string[] names, string? url, out List<SoakPattern> chosen, out Uri? target)
    {
        chosen = [];
        target = null;
        if (s.Iterations < 1)
        {
            return $"--iterations {s.Iterations} must be 1 or more.";
        }

        if (s.SampleEvery < 1)
        {
            return $"--sample-every {s.SampleEvery} must be 1 or more.";
        }

        if (url is not null && s.Http2.Contains(true))
        {
            return "--protocol http2 or both needs the embedded server (it serves HTTP/2 over TLS with its own CA); drop --url or use --protocol http1.";
        }

        if (url is not null)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out target) || target.Scheme != Uri.UriSchemeHttp)
            {
                return $"--url '{Redaction.Url(url)}' is not an absolute http:// URL; write e.g. http://127.0.0.1:8080/hello.";
            }

            if (!IsLoopback(target))
            {
                return $"--url '{Redaction.Uri(target)}' is not loopback; soak only servers on 127.0.0.1, [::1] or localhost.";
            }
        }

        string[] wanted = names.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();
        if (wanted.Length == 0)
        {
            chosen.AddRange(all);
            return null;
        }

        foreach (string name in wanted)
        {
            SoakPattern? p = all.FirstOrDefault(x => string.Equals(x.Name, name, StringComparison.OrdinalIgnoreCase));
            if (p is null)
            {
                return $"unknown pattern '{name}'; choose from {string.Join(", ", all.Select(x => x.Name))}.";
            }

            if (!chosen.Contains(p))
            {
                chosen.Add(p);
            }
        }

        // Tether patterns first, so the naive patterns' leftovers cannot touch them.
        chosen = [.. chosen.OrderBy(p => p.IsTether ? 0 : 1).ThenBy(p => all.ToList().IndexOf(p))];
        return null;
    }

    private static async Task<int> RunAsync(Settings s, List<SoakPattern> chosen, Uri? target, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        SoakRunner.PreloadRuntimeAssemblies();
        var runner = new SoakRunner(s.Iterations, s.SampleEvery);
        var results = new List<SoakResult>();
        List<Row> rows = Rows(chosen, s, out List<string> skipped);
        bool live = !s.NoProgress && !s.Json && CliSupport.IsTerminal(output);
        TextWriter? plain = s.NoProgress || live ? null : s.Json ? error : output;
        string targetText = target is null ? "embedded loopback Kestrel server (one per pattern), GET /hello" : Redaction.Uri(target);

        async Task<SoakResult> One(Row row, Action<SoakSample> onSample)
        {
            if (target is not null)
            {
                return await runner.RunAsync(row.Pattern, new SoakTarget(target, false, null, row.Mode, null), onSample, cancellationToken).ConfigureAwait(false);
            }

            SoakServer server = await SoakServer.StartAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await using (server.ConfigureAwait(false))
                {
                    var soakTarget = new SoakTarget(
                        server.Url("/hello", row.Http2), row.Http2, row.Http2 ? server.CaCertificates : null, row.Mode, server);
                    return await runner.RunAsync(row.Pattern, soakTarget, onSample, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                // The process pool may keep an idle connection to this pattern's server; close it with the server,
                // not in the middle of the next pattern (where the reaper would close it and shift that baseline).
                ConnectionPool.Process.CloseIdleConnections();
            }
        }

        var warnings = new WarningCollector();
        var previousLogger = Tether.Diagnostics.TetherDiagnostics.Logger;
        Tether.Diagnostics.TetherDiagnostics.Logger = warnings;
        try
        {
            if (live)
            {
                IAnsiConsole console = CliSupport.ConsoleFor(output);
                await console.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .StartAsync(async ctx =>
                    {
                        var tasks = rows.ToDictionary(p => p, p => ctx.AddTask(Label(p, null, null), autoStart: false, maxValue: s.Iterations));
                        foreach (Row pattern in rows)
                        {
                            if (cancellationToken.IsCancellationRequested)
                            {
                                break;
                            }

                            ProgressTask task = tasks[pattern];
                            task.StartTask();
                            SoakSample? first = null;
                            SoakResult r = await Task.Run(
                                () => One(pattern, sample =>
                                {
                                    first ??= sample;
                                    task.Value = sample.Iteration;
                                    task.Description = Label(pattern, first, sample);
                                }),
                                CancellationToken.None).ConfigureAwait(false);
                            task.Value = s.Iterations;
                            task.StopTask();
                            results.Add(r);
                        }
                    }).ConfigureAwait(false);
            }
            else
            {
                foreach (Row pattern in rows)
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        break;
                    }

                    SoakSample? first = null;
                    results.Add(await Task.Run(
                        () => One(pattern, sample =>
                        {
                            first ??= sample;
                            plain?.WriteLine(string.Create(
                                CultureInfo.InvariantCulture,
                                $"{pattern.Label} {sample.Iteration}/{s.Iterations}: fds={sample.Fds} ({sample.Fds - first.Fds:+0;-0;0}) established={sample.Established} close_wait={sample.CloseWait} time_wait={sample.TimeWait}"));
                        }),
                        CancellationToken.None).ConfigureAwait(false));
                }
            }
        }
        finally
        {
            Tether.Diagnostics.TetherDiagnostics.FlushLeakReports();
            Tether.Diagnostics.TetherDiagnostics.Logger = previousLogger;
        }

        bool grows = results.Any(r => r.Pattern.IsTether && !r.IsFlat);
        bool errors = results.Any(r => r.Pattern.IsTether && r.Errors > 0);
        bool interrupted = cancellationToken.IsCancellationRequested;
        int code = interrupted ? ExitCodes.Interrupted : grows ? ExitCodes.GrowthDetected : errors ? ExitCodes.TransportError : ExitCodes.Ok;
        string jsonText = SoakReport.Json(results, s.Iterations, s.SampleEvery, targetText, code);
        if (s.Json)
        {
            output.WriteLine(jsonText);
        }
        else
        {
            IAnsiConsole console = CliSupport.ConsoleFor(output);
            if (!CliSupport.IsTerminal(output))
            {
                console.Profile.Width = 200; // files and pipes get the whole table on one line per pattern
            }

            Render(console, results, s, targetText, code, skipped);
            if (warnings.Messages.Count > 0)
            {
                console.MarkupLine($"[yellow]Tether raised {warnings.Messages.Count} warning(s) during the soak[/] (as your application's log would show them):");
                foreach (string message in warnings.Messages.Distinct(StringComparer.Ordinal).Take(5))
                {
                    console.WriteLine("  " + message);
                }
            }
        }

        if (s.Report is not null && results.Count > 0)
        {
            IReadOnlyList<string> files = SoakReport.Write(s.Report.FullName, results, jsonText, s.Iterations, code);
            (s.Json ? error : output).WriteLine("report: " + string.Join(" ", files.Select(f => Path.GetRelativePath(Environment.CurrentDirectory, f))));
        }

        return code;
    }

    private static string Label(Row row, SoakSample? first, SoakSample? now)
    {
        string name = Markup.Escape(row.Label) + (row.Pattern.IsTether ? string.Empty : " [grey](naive)[/]");
        return first is null || now is null
            ? name
            : string.Create(CultureInfo.InvariantCulture, $"{name} fds {now.Fds - first.Fds:+0;-0;0} est {now.Established} cw {now.CloseWait} tw {now.TimeWait}");
    }

    private static void Render(IAnsiConsole console, List<SoakResult> results, Settings s, string target, int code, List<string> skipped)
    {
        var table = new Table()
            .Title($"tether soak: {s.Iterations} iterations per pattern, census every {s.SampleEvery}, against {Markup.Escape(target)}")
            .AddColumn("pattern")
            .AddColumn(new TableColumn("fds start→end").RightAligned())
            .AddColumn(new TableColumn("ESTABLISHED").RightAligned())
            .AddColumn(new TableColumn("TIME_WAIT").RightAligned())
            .AddColumn(new TableColumn("CLOSE_WAIT").RightAligned())
            .AddColumn(new TableColumn("fds/1k it").RightAligned())
            .AddColumn(new TableColumn("sockets/1k it").RightAligned())
            .AddColumn(new TableColumn("errors").RightAligned())
            .AddColumn("fds trend")
            .AddColumn("verdict")
            .AddColumn("protocol")
            .AddColumn("idle close")
            .AddColumn(new TableColumn("server RST").RightAligned());
        foreach (SoakResult r in results)
        {
            string verdict = r.Verdict switch
            {
                "flat" => "[green]flat[/]",
                "grows" when !r.Pattern.IsTether => "[yellow]grows[/] (naive)",
                "grows" => "[red]GROWS[/]",
                _ => "[yellow]errors[/]",
            };
            table.AddRow(
                Markup.Escape(r.Pattern.Name),
                Pair(r.Start.Fds, r.End.Fds),
                Pair(r.Start.Established, r.End.Established),
                Pair(r.Start.TimeWait, r.End.TimeWait),
                Pair(r.Start.CloseWait, r.End.CloseWait),
                r.FdsPer1000.ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture),
                r.SocketsPer1000.ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture),
                r.Errors.ToString(CultureInfo.InvariantCulture),
                Sparkline(r.Samples.Select(x => x.Fds - r.Start.Fds).ToList()),
                verdict,
                r.Protocol,
                Markup.Escape(r.CloseMode),
                r.ServerResets?.ToString(CultureInfo.InvariantCulture) ?? "n/a");
        }

        console.Write(table);
        var chart = new BarChart()
            .Label("fds above baseline at the end")
            .Width(Math.Min(100, Math.Max(40, console.Profile.Width - 2)));
        foreach (SoakResult r in results)
        {
            chart.AddItem(Markup.Escape(r.Label), Math.Max(0, r.End.Fds - r.Start.Fds), !r.Pattern.IsTether ? Color.Yellow : r.IsFlat ? Color.Green : Color.Red);
        }

        console.Write(chart);
        if (skipped.Count > 0)
        {
            console.MarkupLine(Markup.Escape($"not run over HTTP/2: {string.Join(", ", skipped.Distinct())} (server-idle-close needs its raw HTTP/1.1 server; naive-streamed's 101st undisposed stream would wait forever)."));
        }

        if (results.Any(r => r.ServerResets is not null))
        {
            console.MarkupLine("CORE-09: TIME_WAIT is the client's (towards the server port, no fd); server RST counts the connections the embedded server saw reset. "
                + "Graceful idle close: TIME_WAIT on the client, no RST; abortive: RST, no TIME_WAIT. Closing a client with a request in flight aborts whatever the mode.");
        }
        foreach (SoakResult r in results.Where(r => r.Pattern.IsTether && !r.IsFlat && r.NewFiles.Count > 0))
        {
            console.MarkupLine($"[yellow]{Markup.Escape(r.Label)}[/]: files opened since the baseline: {Markup.Escape(string.Join(", ", r.NewFiles.CountBy(f => f).Select(g => g.Value > 1 ? $"{g.Key} ({g.Value} fds)" : g.Key)))}");
        }

        foreach (SoakResult r in results.Where(r => r.Pattern.IsTether && r.IsFlat && r.IsOneTimeStep))
        {
            console.MarkupLine(Markup.Escape($"{r.Label}: {r.NonSocketGrowth:+0} non-socket fds once, none added in the second half of the " +
                "iterations: the process opened something once (the runtime does, lazily), not once per iteration; judged flat."));
        }

        foreach (SoakResult r in results.Where(r => r.FirstError is not null))
        {
            console.MarkupLine($"[yellow]{Markup.Escape(r.Label)}[/]: {r.Errors} failed iterations, first: {Markup.Escape(r.FirstError!)}");
        }

        if (code == ExitCodes.Interrupted)
        {
            int measured = results.Count(r => r.Iterations == s.Iterations);
            console.MarkupLine(Markup.Escape(string.Create(
                CultureInfo.InvariantCulture,
                $"interrupted (Ctrl-C): {measured} of the chosen patterns ran all {s.Iterations} iterations; the verdicts above are for the iterations run; exit 130.")));
            return;
        }

        console.MarkupLine(code == ExitCodes.Ok
            ? "[green]every Tether pattern is flat[/] (end fds ≤ baseline, no extra ESTABLISHED or CLOSE_WAIT towards the server); TIME_WAIT is the kernel's."
            : code == ExitCodes.GrowthDetected
                ? "[red]a Tether pattern grows[/]: exit 3."
                : "[yellow]Tether patterns are flat but some iterations failed[/]: exit 4.");
    }

    private static string Pair(int a, int b) => string.Create(CultureInfo.InvariantCulture, $"{a}→{b}");

    /// <summary>A one-line sparkline of <paramref name="values"/> (▁ to █, scaled to the range but at least 8 tall).</summary>
    /// <param name="values">The values.</param>
    /// <returns>The sparkline (at most 16 characters, resampled).</returns>
    public static string Sparkline(IReadOnlyList<int> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        const string bars = "▁▂▃▄▅▆▇█";
        if (values.Count == 0)
        {
            return string.Empty;
        }

        int width = Math.Min(16, values.Count);
        int min = Math.Min(0, values.Min()), max = Math.Max(min + 8, values.Max()); // at least 8 fds tall: a transient +1 stays low
        var chars = new char[width];
        for (int i = 0; i < width; i++)
        {
            int v = values[(int)((long)i * (values.Count - 1) / Math.Max(1, width - 1))];
            chars[i] = max == min ? bars[0] : bars[(int)Math.Round((double)(v - min) / (max - min) * (bars.Length - 1))];
        }

        return new string(chars);
    }
}
