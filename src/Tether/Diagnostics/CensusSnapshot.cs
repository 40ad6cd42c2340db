using System.Globalization;
using System.Net;
using System.Text;

namespace Tether.Diagnostics;

/// <summary>
/// One OS socket census of a process, taken by <see cref="SocketCensus.Take()"/>: its fds by kind, its
/// TCP sockets by state and endpoint, and the TIME_WAIT sockets attributed to its ports.
/// Immutable and thread-safe.
/// </summary>
/// <example>
/// <code>
/// var s = SocketCensus.Take();
/// Console.WriteLine(s);  // fds=42 tcp[ESTABLISHED=2 ...] unix=4 ... time_wait(client/server)=3/0
/// Assert.Equal(0, s.Tcp.CloseWait);
/// </code>
/// </example>
public sealed partial class CensusSnapshot
{
    private readonly int[] _timeWaitPorts; // (localPort << 16) | remotePort, netns-wide

    private CensusSnapshot(
        Builder b, TcpStateCounts tcp, IReadOnlyList<CensusSocket> tcpSockets, IReadOnlyList<int> listenPorts, int[] timeWaitPorts,
        int client, int server, IReadOnlyList<TimeWaitGroup> byRemote, IReadOnlyList<TimeWaitGroup> allByRemote)
    {
        Pid = b.Pid;
        TakenAt = b.TakenAt;
        TotalFds = b.TotalFds;
        Tcp = tcp;
        UnixSockets = b.UnixSockets;
        UdpSockets = b.UdpSockets;
        OtherSockets = b.OtherSockets;
        Epoll = b.Epoll;
        EventFd = b.EventFd;
        Pipes = b.Pipes;
        Files = b.Files;
        Devices = b.Devices;
        OtherFds = b.OtherFds;
        TcpSockets = tcpSockets;
        ListenPorts = listenPorts;
        _timeWaitPorts = timeWaitPorts;
        TimeWaitClientSide = client;
        TimeWaitServerSide = server;
        TimeWaitByRemote = byRemote;
        AllTimeWaitByRemote = allByRemote;
    }

    /// <summary>Gets the PID the census was taken of.</summary>
    public int Pid { get; }

    /// <summary>Gets when the census started (UTC).</summary>
    public DateTimeOffset TakenAt { get; }

    /// <summary>
    /// Gets the number of entries of <c>/proc/&lt;pid&gt;/fd</c> that were open when read. Entries that
    /// closed between the listing and the read (including the listing's own directory handle, when the
    /// census is of the current process) are not counted. Always equals the sum of
    /// <see cref="Sockets"/>, <see cref="Epoll"/>, <see cref="EventFd"/>, <see cref="Pipes"/>,
    /// <see cref="Files"/>, <see cref="Devices"/> and <see cref="OtherFds"/>.
    /// </summary>
    public int TotalFds { get; }

    /// <summary>Gets the process's TCP socket fds by state (IPv4 and IPv6 together).</summary>
    public TcpStateCounts Tcp { get; }

    /// <summary>Gets the number of unix domain socket fds (socketpairs count two: one per end).</summary>
    public int UnixSockets { get; }

    /// <summary>Gets the number of UDP socket fds (IPv4 and IPv6).</summary>
    public int UdpSockets { get; }

    /// <summary>
    /// Gets the number of socket fds found in no table: netlink, raw and packet sockets, TCP sockets
    /// created but never bound or connected, and sockets closed underneath the fd.
    /// </summary>
    public int OtherSockets { get; }

    /// <summary>Gets the total number of socket fds: TCP + unix + UDP + other.</summary>
    public int Sockets => Tcp.Total + UnixSockets + UdpSockets + OtherSockets;

    /// <summary>Gets the number of epoll fds (<c>anon_inode:[eventpoll]</c>).</summary>
    public int Epoll { get; }

    /// <summary>Gets the number of eventfd fds (<c>anon_inode:[eventfd]</c>).</summary>
    public int EventFd { get; }

    /// <summary>Gets the number of pipe fds (each anonymous pipe has two ends).</summary>
    public int Pipes { get; }

    /// <summary>Gets the number of fds whose target is an absolute path outside <c>/dev/</c>.</summary>
    public int Files { get; }

    /// <summary>Gets the number of fds whose target is under <c>/dev/</c> (ttys, <c>/dev/null</c>, …).</summary>
    public int Devices { get; }

    /// <summary>Gets the number of other fds: other <c>anon_inode</c> kinds (timerfd, signalfd, inotify…) and namespace handles.</summary>
    public int OtherFds { get; }

