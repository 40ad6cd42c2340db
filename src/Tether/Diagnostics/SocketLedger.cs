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

    internal static IEnumerable<TrackedConnection> Live => s_live.Values;

    internal static void Add(TrackedConnection connection) => s_live[connection.Id] = connection;

    internal static void Remove(TrackedConnection connection) => s_live.TryRemove(connection.Id, out _);
}
