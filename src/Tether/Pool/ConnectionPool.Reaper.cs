using System.Net.Sockets;
using Tether.Diagnostics;

namespace Tether;

/// <summary>Closing idle connections (the idle-close path, CORE-09): the reaper, <see cref="CloseIdleConnections"/>
/// and making room under the socket cap. A connection is closed here only when it is exactly idle: no request to its
/// origin is in flight in this pool, and none can start while it is being closed (the origin's slots are reserved
/// for that instant, and for an HTTP/2 connection until the handler has let go of it).</summary>
public sealed partial class ConnectionPool
{
    private ITimer? _reaper;

    /// <summary>The slots whose being all free proves <paramref name="connection"/> idle: its origin's, or the whole
    /// pool's for a plain-http proxy connection (the handler shares those across origins).</summary>
    internal AsyncFifoSemaphore? QuietSlotsOf(TrackedConnection connection) =>
        connection.SharedAcrossOrigins ? _totalSlots
        : _hostSlots.TryGetValue(connection.HostKey, out var host) ? host : null;

    /// <summary>Whether <paramref name="connection"/> carries nothing now (see <see cref="QuietSlotsOf"/>).</summary>
    internal bool IsIdle(TrackedConnection connection) => QuietSlotsOf(connection) is not { } slots || slots.IsQuiet;

    /// <summary>Closes up to <paramref name="max"/> open, exactly-idle connections for which <paramref name="which"/>
    /// holds (given the connection and how long it has been idle), longest idle first, those of
    /// <paramref name="preferAwayFrom"/> last.</summary>
    private int CloseIdle(Func<TrackedConnection, TimeSpan, bool> which, string? preferAwayFrom, int max)
    {
        var candidates = new List<(TrackedConnection Connection, AsyncFifoSemaphore? Slots, TimeSpan IdleFor)>();
        foreach (var connection in _connections.Values)
        {
            if (!connection.IsOpen)
            {
                continue;
            }

            var slots = QuietSlotsOf(connection);
            if (slots is not null && !slots.IsQuiet)
            {
                continue;
            }

            var quietSince = Math.Max(slots?.QuietSince ?? 0, connection.OpenedTimestamp);
            candidates.Add((connection, slots, Clock.Since(Time, quietSince)));
        }

        var closed = 0;
        // The slots this call reserved, each with the HTTP/2 connections closed under it whose handler has yet to let go.
        Dictionary<AsyncFifoSemaphore, List<Task>?>? held = null;
        try
        {
            foreach (var (connection, slots, idleFor) in candidates
                .OrderBy(c => c.Connection.HostKey == preferAwayFrom ? 1 : 0)
                .ThenByDescending(static c => c.IdleFor))
            {
                if (closed >= max)
                {
                    break;
                }

                if (!which(connection, idleFor))
                {
                    continue;
                }

                // Reserve the slots so that no request can start on this origin while we close, then check again.
                if (slots is not null && held?.ContainsKey(slots) != true)
                {
                    if (!slots.TryReserveAll())
                    {
                        continue;
                    }

                    (held ??= []).Add(slots, null);
                }

                if (connection.IsOpen)
                {
                    if (connection.CloseIdleUnderHandler(Options.IdleCloseMode) is { } released && slots is not null)
                    {
                        (held![slots] ??= []).Add(released);
                    }

                    closed++;
                }
            }
        }
        finally
        {
            if (held is not null)
            {
                foreach (var (slots, released) in held)
                {
                    if (released is null)
                    {
                        slots.ReleaseAll();
                    }
                    else
                    {
                        _ = ReleaseWhenHandlerLetGoAsync(slots, released);
                    }
                }
            }
        }

        return closed;
    }

    /// <summary>Bound on waiting for the handler to drop an HTTP/2 connection closed under it (it does so as soon as its
    /// reader's pending receive fails, within milliseconds); a safety net on real time, like the handler itself.</summary>
    private static readonly TimeSpan s_handlerLetGoBound = TimeSpan.FromSeconds(5);