    /// <summary>
    /// Gets the TIME_WAIT entries attributed to the client side of this process's connections. The kernel keeps no
    /// owner for a TIME_WAIT socket (no fd, no inode, uid 0 in <c>/proc/net/tcp</c>), so attribution is by remote
    /// endpoint, with this rule: an entry counts when its remote endpoint is
    /// (1) one of <see cref="CensusOptions.RemoteEndPoints"/>, or its remote port one of <see cref="CensusOptions.Ports"/>
    /// (the caller names the servers this process talks to), or
    /// (2) the remote endpoint of one of the process's own TCP sockets whose local port is not one of its LISTEN ports
    /// (a server it is connected to right now).
    /// An entry whose remote port is one of the process's LISTEN ports is a <em>client</em> of this process closing
    /// first, which is another process's TIME_WAIT (or this process's own client of itself): it is not counted unless
    /// rule 1 or 2 names that endpoint. Other processes of the same network namespace talking to the same endpoint are
    /// counted too: the kernel cannot tell them apart. <see cref="TimeWaitByRemote"/> lists the same entries by endpoint.
    /// </summary>
    public int TimeWaitClientSide { get; }

    /// <summary>
    /// Gets the TIME_WAIT sockets on the server side: entries whose <em>local</em> port is a port this process LISTENs
    /// on (the server closed first). By port only: another process listening on the same port in another address
    /// (SO_REUSEPORT, or another address of the namespace) would be counted too.
    /// </summary>
    public int TimeWaitServerSide { get; }

    /// <summary>
    /// Gets the client-side TIME_WAIT entries counted in <see cref="TimeWaitClientSide"/>, grouped by remote endpoint,
    /// largest group first (ties by endpoint text). IPv4-mapped IPv6 endpoints are shown in IPv4 form.
    /// </summary>
    public IReadOnlyList<TimeWaitGroup> TimeWaitByRemote { get; }

    /// <summary>
    /// Gets every client-side TIME_WAIT entry of the network namespace (the local port is not one of this process's
    /// LISTEN ports), grouped by remote endpoint, largest first, whoever made them. It answers "where did the closed
    /// connections go?" when the process that made them is not known, for example a client that has already closed
    /// every socket: pass a remote endpoint from here in <see cref="CensusOptions.RemoteEndPoints"/> to attribute it.
    /// </summary>
    public IReadOnlyList<TimeWaitGroup> AllTimeWaitByRemote { get; }

    /// <summary>Gets the process's TCP sockets with endpoints and state, ordered by fd.</summary>
    public IReadOnlyList<CensusSocket> TcpSockets { get; }

    /// <summary>Gets the local ports of the process's LISTEN sockets, ascending.</summary>
    public IReadOnlyList<int> ListenPorts { get; }

    /// <summary>
    /// Counts the TIME_WAIT entries of the process's network namespace whose remote port is
    /// <paramref name="remotePort"/>: the client side of connections this namespace made to that port.
    /// </summary>
    /// <param name="remotePort">The server port.</param>
    /// <returns>The number of TIME_WAIT entries towards that port when the census was taken.</returns>
    public int CountTimeWait(int remotePort)
    {
        int n = 0;
        foreach (int pair in _timeWaitPorts)
        {
            if ((pair & 0xFFFF) == remotePort)
            {
                n++;
            }
        }

        return n;
    }

    /// <summary>
    /// Counts the TIME_WAIT entries of the process's network namespace whose local port is
    /// <paramref name="localPort"/>: the server side of connections to that listening port that the server closed first.
    /// </summary>
    /// <param name="localPort">The listening port.</param>
    /// <returns>The number of TIME_WAIT entries on that local port when the census was taken.</returns>
    public int CountTimeWaitServerSide(int localPort)
    {
        int n = 0;
        foreach (int pair in _timeWaitPorts)
        {
            if ((pair >>> 16) == localPort)
            {
                n++;
            }
        }

        return n;
    }

