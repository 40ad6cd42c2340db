using System.Buffers;
using System.Globalization;
using System.IO.Enumeration;
using System.Net;
using System.Runtime.InteropServices;

namespace Tether.Diagnostics;

/// <summary>
/// Takes an OS socket census of a process: every fd by kind, TCP sockets by state, and the TIME_WAIT
/// sockets (which have no fd) attributed to the process's ports. Linux only; reads procfs.
/// </summary>
/// <example>
/// <code>
/// var before = SocketCensus.Take();
/// await DoWorkAsync();
/// var delta = SocketCensus.Take().Delta(before);
/// Console.WriteLine(delta);   // fds=+0 tcp[ESTABLISHED=+0 ...] ...
/// </code>
/// </example>
/// <remarks>
/// <para>
/// How a snapshot is taken, in one pass:
/// 1. List <c>/proc/&lt;pid&gt;/fd</c> (the directory handle is closed before step 2), then
///    <c>readlink</c> every entry and classify the target: <c>socket:[inode]</c>, <c>pipe:[…]</c>,
///    <c>anon_inode:[eventpoll]</c>, <c>anon_inode:[eventfd]</c>, other <c>anon_inode:</c>, paths under
///    <c>/dev/</c> (devices), other absolute paths (files), anything else (other). Socket inodes go into
///    a dictionary inode → fd.
/// 2. Walk <c>/proc/&lt;pid&gt;/net/tcp</c>, <c>tcp6</c>, <c>udp</c>, <c>udp6</c> and <c>unix</c>.
///    A line whose inode is in the dictionary is classified and removed from it; sockets left over
///    are <see cref="CensusSnapshot.OtherSockets"/> (netlink, raw, unbound TCP sockets, or sockets
///    already gone from the tables).
/// 3. TIME_WAIT lines (inode 0, no owner) are kept with their endpoints and attributed by the rule in
///    <see cref="CensusSnapshot.TimeWaitClientSide"/> and <see cref="CensusSnapshot.TimeWaitServerSide"/>.
/// </para>
/// <para>
/// Races: an fd that closes between the listing and its <c>readlink</c> is skipped and not counted, so
/// <see cref="CensusSnapshot.TotalFds"/> is the number of entries that were still open when read. A link that cannot be
/// read although the directory could be listed (another user's process without CAP_SYS_PTRACE: listing needs read
/// permission on the directory, <c>readlink</c> needs ptrace access) is not skipped: the census fails with
/// <see cref="CensusErrorReason.AccessDenied"/> rather than report a process with no fds. When
/// the census is taken of the current process, the directory handle used for the listing is one of the
/// listed entries; it is closed before step 1 reads links, so it is skipped and never counted. The
/// <c>/proc/net</c> files are opened after the fd pass, so they are not counted either. The kernel
/// tables are not read atomically: a socket that changes state during the census is seen once, in
/// either state.
/// </para>
/// <para>Thread-safety: all members are static and thread-safe. Each call allocates its own state.</para>
/// </remarks>
public static class SocketCensus
{
    private const string DefaultProcRoot = "/proc";

    private static int s_bufferHint;

    /// <summary>Takes a census of the current process.</summary>
    /// <returns>The snapshot.</returns>
    /// <exception cref="CensusException">Not Linux, or procfs is not mounted (<see cref="CensusErrorReason.ProcUnavailable"/>).</exception>
    public static CensusSnapshot Take() => Take(Environment.ProcessId, null, DefaultProcRoot);

    /// <summary>Takes a census of the process <paramref name="pid"/>.</summary>
    /// <param name="pid">The process id.</param>
    /// <returns>The snapshot.</returns>
    /// <exception cref="CensusException">
    /// The process does not exist or has exited (<see cref="CensusErrorReason.ProcessNotFound"/>; a zombie, dead but
    /// not yet reaped by its parent, has exited), its fds cannot be read
    /// by this user (<see cref="CensusErrorReason.AccessDenied"/>), or procfs is missing
    /// (<see cref="CensusErrorReason.ProcUnavailable"/>).
    /// </exception>
    public static CensusSnapshot Take(int pid) => Take(pid, null, DefaultProcRoot);