    /// <summary>Keeps <paramref name="slots"/> reserved until the handler has let go of the HTTP/2 connections closed
    /// under it (<see cref="TrackedConnection.CloseIdleUnderHandler"/>), so that a request that starts meanwhile waits for
    /// the slots and then gets a new connection, instead of riding the closed one and failing with it.</summary>
    private static async Task ReleaseWhenHandlerLetGoAsync(AsyncFifoSemaphore slots, List<Task> released)
    {
        try
        {
            await Task.WhenAll(released).WaitAsync(s_handlerLetGoBound, TimeProvider.System).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The handler did not report it (should not happen): release anyway, as before this wait existed.
        }
        finally
        {
            slots.ReleaseAll();
        }
    }

    /// <summary>Closes the idle connections of <paramref name="hostKey"/> if that origin is idle (used when a
    /// response forbade reuse, e.g. HTTP/1.0 without keep-alive, which the handler would otherwise reuse).</summary>
    internal void CloseIdleOf(string hostKey) =>
        CloseIdle((connection, _) => connection.HostKey == hostKey, preferAwayFrom: null, max: int.MaxValue);

    private void StartReaper()
    {
        lock (_gate)
        {
            if (_reaper is not null || IsClosed)
            {
                return;
            }

            // No ExecutionContext flows into the timer: it must not capture a fetch's AsyncLocals. The pool's clock
            // drives it (issue 13: a fake clock in tests of the reaper).
            _reaper = Clock.CreateTimer(Time, static s => ((ConnectionPool)s!).Reap(), this, Options.ReaperInterval, Options.ReaperInterval);
        }
    }

    private void StopReaper()
    {
        lock (_gate)
        {
            _reaper?.Dispose();
            _reaper = null;
        }
    }

    /// <summary>One reaper tick: close idle connections the server closed (no CLOSE_WAIT lingers), those idle past
    /// <see cref="ConnectionPoolOptions.IdleTimeout"/> and those past their jittered lifetime; then drop the slot
    /// tables of origins with no connection and nothing in flight for an idle timeout (CORE-05).</summary>
    private void Reap()
    {
        var idleTimeout = Options.IdleTimeout;
        CloseIdle((connection, idleFor) =>
            (idleTimeout != Timeout.InfiniteTimeSpan && idleFor > idleTimeout) || connection.IsExpired || PeerClosed(connection.Socket),
            preferAwayFrom: null, max: int.MaxValue);
        EvictUnusedHosts();
        EvictUnusedTransports();

        lock (_gate)
        {
            if (_connections.IsEmpty && _hostSlots.IsEmpty && _transports.IsEmpty && _reaper is not null)
            {
                _reaper.Dispose();
                _reaper = null;
            }
        }
    }

    private void EvictUnusedHosts()
    {
        if (_hostSlots.IsEmpty)
        {
            return;
        }

        var idleTimeout = Options.IdleTimeout == Timeout.InfiniteTimeSpan ? TimeSpan.FromMinutes(1) : Options.IdleTimeout;
        HashSet<string>? inUse = null;
        foreach (var (key, slots) in _hostSlots)
        {
            if (!slots.IsQuiet || Clock.Since(Time, slots.QuietSince) < idleTimeout)
            {
                continue;
            }

            inUse ??= _connections.Values.Select(static c => c.HostKey).ToHashSet();
            if (inUse.Contains(key) || !slots.TryReserveAll())
            {
                continue;
            }

            slots.Retired = true;
            _hostSlots.TryRemove(new KeyValuePair<string, AsyncFifoSemaphore>(key, slots));
            slots.ReleaseAll(); // a fetch that queued on it meanwhile sees Retired and looks again
        }
    }

    /// <summary>An idle socket that is readable with nothing to read has seen the server's FIN (or RST): it sits in
    /// CLOSE_WAIT until we close it.</summary>
    private static bool PeerClosed(Socket? socket)
    {
        if (socket is null)
        {
            return false;
        }

        try
        {
            return socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return true;
        }
    }
}