    /// <summary>Computes this snapshot minus <paramref name="baseline"/>, field by field.</summary>
    /// <param name="baseline">The earlier snapshot.</param>
    /// <returns>The change from <paramref name="baseline"/> to this snapshot.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="baseline"/> is <see langword="null"/>.</exception>
    public CensusDelta Delta(CensusSnapshot baseline)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        return new CensusDelta(baseline, this);
    }

    /// <summary>Formats the snapshot on one line.</summary>
    /// <returns><c>fds=42 tcp[ESTABLISHED=2 …] unix=4 udp=0 other_sockets=0 epoll=1 eventfd=1 pipes=2 files=10 devices=3 other=0 time_wait(client/server)=3/0</c>.</returns>
    public override string ToString() => Format(
        TotalFds, Tcp.Format(signed: false), UnixSockets, UdpSockets, OtherSockets, Epoll, EventFd, Pipes, Files, Devices, OtherFds, TimeWaitClientSide, TimeWaitServerSide, signed: false);

    internal static string Format(
        int fds, string tcp, int unix, int udp, int otherSockets, int epoll, int eventFd, int pipes, int files, int devices, int other, int twClient, int twServer, bool signed)
    {
        var sb = new StringBuilder(256);
        string N(int n) => signed && n > 0 ? "+" + n.ToString(CultureInfo.InvariantCulture) : n.ToString(CultureInfo.InvariantCulture);
        sb.Append("fds=").Append(N(fds))
          .Append(" tcp[").Append(tcp).Append(']')
          .Append(" unix=").Append(N(unix))
          .Append(" udp=").Append(N(udp))
          .Append(" other_sockets=").Append(N(otherSockets))
          .Append(" epoll=").Append(N(epoll))
          .Append(" eventfd=").Append(N(eventFd))
          .Append(" pipes=").Append(N(pipes))
          .Append(" files=").Append(N(files))
          .Append(" devices=").Append(N(devices))
          .Append(" other=").Append(N(other))
          .Append(" time_wait(client/server)=").Append(N(twClient)).Append('/').Append(N(twServer));
        return sb.ToString();
    }

    // Mutable accumulator used by SocketCensus during the single pass.
    internal sealed class Builder(int pid, DateTimeOffset takenAt)
    {
        public int Pid { get; } = pid;

        public DateTimeOffset TakenAt { get; } = takenAt;

        public int TotalFds { get; set; }

        public int UnixSockets { get; set; }

        public int UdpSockets { get; set; }

        public int OtherSockets { get; set; }

        public int Epoll { get; set; }

        public int EventFd { get; set; }

        public int Pipes { get; set; }

        public int Files { get; set; }

        public int Devices { get; set; }

        public int OtherFds { get; set; }

        public CensusSnapshot Build(
            TcpStateCounts tcp, List<CensusSocket> tcpSockets, HashSet<int> listenPorts, CensusOptions? options, List<(int LocalPort, IPEndPoint Remote)> timeWait)
        {
            // Rule 1: named by the caller. Rule 2: servers this process is connected to now (its own sockets whose local
            // port is not one of its listeners, i.e. the client end).
            var remotes = new HashSet<IPEndPoint>();
            var remotePorts = new HashSet<int>();
            if (options is not null)
            {
                remotePorts.UnionWith(options.Ports);
                remotes.UnionWith(options.RemoteEndPoints.Select(SocketCensus.Unmap));
            }

            foreach (CensusSocket socket in tcpSockets)
            {
                if (socket.State != TcpState.Listen && socket.Remote.Port != 0 && !listenPorts.Contains(socket.Local.Port))
                {
                    remotes.Add(SocketCensus.Unmap(socket.Remote));
                }
            }

            int client = 0, server = 0;
            var mine = new Dictionary<IPEndPoint, int>();
            var all = new Dictionary<IPEndPoint, int>();
            int[] pairs = new int[timeWait.Count];
            for (int i = 0; i < timeWait.Count; i++)
            {
                (int local, IPEndPoint remote) = timeWait[i];
                pairs[i] = (local << 16) | remote.Port;
                if (listenPorts.Contains(local))
                {
                    server++;
                    continue;
                }

                all[remote] = all.GetValueOrDefault(remote) + 1;
                if (remotes.Contains(remote) || remotePorts.Contains(remote.Port))
                {
                    client++;
                    mine[remote] = mine.GetValueOrDefault(remote) + 1;
                }
            }

            int[] ports = [.. listenPorts];
            Array.Sort(ports);
            return new CensusSnapshot(this, tcp, tcpSockets.AsReadOnly(), ports.AsReadOnly(), pairs, client, server, Groups(mine), Groups(all));
        }

        private static IReadOnlyList<TimeWaitGroup> Groups(Dictionary<IPEndPoint, int> counts) =>
            counts.Select(kv => new TimeWaitGroup(kv.Key, kv.Value))
                .OrderByDescending(g => g.Count)
                .ThenBy(g => g.Remote.ToString(), StringComparer.Ordinal)
                .ToList()
                .AsReadOnly();
    }
}
