using System.Diagnostics;
using System.Globalization;

namespace Tether.PeerDriver;

/// <summary>What this process holds, read from /proc the same way the harness's other drivers do (fd link targets
/// matched by socket inode against /proc/self/net/{tcp,tcp6,unix}), so the columns are comparable.</summary>
internal static class ProcNet
{
    /// <summary>Socket inodes of this process's fds, plus counts by fd kind.</summary>
    public static FdKinds ReadFds()
    {
        var kinds = new FdKinds();
        foreach (var path in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(path).LinkTarget;
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            if (target is null)
            {
                continue;   // the directory fd of this listing, already closed
            }

            kinds.Fds++;
            if (target.StartsWith("socket:[", StringComparison.Ordinal))
            {
                kinds.SocketInodes.Add(target[8..^1]);
            }
            else if (target == "anon_inode:[eventpoll]")
            {
                kinds.Epoll++;
            }
            else if (target.StartsWith("pipe:[", StringComparison.Ordinal))
            {
                kinds.Pipe++;
            }
            else if (target.StartsWith("anon_inode:[eventfd]", StringComparison.Ordinal))
            {
                kinds.EventFd++;
            }
        }

        return kinds;
    }

    /// <summary>Rows of /proc/self/net/tcp and tcp6: (local port, remote port, state hex, inode).</summary>
    public static IEnumerable<(int Local, int Remote, string State, string Inode)> TcpRows()
    {
        foreach (var file in new[] { "/proc/self/net/tcp", "/proc/self/net/tcp6" })
        {
            if (!File.Exists(file))
            {
                continue;
            }

            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var p = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (p.Length < 10)
                {
                    continue;
                }

                yield return (Port(p[1]), Port(p[2]), p[3], p[9]);
            }
        }
    }

    /// <summary>TCP sockets this process holds whose remote port is <paramref name="port"/>.</summary>
    public static int TcpSocketsTo(int port)
    {
        var inodes = ReadFds().SocketInodes;
        return TcpRows().Count(r => r.Remote == port && inodes.Contains(r.Inode));
    }

    /// <summary>Netns-wide sockets in <paramref name="state"/> to <paramref name="port"/>, via ss; -1 if ss fails.</summary>
    public static int SsCount(string state, int port)
    {
        try
        {
            var psi = new ProcessStartInfo("ss", $"-Htan state {state} dport = :{port}") { RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            var n = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
            p.WaitForExit(5000);
            return n;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return -1;
        }
    }

    /// <summary>The loop-leak sample: fds by kind, own TCP sockets by state, TIME_WAIT on <paramref name="port"/> split by
    /// which side closed first.</summary>
    public static JsonLine Sample(JsonLine into, int port)
    {
        var k = ReadFds();
        long established = 0, closeWait = 0, other = 0, twClient = 0, twServer = 0, ownTcp = 0;
        foreach (var (local, remote, state, inode) in TcpRows())
        {
            if (k.SocketInodes.Contains(inode))
            {
                ownTcp++;
                switch (state)
                {
                    case "01": established++; break;
                    case "08": closeWait++; break;
                    default: other++; break;
                }
            }
            else if (state == "06" && remote == port)
            {
                twClient++;   // we closed first
            }
            else if (state == "06" && local == port)
            {
                twServer++;   // the server closed first
            }
        }

        long unix = 0;
        if (File.Exists("/proc/self/net/unix"))
        {
            foreach (var line in File.ReadLines("/proc/self/net/unix").Skip(1))
            {
                var p = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (p.Length > 6 && k.SocketInodes.Contains(p[6]))
                {
                    unix++;
                }
            }
        }

        return into.Add("fds", k.Fds).Add("epoll", k.Epoll).Add("pipe", k.Pipe).Add("eventfd", k.EventFd)
            .Add("unix", unix).Add("tcp_established", established).Add("tcp_close_wait", closeWait)
            .Add("tcp_other", other).Add("socket_other", k.SocketInodes.Count - ownTcp - unix)
            .Add("time_wait_client", twClient).Add("time_wait_server", twServer);
    }

    private static int Port(string hexEndpoint) =>
        int.Parse(hexEndpoint.AsSpan(hexEndpoint.LastIndexOf(':') + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    internal sealed class FdKinds
    {
        public HashSet<string> SocketInodes { get; } = new(StringComparer.Ordinal);

        public long Fds { get; set; }

        public long Epoll { get; set; }

        public long Pipe { get; set; }

        public long EventFd { get; set; }
    }
}
