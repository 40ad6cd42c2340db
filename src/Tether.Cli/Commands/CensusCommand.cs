using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Spectre.Console;
using Tether.Diagnostics;

namespace Tether.Cli.Commands;

/// <summary>
/// <c>tether census [--pid N] [--json] [--port P] [--remote HOST:PORT]</c>: one OS socket census of a process (default:
/// the tether process itself), as a table or as JSON with the same numbers as <see cref="SocketCensus.Take(int, CensusOptions)"/>.
/// </summary>
public static class CensusCommand
{
    /// <summary>Creates the <c>census</c> command.</summary>
    /// <returns>The command, ready to add to the root command.</returns>
    public static Command Create()
    {
        Option<int?> pid = CliSupport.PidOption("The process to count (default: this tether process).", required: false);
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        Option<int[]> port = CensusFilter.PortOption();
        Option<IPEndPoint[]> remote = CensusFilter.RemoteOption();
        Option<bool> verbose = CliSupport.VerboseOption();
        var command = new Command(
            "census",
            "Print one socket census of a process: fds by kind, TCP sockets by state, and its client TIME_WAIT by remote endpoint.")
        {
            pid,
            json,
            port,
            remote,
            verbose,
        };
        command.WithEpilog(
            "Reads /proc; Linux only.\n\n"
            + "Examples:\n"
            + "  tether census                                # this process\n"
            + "  tether census --pid 1234                     # another process (same user, or root with CAP_SYS_PTRACE)\n"
            + "  tether census --pid 1234 --remote 127.0.0.1:8080   # only that server; its TIME_WAIT counts as 1234's\n"
            + "  tether census --pid 1234 --json | jq '.timeWaitByRemote'\n\n"
            + "TIME_WAIT attribution: " + CensusFilter.AttributionRule);

        command.SetAction(parseResult =>
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;
            int target = parseResult.GetValue(pid) ?? Environment.ProcessId;
            CensusFilter filter = CensusFilter.From(parseResult, port, remote);

            CensusSnapshot snapshot;
            try
            {
                snapshot = SocketCensus.Take(target, filter.Options());
            }
            catch (CensusException ex)
            {
                return CliSupport.Report(ex, error, parseResult.GetValue(verbose));
            }

            if (parseResult.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(CensusJson.From(snapshot, filter), CensusJsonContext.Default.CensusJson));
            }
            else
            {
                Render(CliSupport.ConsoleFor(output), output, snapshot, filter);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Render(IAnsiConsole console, TextWriter output, CensusSnapshot s, CensusFilter filter)
    {
        var table = new Table()
            .Title($"socket census of pid {s.Pid} at {s.TakenAt:HH:mm:ss.fff}Z")
            .AddColumn("kind")
            .AddColumn(new TableColumn("count").RightAligned());
        void Row(string kind, int n) => table.AddRow(Markup.Escape(kind), n.ToString(CultureInfo.InvariantCulture));
        Row("fds (total)", s.TotalFds);
        foreach (TcpState state in TcpStateCounts.States)
        {
            Row("tcp " + TcpStateCounts.KernelName(state), s.Tcp[state]);
        }

        Row("unix sockets", s.UnixSockets);
        Row("udp sockets", s.UdpSockets);
        Row("other sockets", s.OtherSockets);
        Row("epoll", s.Epoll);
        Row("eventfd", s.EventFd);
        Row("pipes", s.Pipes);
        Row("files", s.Files);
        Row("devices", s.Devices);
        Row("other fds", s.OtherFds);
        Row("TIME_WAIT client side (no fd)", s.TimeWaitClientSide);
        Row("TIME_WAIT server side (no fd)", s.TimeWaitServerSide);
        console.Write(table);

        var sockets = s.TcpSockets.Where(filter.Matches).ToList();
        if (sockets.Count > 0)
        {
            var list = new Table().AddColumns("fd", "local", "remote", "state");
            foreach (CensusSocket t in sockets)
            {
                list.AddRow(
                    t.Fd.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(t.Local.ToString()),
                    Markup.Escape(t.Remote.ToString()),
                    TcpStateCounts.KernelName(t.State));
            }

            console.Write(list);
        }

        WriteTimeWait(console, output, s, filter);
    }

    /// <summary>The client TIME_WAIT groups of a census, and a hint when the namespace has some nobody is known for.</summary>
    internal static void WriteTimeWait(IAnsiConsole console, TextWriter output, CensusSnapshot s, CensusFilter filter)
    {
        IReadOnlyList<TimeWaitGroup> groups = filter.Groups(s.TimeWaitByRemote);
        if (groups.Count > 0)
        {
            output.WriteLine($"client TIME_WAIT of pid {s.Pid} by remote endpoint:");
            var table = new Table()
                .AddColumn("remote")
                .AddColumn(new TableColumn("TIME_WAIT").RightAligned());
            foreach (TimeWaitGroup g in groups)
            {
                table.AddRow(Markup.Escape(g.Remote.ToString()), g.Count.ToString(CultureInfo.InvariantCulture));
            }

            console.Write(table);
        }

        var others = filter.Groups(s.AllTimeWaitByRemote)
            .Where(g => !groups.Any(m => m.Remote.Equals(g.Remote)))
            .Take(5)
            .ToList();
        if (others.Count > 0)
        {
            output.WriteLine(
                "not attributed to pid " + s.Pid.ToString(CultureInfo.InvariantCulture) + " (no owner in the kernel): client TIME_WAIT in this network namespace towards "
                + string.Join(", ", others.Select(g => g.ToString()))
                + $"; if pid {s.Pid} made them, add --remote {others[0].Remote}.");
        }

        output.WriteLine("TIME_WAIT attribution: by remote endpoint (servers the process is connected to, or --remote/--port); see `tether census --help`.");
    }
}
