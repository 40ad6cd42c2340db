using System.Text.Json.Serialization;
using Tether.Diagnostics;

namespace Tether.Cli.Commands;

/// <summary>The JSON shape of one census (<c>tether census --json</c>); same numbers as <see cref="CensusSnapshot"/>.</summary>
internal sealed record CensusJson(
    int Pid,
    DateTimeOffset TakenAt,
    int TotalFds,
    Dictionary<string, int> Tcp,
    int UnixSockets,
    int UdpSockets,
    int OtherSockets,
    int Epoll,
    int EventFd,
    int Pipes,
    int Files,
    int Devices,
    int OtherFds,
    int TimeWaitClientSide,
    int TimeWaitServerSide,
    int[] ListenPorts,
    CensusSocketJson[] TcpSockets,
    TimeWaitGroupJson[] TimeWaitByRemote,
    TimeWaitGroupJson[] UnattributedTimeWaitByRemote,
    string TimeWaitAttribution)
{
    public static CensusJson From(CensusSnapshot s, CensusFilter filter)
    {
        var tcp = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (TcpState state in TcpStateCounts.States)
        {
            tcp[TcpStateCounts.KernelName(state)] = s.Tcp[state];
        }

        return new CensusJson(
            s.Pid, s.TakenAt, s.TotalFds, tcp, s.UnixSockets, s.UdpSockets, s.OtherSockets, s.Epoll, s.EventFd,
            s.Pipes, s.Files, s.Devices, s.OtherFds, s.TimeWaitClientSide, s.TimeWaitServerSide, [.. s.ListenPorts],
            [.. s.TcpSockets.Where(filter.Matches).Select(t => new CensusSocketJson(t.Fd, t.Inode, t.Local.ToString(), t.Remote.ToString(), TcpStateCounts.KernelName(t.State)))],
            [.. filter.Groups(s.TimeWaitByRemote).Select(g => new TimeWaitGroupJson(g.Remote.ToString(), g.Count))],
            [.. filter.Groups(s.AllTimeWaitByRemote).Where(g => !s.TimeWaitByRemote.Any(m => m.Remote.Equals(g.Remote))).Select(g => new TimeWaitGroupJson(g.Remote.ToString(), g.Count))],
            CensusFilter.AttributionRule);
    }
}

/// <summary>One remote endpoint's TIME_WAIT count in the JSON output.</summary>
internal sealed record TimeWaitGroupJson(string Remote, int Count);

/// <summary>One TCP socket in the JSON output.</summary>
internal sealed record CensusSocketJson(int Fd, ulong Inode, string Local, string Remote, string State);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(CensusJson))]
internal sealed partial class CensusJsonContext : JsonSerializerContext;
