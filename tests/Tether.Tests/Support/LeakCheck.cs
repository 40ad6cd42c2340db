using System.Diagnostics;
using Tether.Diagnostics;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Support;

/// <summary>
/// The "leaves nothing behind" check from the spec's Clean rule (revised 2026-11-30): after the last await and
/// without forcing a GC, the ledger holds no entry towards the test's own server port(s) (so none of the client or
/// pool under test), and no socket of this process is ESTABLISHED or CLOSE_WAIT towards those port(s) — neither a
/// client end nor the in-process server's end. The sockets are read from this process's own fds
/// (<see cref="OwnTcpSockets"/>: the same kernel state as the census, without reading the whole TCP tables each time);
/// a failure is described from the census, reconciled against the ledger.
/// </summary>
/// <remarks>
/// It never compares whole-process fd counts: the runtime maps files and opens fds lazily (tier-1 recompiles,
/// <c>System.Net.Quic</c>, <c>.pdb</c> files) and parallel tests open their own sockets. Exact fd deltas are asserted
/// only in a child process (Loop/ChildProcessScenarioTests, Tether.ExitProbe). Because each test class has its own
/// server port, sockets of tests running in parallel are never counted.
/// </remarks>
public sealed class LeakCheck
{
    /// <summary>How long the server ends get to finish closing after the client closed its end. The client side
    /// (ledger) is asserted at once; only the in-process server's close is waited for, on a loaded 2-core machine
    /// Kestrel needs well under a second for it, so 15 s is a wide margin and is only spent when the test fails.</summary>
    private static readonly TimeSpan ServerCloseWait = TimeSpan.FromSeconds(15);

    private readonly HashSet<int> _ports;

    private LeakCheck(IEnumerable<int> ports)
    {
        _ports = ports.Where(static p => p > 0).ToHashSet();
    }

    /// <summary>The ports this check watches.</summary>
    public IReadOnlyCollection<int> Ports => _ports;

    /// <summary>Starts a check for the class's server and any further ports the test talks to (hostile servers,
    /// proxies, TLS servers).</summary>
    public static LeakCheck Start(ServerFixture server, params int[] extraPorts) =>
        Start(server.Server.Port, extraPorts);

    /// <summary>Starts a check for a server the test started itself.</summary>
    public static LeakCheck Start(KestrelTestServer server, params int[] extraPorts) =>
        Start(server.Port, extraPorts);

    /// <summary>Starts a check for the given server port(s). Waits (bounded) until nothing of an earlier test in the
    /// same class is still open towards them, so that a socket seen at the end belongs to this test.</summary>
    public static LeakCheck Start(int port, params int[] extraPorts)
    {
        var check = new LeakCheck(extraPorts.Prepend(port));
        check.WaitUntilClosed("at the start of the test (left by an earlier test of this class)");
        return check;
    }

    /// <summary>Asserts the clean state: no ledger entry towards the test's ports (checked at once), and no
    /// ESTABLISHED/CLOSE_WAIT socket of this process towards them (the server ends get a bounded time to close).
    /// For a synchronous test (one that runs a loop on its own thread); an async test uses <see cref="AssertCleanAsync"/>.
    /// </summary>
    public void AssertClean()
    {
        AssertNoLedgerEntries();
        if (!WaitUntilClosed("after the test"))
        {
            Assert.Fail(Describe(SocketCensus.Take()));
        }
    }

    /// <summary>As <see cref="AssertClean"/>, waiting with <c>await</c> instead of blocking a thread: the closes it
    /// waits for (the in-process server's ends) run on the thread pool, and a test that sleeps on a pool thread while
    /// waiting for them takes a thread from the work it waits for (with 2 cores the pool starts at 2 threads and adds
    /// one about every 500 ms when all are busy). Use it in every async test.</summary>
    /// <returns>A task that completes when the check passed.</returns>
    public Task AssertCleanAsync() => AssertCleanAsync(ServerCloseWait);

    /// <summary>As <see cref="AssertCleanAsync()"/> with a shorter wait for the server ends: for the check's own test,
    /// which leaves a socket open on purpose.</summary>
    internal async Task AssertCleanAsync(TimeSpan serverCloseWait)
    {
        AssertNoLedgerEntries();
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (IsClosed())
            {
                return;
            }

            if (sw.Elapsed > serverCloseWait)
            {
                Assert.Fail(Describe(SocketCensus.Take(), serverCloseWait));
            }

            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Ledger entries whose peer or origin is one of the watched ports.</summary>
    public IReadOnlyList<LedgerEntry> LedgerEntriesTowardsPorts() =>
        SocketLedger.Snapshot().Where(IsTowardsPorts).ToArray();

    private bool IsTowardsPorts(LedgerEntry e) =>
        (e.RemoteEndPoint is { } remote && _ports.Contains(remote.Port))
        || _ports.Any(p => e.HostKey.EndsWith(":" + p.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));

    private bool IsOpenTowardsPorts(CensusSocket s) =>
        s.State is TcpState.Established or TcpState.CloseWait
        && (_ports.Contains(s.Remote.Port) || (_ports.Contains(s.Local.Port) && s.Remote.Port != 0));

    private bool WaitUntilClosed(string when)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (IsClosed())
            {
                return true;
            }

            if (sw.Elapsed > ServerCloseWait)
            {
                if (when.StartsWith("at the start", StringComparison.Ordinal))
                {
                    Assert.Fail($"{when}: " + Describe(SocketCensus.Take()));
                }

                return false;
            }

            Thread.Sleep(20);
        }
    }

    // The client side is asserted at once: a ledger entry left after the test's last await is a leak, not a close in
    // flight.
    private void AssertNoLedgerEntries()
    {
        var entries = LedgerEntriesTowardsPorts();
        Assert.True(entries.Count == 0,
            $"ledger entries towards port(s) {string.Join(",", _ports)} still live after the test:\n  " +
            string.Join("\n  ", entries));
    }

    private bool IsClosed() => LedgerEntriesTowardsPorts().Count == 0 && !OwnTcpSockets.AnyOpenTowards(_ports);

    private string Describe(CensusSnapshot now) => Describe(now, ServerCloseWait);

    private string Describe(CensusSnapshot now, TimeSpan waited)
    {
        var report = SocketLedger.Reconcile(now);
        var owned = report.Owned.Where(o => IsOpenTowardsPorts(o.Socket))
            .Select(o => $"{o.Socket} owned by {o.Entry.Pool} (ledger #{o.Entry.Id}, {o.Entry.State}, opened at {o.Entry.AllocationSite})");
        var unowned = report.Unowned.Where(IsOpenTowardsPorts)
            .Select(s => _ports.Contains(s.Local.Port) ? $"{s} (server end)" : $"{s} (not in the ledger)");
        return $"sockets still ESTABLISHED/CLOSE_WAIT towards port(s) {string.Join(",", _ports)} after " +
               $"{waited.TotalSeconds:0.#} s:\n  " + string.Join("\n  ", owned.Concat(unowned)) +
               "\nledger towards these ports: " + string.Join("; ", LedgerEntriesTowardsPorts());
    }
}