    /// <summary>Takes a census of the process <paramref name="pid"/> with extra options.</summary>
    /// <param name="pid">The process id.</param>
    /// <param name="options">Ports of external servers to attribute client-side TIME_WAIT to.</param>
    /// <returns>The snapshot.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">
    /// A port in <see cref="CensusOptions.Ports"/> or <see cref="CensusOptions.RemoteEndPoints"/> is outside 1–65535.
    /// </exception>
    /// <exception cref="CensusException">See <see cref="Take(int)"/>.</exception>
    public static CensusSnapshot Take(int pid, CensusOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (int port in options.Ports)
        {
            if (port is < 1 or > 65535)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(options), port, $"CensusOptions.Ports contains {port}; each port must be in 1-65535.");
            }
        }

        foreach (IPEndPoint endPoint in options.RemoteEndPoints)
        {
            ArgumentNullException.ThrowIfNull(endPoint, nameof(options));
            if (endPoint.Port is < 1 or > 65535)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(options), endPoint, $"CensusOptions.RemoteEndPoints contains {endPoint}; each port must be in 1-65535.");
            }
        }

        return Take(pid, options, DefaultProcRoot);
    }

    // The seam for tests: procRoot points at a fake procfs tree to reach error paths that root cannot
    // provoke for real (root bypasses file permissions).
    internal static CensusSnapshot Take(int pid, CensusOptions? options, string procRoot)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw CensusException.Unavailable(pid, $"this is {RuntimeInformation.OSDescription}, not Linux");
        }

        if (!Directory.Exists(procRoot))
        {
            throw CensusException.Unavailable(pid, $"{procRoot} does not exist (procfs not mounted?)");
        }

        DateTimeOffset takenAt = DateTimeOffset.UtcNow;
        string pidDir = Path.Join(procRoot, pid.ToString(CultureInfo.InvariantCulture));
        string fdDir = Path.Join(pidDir, "fd");
        int[] fds = ListFds(pid, pidDir, fdDir);

        var counts = new CensusSnapshot.Builder(pid, takenAt);
        var sockets = new Dictionary<ulong, SocketRef>();
        foreach (int fd in fds)
        {
            string? target = ReadLink(pid, pidDir, fdDir, fd);
            if (target is null)
            {
                continue; // closed since the listing (or the listing's own directory handle)
            }

            counts.TotalFds++;
            ClassifyFd(fd, target, counts, sockets);
        }

        // Sized from the last census: the kernel fills one read() in one pass over its table, and every further read
        // re-seeks by position, which skips entries when earlier ones went away meanwhile (busy hosts churn thousands).
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(64 * 1024, Volatile.Read(ref s_bufferHint)));
        try
        {
            string netDir = Path.Join(pidDir, "net");
            var timeWait = new List<(int LocalPort, IPEndPoint Remote)>();
            var listenPorts = new HashSet<int>();
            var tcpSockets = new List<CensusSocket>();
            var tcp = new int[12];
            ScanTcp(pid, pidDir, Path.Join(netDir, "tcp"), ref buffer, sockets, tcp, tcpSockets, listenPorts, timeWait);
            ScanTcp(pid, pidDir, Path.Join(netDir, "tcp6"), ref buffer, sockets, tcp, tcpSockets, listenPorts, timeWait);
            counts.UdpSockets += ScanInodes(pid, pidDir, Path.Join(netDir, "udp"), ref buffer, sockets, 9);
            counts.UdpSockets += ScanInodes(pid, pidDir, Path.Join(netDir, "udp6"), ref buffer, sockets, 9);
            counts.UnixSockets += ScanInodes(pid, pidDir, Path.Join(netDir, "unix"), ref buffer, sockets, 6);
            foreach (SocketRef left in sockets.Values)
            {
                counts.OtherSockets += left.Refs;
            }

            Volatile.Write(ref s_bufferHint, Math.Min(buffer.Length, 64 * 1024 * 1024));
            tcpSockets.Sort(static (a, b) => a.Fd.CompareTo(b.Fd));
            // A dead process that its parent has not reaped yet (a zombie) keeps its /proc directory with an empty fd
            // table, so its census reads 0 fds as if it held nothing: refused instead (newcomer tour 2026-12-02:
            // `tether watch --fail-on-growth` passed for a leaking service that had crashed). Read after the census, so
            // a process that died while it was taken is refused too; never for this process, which is running.
            if (pid != Environment.ProcessId && ExitedState(pid, pidDir) is { } exited)
            {
                throw CensusException.Exited(pid, exited);
            }

            return counts.Build(new TcpStateCounts(tcp), tcpSockets, listenPorts, options, timeWait);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // Why pid is no longer running although its /proc directory exists, or null when it runs (or its state cannot be
    // read, as in a fake procfs tree without a stat file). /proc/PID/stat: the command name is in parentheses and may
    // hold spaces or ')', so the fields after the last ')' are state, then the parent's pid.
    private static string? ExitedState(int pid, string pidDir)
    {
        string stat;
        try
        {
            stat = File.ReadAllText(Path.Join(pidDir, "stat"));
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return Directory.Exists(pidDir) ? null : $"/proc/{pid} is gone";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // the fds were readable: nothing more to learn here
        }

        string[] fields = stat[(stat.LastIndexOf(')') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length >= 2 && fields[0] is ("Z" or "X")
            ? $"it is a zombie (state {fields[0]} in /proc/{pid}/stat) that its parent (pid {fields[1]}) has not reaped yet"
            : null;
    }

    private static int[] ListFds(int pid, string pidDir, string fdDir)
    {
        try
        {
            // Materialized first so the directory handle is closed before any readlink (see remarks).
            var enumerable = new FileSystemEnumerable<int>(
                fdDir,
                static (ref FileSystemEntry entry) =>
                    int.TryParse(entry.FileName, NumberStyles.None, CultureInfo.InvariantCulture, out int fd) ? fd : -1,
                new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false, RecurseSubdirectories = false });
            var list = new List<int>(64);
            foreach (int fd in enumerable)
            {
                if (fd >= 0)
                {
                    list.Add(fd);
                }
            }

            return [.. list];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (!Directory.Exists(pidDir))
            {
                throw CensusException.NotFound(pid, ex);
            }

            throw CensusException.Denied(pid, fdDir, ex);
        }
    }

    // readlink of one fd entry. FileSystemInfo.LinkTarget answers null both when the fd closed since the listing and
    // when readlink is denied (EACCES: the directory may be listed by its owner's group or by root without
    // CAP_SYS_PTRACE, but each link needs ptrace read access). /proc/<pid>/fdinfo/<fd> is guarded by the same ptrace
    // check, so opening it tells the two apart: gone (ENOENT) is skipped, denied fails the census.
    private static string? ReadLink(int pid, string pidDir, string fdDir, int fd)
    {
        string name = fd.ToString(CultureInfo.InvariantCulture);
        string path = Path.Join(fdDir, name);
        try
        {
            string? target = new FileInfo(path).LinkTarget;
            if (target is not null)
            {
                return target;
            }
        }
        catch (UnauthorizedAccessException ex)
        {
            throw CensusException.LinksDenied(pid, path, ex);
        }
        catch (IOException)
        {
            // fall through to the fdinfo probe
        }

        try
        {
            File.OpenHandle(Path.Join(pidDir, "fdinfo", name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite).Dispose();
        }
        catch (UnauthorizedAccessException ex)
        {
            throw CensusException.LinksDenied(pid, path, ex);
        }
        catch (IOException)
        {
            // gone: closed since the listing (or no fdinfo, as in a copied /proc tree)
        }

        return null;
    }

    private static void ClassifyFd(int fd, string target, CensusSnapshot.Builder counts, Dictionary<ulong, SocketRef> sockets)
    {
        ReadOnlySpan<char> t = target;
        if (t.StartsWith("socket:[", StringComparison.Ordinal) && t.EndsWith(']')
            && ulong.TryParse(t[8..^1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong inode))
        {
            ref SocketRef slot = ref CollectionsMarshal.GetValueRefOrAddDefault(sockets, inode, out bool exists);
            slot = exists ? slot with { Refs = slot.Refs + 1 } : new SocketRef(fd, 1);
        }
        else if (t.StartsWith("pipe:[", StringComparison.Ordinal))
        {
            counts.Pipes++;
        }
        else if (t.SequenceEqual("anon_inode:[eventpoll]"))
        {
            counts.Epoll++;
        }
        else if (t.SequenceEqual("anon_inode:[eventfd]"))
        {
            counts.EventFd++;
        }
        else if (t.StartsWith("/dev/", StringComparison.Ordinal))
        {
            counts.Devices++;
        }
        else if (t.StartsWith('/'))
        {
            counts.Files++;
        }
        else
        {
            counts.OtherFds++; // other anon_inode kinds (timerfd, signalfd, …), net:[…], mnt:[…]
        }
    }

    private static void ScanTcp(
        int pid,
        string pidDir,
        string path,
        ref byte[] buffer,
        Dictionary<ulong, SocketRef> sockets,
        int[] tcp,
        List<CensusSocket> tcpSockets,
        HashSet<int> listenPorts,
        List<(int LocalPort, IPEndPoint Remote)> timeWait)
    {
        var endPoints = new Dictionary<ulong, IPEndPoint>();
        HashSet<(ulong, ulong)>? seenV4 = null;
        HashSet<string>? seenOther = null;
        int length = Read(pid, pidDir, path, ref buffer);
        ReadOnlySpan<byte> rest = buffer.AsSpan(0, Math.Max(length, 0));
        SkipLine(ref rest); // header
        while (!rest.IsEmpty)
        {
            ReadOnlySpan<byte> line = TakeLine(ref rest);
            ProcNetReader.NextField(ref line); // "sl:"
            ReadOnlySpan<byte> local = ProcNetReader.NextField(ref line);
            ReadOnlySpan<byte> remote = ProcNetReader.NextField(ref line);
            if (!ProcNetReader.TryParseHex(ProcNetReader.NextField(ref line), out uint st) || st is < 1 or > 11)
            {
                continue;
            }

            ProcNetReader.SkipFields(ref line, 5); // tx:rx, tr:when, retrnsmt, uid, timeout
            if (!ProcNetReader.TryParseInode(ProcNetReader.NextField(ref line), out ulong inode))
            {
                continue;
            }

            var state = (TcpState)st;
            if (inode == 0)
            {
                if (state == TcpState.TimeWait && FirstSighting(local, remote, ref seenV4, ref seenOther))
                {
                    timeWait.Add((ProcNetReader.Port(local), RemoteOf(remote, endPoints)));
                }

                continue;
            }

            if (!sockets.Remove(inode, out SocketRef owner))
            {
                continue; // another process's socket
            }

            tcp[st] += owner.Refs;
            var socket = new CensusSocket(inode, owner.Fd, ProcNetReader.ParseEndPoint(local), ProcNetReader.ParseEndPoint(remote), state);
            tcpSockets.Add(socket);
            if (state == TcpState.Listen)
            {
                listenPorts.Add(socket.Local.Port);
            }
        }
    }

    private static int ScanInodes(int pid, string pidDir, string path, ref byte[] buffer, Dictionary<ulong, SocketRef> sockets, int inodeField)
    {
        if (sockets.Count == 0)
        {
            return 0; // nothing left to classify; skip the read
        }

        int found = 0;
        int length = Read(pid, pidDir, path, ref buffer);
        ReadOnlySpan<byte> rest = buffer.AsSpan(0, Math.Max(length, 0));
        SkipLine(ref rest);
        while (!rest.IsEmpty && sockets.Count > 0)
        {
            ReadOnlySpan<byte> line = TakeLine(ref rest);
            ProcNetReader.SkipFields(ref line, inodeField);
            if (ProcNetReader.TryParseInode(ProcNetReader.NextField(ref line), out ulong inode)
                && sockets.Remove(inode, out SocketRef owner))
            {
                found += owner.Refs;
            }
        }

        return found;
    }

    private static int Read(int pid, string pidDir, string path, ref byte[] buffer)
    {
        try
        {
            int length = ProcNetReader.ReadAll(path, ref buffer);
            if (length < 0 && !Directory.Exists(pidDir))
            {
                throw CensusException.NotFound(pid, null); // exited during the census
            }

            return length; // -1: table absent (e.g. IPv6 disabled), treated as empty
        }
        catch (UnauthorizedAccessException ex)
        {
            throw CensusException.Denied(pid, path, ex);
        }
        catch (IOException ex)
        {
            if (!Directory.Exists(pidDir))
            {
                throw CensusException.NotFound(pid, ex);
            }

            throw CensusException.Denied(pid, path, ex);
        }
    }

    // Whether this (local, remote) pair is seen for the first time in this table. The kernel hands /proc/net/tcp out one
    // page (about 27 lines) per read() and resumes each read at (hash bucket, offset in it); a connection hashed into
    // that bucket in between shifts the offset, so a line already read is read again (or one is skipped). Measured on a
    // busy loopback: 44 repeated lines per read of 15,000. A socket with an inode is counted once by its inode anyway;
    // a TIME_WAIT line has none, and a 4-tuple is unique in the kernel, so a repeated pair is such a re-read.
    private static bool FirstSighting(ReadOnlySpan<byte> local, ReadOnlySpan<byte> remote, ref HashSet<(ulong, ulong)>? seenV4, ref HashSet<string>? seenOther)
    {
        if (local.Length == 13 && remote.Length == 13 && local[8] == (byte)':' && remote[8] == (byte)':'
            && ProcNetReader.TryParseHex(local[..8], out uint la) && ProcNetReader.TryParseHex(local[9..], out uint lp)
            && ProcNetReader.TryParseHex(remote[..8], out uint ra) && ProcNetReader.TryParseHex(remote[9..], out uint rp))
        {
            return (seenV4 ??= []).Add((((ulong)la << 16) | lp, ((ulong)ra << 16) | rp));
        }

        return (seenOther ??= new HashSet<string>(StringComparer.Ordinal)).Add(
            string.Concat(System.Text.Encoding.ASCII.GetString(local), " ", System.Text.Encoding.ASCII.GetString(remote)));
    }

    // The remote endpoint of a TIME_WAIT line. A busy host has thousands of TIME_WAIT entries towards a handful of
    // servers, so an IPv4 (or IPv4-mapped IPv6) endpoint is built once per distinct address and port, keyed by the
    // kernel's hex word and port; other IPv6 endpoints are parsed each time (rare).
    private static IPEndPoint RemoteOf(ReadOnlySpan<byte> field, Dictionary<ulong, IPEndPoint> cache)
    {
        int colon = field.LastIndexOf((byte)':');
        ReadOnlySpan<byte> word = colon == 8 ? field[..8]
            : colon == 32 && field[..24].SequenceEqual("0000000000000000FFFF0000"u8) ? field[24..32]
            : default;
        if (!word.IsEmpty && ProcNetReader.TryParseHex(word, out uint address) && ProcNetReader.TryParseHex(field[(colon + 1)..], out uint port))
        {
            ulong key = ((ulong)address << 16) | port;
            if (!cache.TryGetValue(key, out IPEndPoint? endPoint))
            {
                endPoint = Unmap(ProcNetReader.ParseEndPoint(field));
                cache[key] = endPoint;
            }

            return endPoint;
        }

        return Unmap(ProcNetReader.ParseEndPoint(field));
    }

    /// <summary>An IPv4-mapped IPv6 endpoint (from tcp6) in its IPv4 form, so one server has one key.</summary>
    internal static IPEndPoint Unmap(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;

    private static ReadOnlySpan<byte> TakeLine(ref ReadOnlySpan<byte> rest)
    {
        int nl = rest.IndexOf((byte)'\n');
        ReadOnlySpan<byte> line = nl < 0 ? rest : rest[..nl];
        rest = nl < 0 ? default : rest[(nl + 1)..];
        return line;
    }

    private static void SkipLine(ref ReadOnlySpan<byte> rest) => TakeLine(ref rest);

    private readonly record struct SocketRef(int Fd, int Refs);
}
