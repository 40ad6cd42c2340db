using System.Diagnostics;
using Tether.Diagnostics;
using Xunit;

namespace Tether.Tests.Support;

/// <summary>
/// The "leaves nothing behind" check from the spec: after the last await and without forcing a GC, the ledger is
/// empty, the fd count equals the baseline, and no socket of this process is ESTABLISHED or CLOSE_WAIT towards the
/// test server. The baseline is taken after one warm-up fetch (the runtime opens its socket engine fds once).
/// </summary>
public sealed class LeakCheck
{
    private readonly int _serverPort;
    private readonly HashSet<int> _extraPorts;

    private readonly HashSet<string> _baselineFiles = FileTargets();

    private static HashSet<string> FileTargets()
    {
        var set = new HashSet<string>();
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                var target = new FileInfo(fd).LinkTarget;
                if (target is not null && target.StartsWith('/'))
                {
                    set.Add(target);
                }
            }
            catch (IOException)
            {
            }
        }

        return set;
    }

    private LeakCheck(int serverPort, CensusSnapshot baseline, IEnumerable<int> extraPorts)
    {
        _serverPort = serverPort;
        Baseline = baseline;
        _extraPorts = extraPorts.ToHashSet();
    }

    public CensusSnapshot Baseline { get; }

    private static bool s_warm;

    /// <summary>Warms up and takes the baseline once quiet. The warm-up exists because the runtime maps assemblies
    /// (each an fd that stays open for the life of the process) the first time a code path needs them. The test
    /// project turns tiered compilation off (see the csproj) so that this happens at first call, not at a later
    /// tier-up; the first warm-up still runs a few rounds so every path (private pool, process pool, streamed body,
    /// close) has run once.</summary>
    public static LeakCheck Start(ServerFixture server, params int[] extraPorts)
    {
        var rounds = s_warm ? 1 : 5;
        for (var i = 0; i < rounds; i++)
        {
            WarmUp(server);
        }

        if (!s_warm)
        {
            // Runtime assemblies that reset, abort and name-resolution paths map lazily (one fd each, once per
            // process); map them now so that a test that first takes such a path does not see them as a leak.
            foreach (var name in new[] { "System.Net.NetworkInformation", "System.Net.Quic", "System.Text.Encodings.Web", "System.Text.Json" })
            {
                _ = System.Reflection.Assembly.Load(name);
            }

            Thread.Sleep(200);
            s_warm = true;
        }

        var port = server.Server.Port;
        var baseline = WaitQuiet(port, extraPorts);
        return new LeakCheck(port, baseline, extraPorts);
    }

    private static void WarmUp(ServerFixture server)
    {
        EventLoop.Run(async () =>
        {
            var client = new AsyncHttpClient();
            await client.FetchAsync(server.Url("/hello").ToString());
            var leasing = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = ConnectionPool.Process });
            await using (var streamed = await leasing.FetchStreamAsync(server.Url("/hello").ToString()))
            {
                await streamed.BodyStream.CopyToAsync(Stream.Null);
            }
        });
        ConnectionPool.Process.CloseIdleConnections();
    }

    /// <summary>Asserts the clean state, giving the server side up to 3 s to finish closing its ends.</summary>
    public CensusSnapshot AssertClean(int allowedExtraFds = 0)
    {
        Assert.Empty(SocketLedger.Snapshot());
        var deadline = Stopwatch.StartNew();
        CensusSnapshot now;
        while (true)
        {
            now = SocketCensus.Take();
            var open = TowardsServer(now);
            if (now.TotalFds - Baseline.TotalFds == allowedExtraFds + SymbolFilesOpenedSinceBaseline() && open == 0 && now.OtherSockets == 0)
            {
                break;
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(3))
            {
                break;
            }

            Thread.Sleep(20);
        }

        Assert.True(TowardsServer(now) == 0,
            $"sockets still ESTABLISHED/CLOSE_WAIT towards port {_serverPort}: " +
            string.Join(", ", now.TcpSockets.Where(IsTowardsServer)));
        var symbols = SymbolFilesOpenedSinceBaseline();
        Assert.True(Baseline.TotalFds + allowedExtraFds + symbols == now.TotalFds,
            $"fd count {now.TotalFds} != baseline {Baseline.TotalFds} + {allowedExtraFds} + {symbols} symbol file(s); " +
            $"delta: {now.Delta(Baseline)}; new files: " + string.Join(", ", FileTargets().Except(_baselineFiles)));
        return now;
    }

    /// <summary>
    /// The one exception to an exact fd count: the runtime's stack-trace reader opens an assembly's .pdb the first
    /// time it formats a frame of that assembly with file and line (an allocation site, an exception's text) and keeps
    /// it open for the life of the process. Which test does that first depends on test order, so a .pdb opened since
    /// the baseline is accounted for by name. Every socket, pipe, epoll, eventfd and other file still counts exactly.
    /// </summary>
    private int SymbolFilesOpenedSinceBaseline() =>
        FileTargets().Except(_baselineFiles).Count(static f => f.EndsWith(".pdb", StringComparison.Ordinal));

    private int TowardsServer(CensusSnapshot snapshot) => snapshot.TcpSockets.Count(IsTowardsServer);

    private bool IsTowardsServer(CensusSocket s) =>
        s.State is TcpState.Established or TcpState.CloseWait
        && (s.Remote.Port == _serverPort || s.Local.Port == _serverPort || _extraPorts.Contains(s.Remote.Port) || _extraPorts.Contains(s.Local.Port));

    /// <summary>Waits until no connection to the server is open (server ends included) and returns the census.</summary>
    private static CensusSnapshot WaitQuiet(int port, int[] extraPorts)
    {
        // Earlier tests (child processes, their stdio pipes) may still be releasing fds through finalizers: let them
        // finish *before* the baseline. The check after the test never forces a GC.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        // Quiet = nothing open towards the server, no socket fd mid-close, and three snapshots 50 ms apart agree.
        var sw = Stopwatch.StartNew();
        CensusSnapshot? previous = null;
        var stable = 0;
        while (true)
        {
            var snapshot = SocketCensus.Take();
            var busy = snapshot.OtherSockets > 0 || snapshot.TcpSockets.Any(s => s.State is TcpState.Established or TcpState.CloseWait
                && (s.Remote.Port == port || s.Local.Port == port || extraPorts.Contains(s.Remote.Port)));
            stable = !busy && previous?.TotalFds == snapshot.TotalFds && previous.Pipes == snapshot.Pipes ? stable + 1 : 0;
            if (stable >= 2 || sw.Elapsed > TimeSpan.FromSeconds(3))
            {
                return snapshot;
            }

            previous = busy ? null : snapshot;
            Thread.Sleep(50);
        }
    }
}
