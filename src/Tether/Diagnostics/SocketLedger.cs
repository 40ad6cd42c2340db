using System.Collections.Concurrent;

namespace Tether.Diagnostics;

/// <summary>
/// The live ledger of every socket that every Tether <see cref="ConnectionPool"/> in this process owns.
/// </summary>
/// <remarks>
/// A socket enters the ledger when a pool's connect callback creates it (state <see cref="ConnectionState.Connecting"/>)
/// and leaves it when its file descriptor is closed. The ledger is deterministic bookkeeping, not GC liveness:
/// an entry exists exactly while the fd is open. Thread-safe; snapshots are copies.
/// </remarks>
public static class SocketLedger
{
    private static readonly ConcurrentDictionary<long, TrackedConnection> s_live = new();

    /// <summary>The number of sockets currently owned by Tether pools.</summary>
    public static int Count => s_live.Count;

    /// <summary>A copy of every live entry, ordered by id.</summary>
    /// <returns>The snapshot.</returns>
    public static IReadOnlyList<LedgerEntry> Snapshot() =>
        s_live.Values.Select(static c => c.ToEntry()).OrderBy(static e => e.Id).ToArray();

    /// <summary>The number of live entries in <paramref name="state"/>.</summary>
    /// <param name="state">The state to count.</param>
    /// <returns>The count.</returns>
    public static int CountIn(ConnectionState state) => s_live.Values.Count(c => c.State == state);

    /// <summary>Matches a census of this process against the ledger (DIAG-05): which OS sockets Tether owns, which
    /// it does not, and which ledger entries the OS did not show.</summary>
    /// <param name="census">A census of the current process, e.g. <c>SocketCensus.Take()</c>.</param>
    /// <returns>The three lists.</returns>
    /// <exception cref="ArgumentException">The census is of another process.</exception>
    /// <example>
    /// <code>
    /// var report = SocketLedger.Reconcile(SocketCensus.Take());
    /// foreach (var socket in report.Unowned.Where(s => s.State == TcpState.Established))
    ///     Console.WriteLine($"not Tether's: {socket}");
    /// </code>
    /// </example>
    public static LedgerReconciliation Reconcile(CensusSnapshot census)
    {
        ArgumentNullException.ThrowIfNull(census);
        if (census.Pid != Environment.ProcessId)
        {
            throw new ArgumentException(
                $"The census is of PID {census.Pid}, but the ledger is this process's (PID {Environment.ProcessId}); take it with SocketCensus.Take().",
                nameof(census));
        }

        var entries = Snapshot();
        var byEndpoints = new Dictionary<(string Local, string Remote), LedgerEntry>();
        foreach (var entry in entries)
        {
            if (entry.LocalEndPoint is { } local && entry.RemoteEndPoint is { } remote)
            {
                byEndpoints[(Key(local), Key(remote))] = entry;
            }
        }

        var owned = new List<(CensusSocket, LedgerEntry)>();
        var unowned = new List<CensusSocket>();
        var seen = new HashSet<long>();
        foreach (var socket in census.TcpSockets)
        {
            if (byEndpoints.TryGetValue((Key(socket.Local), Key(socket.Remote)), out var entry))
            {
                owned.Add((socket, entry));
                seen.Add(entry.Id);
            }
            else
            {
                unowned.Add(socket);
            }
        }

        return new LedgerReconciliation(owned, unowned, entries.Where(e => !seen.Contains(e.Id)).ToArray());
    }

    private static string Key(System.Net.IPEndPoint endPoint)
    {
        var address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        return $"{address}:{endPoint.Port}";
    }

    internal static IEnumerable<TrackedConnection> Live => s_live.Values;

    internal static void Add(TrackedConnection connection) => s_live[connection.Id] = connection;

    internal static void Remove(TrackedConnection connection) => s_live.TryRemove(connection.Id, out _);
}
