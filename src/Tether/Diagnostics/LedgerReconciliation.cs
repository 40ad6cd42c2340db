namespace Tether.Diagnostics;

/// <summary>The OS view (a <see cref="CensusSnapshot"/> of this process) matched against the
/// <see cref="SocketLedger"/>, by local and remote endpoint.</summary>
/// <param name="Owned">TCP sockets the census found that a ledger entry owns, with that entry.</param>
/// <param name="Unowned">TCP sockets of this process that no Tether pool owns: listeners, sockets made by other code
/// (another HTTP stack, a raw <see cref="System.Net.Sockets.Socket"/>), and the server ends of in-process servers.
/// Each carries its endpoints, state and fd, so the caller can tell them apart.</param>
/// <param name="NotInCensus">Ledger entries the census did not show (still connecting, or closed between the two
/// snapshots).</param>
public sealed record LedgerReconciliation(
    IReadOnlyList<(CensusSocket Socket, LedgerEntry Entry)> Owned,
    IReadOnlyList<CensusSocket> Unowned,
    IReadOnlyList<LedgerEntry> NotInCensus);
