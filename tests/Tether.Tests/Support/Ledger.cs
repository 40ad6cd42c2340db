using Tether.Diagnostics;

namespace Tether.Tests.Support;

/// <summary>
/// The ledger seen by one test: only entries whose peer or origin is one of that test's own server ports. Tests run
/// in parallel (issue 13) and <see cref="SocketLedger"/> is process-wide, so a test never asserts on the whole
/// ledger (a parallel test's sockets are in it too), only on its own ports.
/// </summary>
public static class Ledger
{
    /// <summary>Live ledger entries towards any of <paramref name="ports"/> (peer port, or origin port in the pool
    /// key, which covers connections still connecting and connections through a proxy).</summary>
    public static IReadOnlyList<LedgerEntry> Towards(params int[] ports) =>
        SocketLedger.Snapshot().Where(e => ports.Any(p =>
            e.RemoteEndPoint?.Port == p
            || e.HostKey.EndsWith(":" + p.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal))).ToArray();

    /// <summary>Live ledger entries of one pool (by its name).</summary>
    public static IReadOnlyList<LedgerEntry> Of(ConnectionPool pool) =>
        SocketLedger.Snapshot().Where(e => e.Pool == pool.Name).ToArray();
}
