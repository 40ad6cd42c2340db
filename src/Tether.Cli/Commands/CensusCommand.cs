using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Tether.Diagnostics;

namespace Tether.Cli.Commands;

/// <summary>
/// <c>tether census [--pid N] [--json]</c>: one OS socket census of a process (default: the tether
/// process itself), as a table or as JSON with the same numbers as <see cref="SocketCensus.Take(int)"/>.
/// </summary>
public static class CensusCommand
{
    /// <summary>Creates the <c>census</c> command.</summary>
    /// <returns>The command, ready to add to the root command.</returns>
    public static Command Create()
    {
        var pid = new Option<int?>("--pid", "-p") { Description = "The process to count (default: this tether process)." };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        Option<bool> verbose = CliSupport.VerboseOption();
        var command = new Command(
            "census",
            "Print one socket census of a process: fds by kind, TCP sockets by state, and TIME_WAIT attributed "
            + "to its ports (client side / server side). Reads /proc; Linux only.\n\n"
            + "Examples:\n"
            + "  tether census                  # this process\n"
            + "  tether census --pid 1234       # another process (same user or root)\n"
            + "  tether census --pid 1234 --json | jq .tcp.CLOSE_WAIT\n\n"
            + ExitCodes.HelpTable)
        {
            pid,
            json,
            verbose,
        };

        command.SetAction(parseResult =>
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;
            int target = parseResult.GetValue(pid) ?? Environment.ProcessId;
            if (target <= 0)
            {
                error.WriteLine($"tether: --pid {target} is not a valid process id; give a positive PID (see `ps`).");
                return ExitCodes.Usage;
            }

            CensusSnapshot snapshot;
            try
            {
                snapshot = SocketCensus.Take(target);
            }
            catch (CensusException ex)
            {
                return CliSupport.Report(ex, error, parseResult.GetValue(verbose));
            }

            if (parseResult.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(CensusJson.From(snapshot), CensusJsonContext.Default.CensusJson));
            }
            else
            {
                Render(CliSupport.ConsoleFor(output), snapshot);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Render(IAnsiConsole console, CensusSnapshot s)
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

        if (s.TcpSockets.Count > 0)
        {
            var sockets = new Table().AddColumns("fd", "local", "remote", "state");
            foreach (CensusSocket t in s.TcpSockets)
            {
                sockets.AddRow(
                    t.Fd.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(t.Local.ToString()),
                    Markup.Escape(t.Remote.ToString()),
                    TcpStateCounts.KernelName(t.State));
            }

            console.Write(sockets);
        }
    }
}
