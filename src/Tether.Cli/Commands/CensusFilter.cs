using System.CommandLine;
using System.Globalization;
using System.Net;
using Tether.Diagnostics;

namespace Tether.Cli.Commands;

/// <summary>
/// The <c>--port</c> and <c>--remote</c> options of <c>census</c> and <c>watch</c>: they name the servers a process is a
/// client of (so its TIME_WAIT towards them is attributed to it) and narrow the socket lists to them.
/// </summary>
internal sealed class CensusFilter
{
    /// <summary>The attribution rule, as printed in help and docs.</summary>
    public const string AttributionRule =
        "TIME_WAIT sockets have no fd and no owner in the kernel, so they are attributed by remote endpoint: a TIME_WAIT "
        + "entry is the process's client side when it goes to a server the process is connected to now (or, for watch, "
        + "was connected to in an earlier sample), or to an endpoint named with --remote/--port. Entries towards the "
        + "process's own listening ports are its clients' and are not counted. Another process talking to the same "
        + "endpoint is counted too.";

    private CensusFilter(IReadOnlyList<int> ports, IReadOnlyList<IPEndPoint> remotes)
    {
        Ports = ports;
        Remotes = remotes;
    }

    public IReadOnlyList<int> Ports { get; }

    public IReadOnlyList<IPEndPoint> Remotes { get; }

    public bool IsEmpty => Ports.Count == 0 && Remotes.Count == 0;

    public static Option<int[]> PortOption() => new("--port")
    {
        Description = "Only sockets and TIME_WAIT towards (or on) this port, and attribute TIME_WAIT towards it to the process; repeatable.",
        HelpName = "PORT",
        AllowMultipleArgumentsPerToken = false,
        CustomParser = result =>
        {
            var ports = new List<int>();
            foreach (var token in result.Tokens)
            {
                if (int.TryParse(token.Value, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port is >= 1 and <= 65535)
                {
                    ports.Add(port);
                }
                else
                {
                    result.AddError($"--port '{token.Value}' is not a port; give 1-65535.");
                }
            }

            return [.. ports];
        },
    };

    public static Option<IPEndPoint[]> RemoteOption() => new("--remote")
    {
        Description = "Only sockets and TIME_WAIT towards this server HOST:PORT (an IP literal or localhost), and attribute "
            + "TIME_WAIT towards it to the process; repeatable.",
        HelpName = "HOST:PORT",
        AllowMultipleArgumentsPerToken = false,
        CustomParser = result =>
        {
            var endPoints = new List<IPEndPoint>();
            foreach (var token in result.Tokens)
            {
                string text = token.Value.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase) ? "127.0.0.1" + token.Value[9..] : token.Value;
                if (IPEndPoint.TryParse(text, out IPEndPoint? endPoint) && endPoint.Port is >= 1 and <= 65535 && text.Contains(':', StringComparison.Ordinal))
                {
                    endPoints.Add(endPoint);
                }
                else
                {
                    result.AddError($"--remote '{token.Value}' is not HOST:PORT; write e.g. 127.0.0.1:8080 or [::1]:8080.");
                }
            }

            return [.. endPoints];
        },
    };

    public static CensusFilter From(ParseResult parse, Option<int[]> port, Option<IPEndPoint[]> remote) =>
        new(parse.GetValue(port) ?? [], parse.GetValue(remote) ?? []);

    /// <summary>Census options that attribute TIME_WAIT towards the filtered servers plus <paramref name="seen"/>.</summary>
    public CensusOptions Options(IEnumerable<IPEndPoint>? seen = null) => new()
    {
        Ports = Ports,
        RemoteEndPoints = [.. Remotes, .. seen ?? []],
    };

    public bool Matches(IPEndPoint endPoint) =>
        IsEmpty
        || Ports.Contains(endPoint.Port)
        || Remotes.Any(r => r.Port == endPoint.Port && Unmapped(r.Address).Equals(Unmapped(endPoint.Address)));

    public bool Matches(CensusSocket socket) => IsEmpty || Matches(socket.Remote) || Matches(socket.Local);

    public IReadOnlyList<TimeWaitGroup> Groups(IEnumerable<TimeWaitGroup> groups) => [.. groups.Where(g => Matches(g.Remote))];

    private static IPAddress Unmapped(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;
}
