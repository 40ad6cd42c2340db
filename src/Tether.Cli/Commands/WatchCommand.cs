using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Tether.Diagnostics;

namespace Tether.Cli.Commands;

/// <summary>
/// <c>tether watch --pid N [--interval 1s] [--duration 30s] [--fail-on-growth RATE]</c>: samples the
/// socket census of a process, shows a live table (plain lines when stdout is redirected), and reports
/// the fd growth rate as the least-squares slope of total fds over time, in fds per minute.
/// </summary>
public static class WatchCommand
{
    /// <summary>Creates the <c>watch</c> command.</summary>
    /// <returns>The command, ready to add to the root command.</returns>
    public static Command Create()
    {
        var pid = new Option<int>("--pid", "-p") { Description = "The process to watch.", Required = true };
        Option<TimeSpan> interval = CliSupport.DurationOption("--interval", TimeSpan.FromSeconds(1), "Time between samples (default 1s).");
        Option<TimeSpan> duration = CliSupport.DurationOption("--duration", TimeSpan.FromSeconds(30), "How long to watch (default 30s).");
        var failOnGrowth = new Option<double?>("--fail-on-growth")
        {
            Description = "Exit 3 when total fds grow faster than RATE per minute (least-squares slope over all samples).",
            HelpName = "RATE",
        };
        Option<bool> verbose = CliSupport.VerboseOption();
        var command = new Command(
            "watch",
            "Sample the socket census of a process every interval and chart fds, ESTABLISHED, CLOSE_WAIT, "
            + "TIME_WAIT, unix sockets and pipes, with the fd growth rate (fds/min, least-squares slope).\n\n"
            + "Examples:\n"
            + "  tether watch --pid 1234\n"
            + "  tether watch --pid 1234 --interval 250ms --duration 2m\n"
            + "  tether watch --pid 1234 --duration 60s --fail-on-growth 10   # CI leak gate\n\n"
            + ExitCodes.HelpTable)
        {
            pid,
            interval,
            duration,
            failOnGrowth,
            verbose,
        };

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;
            int target = parseResult.GetValue(pid);
            double? limit = parseResult.GetValue(failOnGrowth);
            if (target <= 0)
            {
                error.WriteLine($"tether: --pid {target} is not a valid process id; give a positive PID (see `ps`).");
                return ExitCodes.Usage;
            }

            if (limit is < 0 || (limit is { } l && !double.IsFinite(l)))
            {
                error.WriteLine($"tether: --fail-on-growth {limit} must be a finite rate >= 0 (fds per minute).");
                return ExitCodes.Usage;
            }

            var watch = new Watcher(target, parseResult.GetValue(interval), parseResult.GetValue(duration), output);
            try
            {
                if (CliSupport.IsTerminal(output))
                {
                    await watch.RunLiveAsync(CliSupport.ConsoleFor(output), cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await watch.RunPlainAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (CensusException ex)
            {
                return CliSupport.Report(ex, error, parseResult.GetValue(verbose));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl+C: report what was gathered.
            }

            double slope = watch.SlopePerMinute();
            bool grew = limit is { } rate && slope > rate;
            string verdict = limit is { } r
                ? string.Create(CultureInfo.InvariantCulture, $" (limit {r:0.0}): {(grew ? "GROWTH DETECTED" : "ok")}")
                : string.Empty;
            output.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"pid {target}: {watch.Count} samples, fds {watch.FirstFds} -> {watch.LastFds}, growth {slope:+0.0;-0.0;0.0} fds/min{verdict}"));
            return grew ? ExitCodes.GrowthDetected : ExitCodes.Ok;
        });
        return command;
    }

    // Sampling state: one (time, fds) point per census; the slope is ordinary least squares.
    private sealed class Watcher(int pid, TimeSpan interval, TimeSpan duration, TextWriter output)
    {
        private readonly List<(double Minutes, int Fds)> _points = [];

        public int Count => _points.Count;

        public int FirstFds => _points.Count > 0 ? _points[0].Fds : 0;

        public int LastFds => _points.Count > 0 ? _points[^1].Fds : 0;

        public async Task RunPlainAsync(CancellationToken cancellationToken)
        {
            await SampleAsync(
                s => output.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"t={_points[^1].Minutes * 60:0.00}s fds={s.TotalFds} established={s.Tcp.Established} close_wait={s.Tcp.CloseWait} time_wait={s.TimeWaitClientSide + s.TimeWaitServerSide} unix={s.UnixSockets} pipes={s.Pipes} growth={SlopePerMinute():+0.0;-0.0;0.0}/min")),
                cancellationToken).ConfigureAwait(false);
        }

        public async Task RunLiveAsync(IAnsiConsole console, CancellationToken cancellationToken)
        {
            var table = new Table()
                .Title($"tether watch pid {pid} every {interval.TotalMilliseconds:0}ms for {duration.TotalSeconds:0.#}s")
                .AddColumns("t", "fds", "ESTABLISHED", "CLOSE_WAIT", "TIME_WAIT", "unix", "pipes", "fds/min");
            await console.Live(table).StartAsync(async ctx =>
            {
                await SampleAsync(
                    s =>
                    {
                        if (table.Rows.Count >= 20)
                        {
                            table.Rows.RemoveAt(0);
                        }

                        table.AddRow(
                            string.Create(CultureInfo.InvariantCulture, $"{_points[^1].Minutes * 60:0.00}s"),
                            N(s.TotalFds),
                            N(s.Tcp.Established),
                            N(s.Tcp.CloseWait),
                            N(s.TimeWaitClientSide + s.TimeWaitServerSide),
                            N(s.UnixSockets),
                            N(s.Pipes),
                            SlopePerMinute().ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture));
                        ctx.Refresh();
                    },
                    cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);

            static string N(int n) => n.ToString(CultureInfo.InvariantCulture);
        }

        private async Task SampleAsync(Action<CensusSnapshot> show, CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            for (int k = 0; ; k++)
            {
                CensusSnapshot s = SocketCensus.Take(pid);
                _points.Add((clock.Elapsed.TotalMinutes, s.TotalFds));
                show(s);
                TimeSpan next = interval * (k + 1);
                if (next > duration)
                {
                    return;
                }

                TimeSpan wait = next - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        public double SlopePerMinute()
        {
            int n = _points.Count;
            if (n < 2)
            {
                return 0;
            }

            double mx = 0, my = 0;
            foreach ((double x, int y) in _points)
            {
                mx += x;
                my += y;
            }

            mx /= n;
            my /= n;
            double sxy = 0, sxx = 0;
            foreach ((double x, int y) in _points)
            {
                sxy += (x - mx) * (y - my);
                sxx += (x - mx) * (x - mx);
            }

            return sxx > 0 ? sxy / sxx : 0;
        }
    }
}
