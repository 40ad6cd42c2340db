using System.Globalization;
using System.Runtime.InteropServices;
using Tether.Diagnostics;

namespace Tether.Tests.Support;

/// <summary>
/// The TCP sockets this process holds, read from each of its own file descriptors (issue 13, CI time): for every fd in
/// <c>/proc/self/fd</c>, <c>getsockopt(TCP_INFO)</c> gives the socket's state and <c>getsockname</c>/<c>getpeername</c>
/// its ports. It answers the Clean check's question (is a socket of this process ESTABLISHED or CLOSE_WAIT towards the
/// test's ports?) from the same kernel state as <see cref="SocketCensus.Take()"/>, which reads the whole of
/// <c>/proc/net/tcp</c> and <c>tcp6</c> and matches their inodes to this process's fds: a full run leaves thousands
/// of TIME_WAIT entries in those tables (each child-process seed scenario alone adds 2,000), so one census cost
/// 20-40 ms of CPU, and the suite took thousands of them while waiting for the server ends to close. This costs a few
/// system calls per socket this process holds. LeakCheck takes the full census only to describe a failure.
/// </summary>
/// <remarks>An fd closed or reused between the listing and the calls is read as it is at the call (or skipped when it
/// is no longer a TCP socket): a socket that stays open towards a port, the thing the check looks for, is seen.</remarks>
internal static class OwnTcpSockets
{
    private const int SolTcp = 6;
    private const int TcpInfo = 11;
    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;

    /// <summary>One TCP socket of this process.</summary>
    internal readonly record struct Entry(int Fd, TcpState State, int LocalPort, int RemotePort)
    {
        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"fd {Fd}: {State} local port {LocalPort} -> remote port {RemotePort}");
    }

    /// <summary>Every TCP socket this process holds now (listening ones included, remote port 0).</summary>
    public static List<Entry> Snapshot()
    {
        var sockets = new List<Entry>();
        var info = new byte[8];
        var address = new byte[128];
        foreach (var path in Directory.EnumerateFiles("/proc/self/fd"))
        {
            if (!int.TryParse(Path.GetFileName(path), NumberStyles.None, CultureInfo.InvariantCulture, out var fd))
            {
                continue;
            }

            // Not a TCP socket (a file, pipe, epoll, unix or UDP socket) or no longer open: the call fails.
            uint length = (uint)info.Length;
            if (getsockopt(fd, SolTcp, TcpInfo, info, ref length) != 0 || length < 1)
            {
                continue;
            }

            var state = (TcpState)info[0];
            var local = PortOf(address, getsockname(fd, address, ref LengthOf(address)));
            var remote = PortOf(address, getpeername(fd, address, ref LengthOf(address)));
            if (local is null)
            {
                continue;
            }

            sockets.Add(new Entry(fd, state, local.Value, remote ?? 0));
        }

        return sockets;
    }

    /// <summary>Whether a socket of this process is ESTABLISHED or CLOSE_WAIT towards one of <paramref name="ports"/>:
    /// its remote port is one of them (a client end), or its local port is and it has a peer (a server end).</summary>
    public static bool AnyOpenTowards(IReadOnlySet<int> ports) =>
        Snapshot().Any(s => IsOpenTowards(s, ports));

    /// <summary>The sockets of this process in <paramref name="state"/> whose remote port is <paramref name="port"/>.</summary>
    public static int Towards(int port, TcpState state) =>
        Snapshot().Count(s => s.State == state && s.RemotePort == port);

    internal static bool IsOpenTowards(Entry s, IReadOnlySet<int> ports) =>
        s.State is TcpState.Established or TcpState.CloseWait
        && (ports.Contains(s.RemotePort) || (ports.Contains(s.LocalPort) && s.RemotePort != 0));

    private static int? PortOf(byte[] address, int result)
    {
        if (result != 0)
        {
            return null; // getpeername: not connected (a listener, or a socket whose peer is gone)
        }

        var family = BitConverter.ToUInt16(address, 0);
        return family is AfInet or AfInet6 ? (address[2] << 8) | address[3] : null;
    }

    // A fresh in/out length for each call (the kernel writes the address's real length back).
    [ThreadStatic]
    private static uint t_length;

    private static ref uint LengthOf(byte[] address)
    {
        t_length = (uint)address.Length;
        return ref t_length;
    }

#pragma warning disable SYSLIB1054 // DllImport keeps this test helper free of unsafe code (LibraryImport's byte[] marshalling needs it)
    [DllImport("libc", SetLastError = true)]
    private static extern int getsockopt(int sockfd, int level, int optname, byte[] optval, ref uint optlen);

    [DllImport("libc", SetLastError = true)]
    private static extern int getsockname(int sockfd, byte[] addr, ref uint addrlen);

    [DllImport("libc", SetLastError = true)]
    private static extern int getpeername(int sockfd, byte[] addr, ref uint addrlen);
#pragma warning restore SYSLIB1054
}
