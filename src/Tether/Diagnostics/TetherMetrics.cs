using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Tether.Diagnostics;

/// <summary>
/// The <c>Tether</c> meter: only what the handler's own <c>System.Net.Http</c> meter cannot say (CORE-08). The
/// handler publishes <c>http.client.request.duration</c>, <c>http.client.active_requests</c>,
/// <c>http.client.open_connections</c>, <c>http.client.connection.duration</c> and
/// <c>http.client.request.time_in_queue</c> for every request Tether sends; Tether publishes none of those names, so
/// a listener on both meters counts each request once per instrument name.
/// </summary>
/// <remarks>
/// Instruments (all created once, per process):
/// <list type="bullet">
/// <item><c>tether.ledger.sockets</c> (ObservableGauge, <c>{socket}</c>): ledger sockets by <c>tether.connection.state</c>
/// (<c>connecting</c>, <c>open</c>, <c>idle</c>, <c>closing</c>) and <c>tether.pool.kind</c> (<c>client</c>,
/// <c>caller</c>, <c>process</c>); every combination is reported, zeros included.</item>
/// <item><c>tether.pool.waits</c>, <c>tether.pool.wait_timeouts</c> (Counters, <c>{request}</c>).</item>
/// <item><c>tether.pool.wait.duration</c> (Histogram, <c>s</c>): time a fetch waited for its pool slots (the pool's
/// queue, which the handler's <c>time_in_queue</c> does not see), by <c>tether.pool.kind</c>.</item>
/// <item><c>tether.leaks.detected</c> (Counter, <c>{leak}</c>) by <c>tether.leak.kind</c>.</item>
/// <item><c>tether.loops.active</c> (ObservableGauge, <c>{loop}</c>).</item>
/// </list>
/// Tags are only built when the instrument has a listener (<see cref="Instrument.Enabled"/>).
/// </remarks>
internal static class TetherMetrics
{
    public const string MeterName = "Tether";

    private static readonly ConnectionState[] s_states =
        [ConnectionState.Connecting, ConnectionState.Open, ConnectionState.Idle, ConnectionState.Closing];

    private static readonly string[] s_poolKinds = [PoolKinds.Client, PoolKinds.Caller, PoolKinds.Process];

    public static readonly Meter Meter = new(MeterName, "0.1.0");

    public static readonly Counter<long> PoolWaits = Meter.CreateCounter<long>(
        "tether.pool.waits", "{request}", "Requests that had to wait for a pool slot (per-host or total limit reached).");

    public static readonly Counter<long> PoolWaitTimeouts = Meter.CreateCounter<long>(
        "tether.pool.wait_timeouts", "{request}", "Requests that failed because no pool slot freed up within PoolWaitTimeout.");

    public static readonly Histogram<double> PoolWaitDuration = Meter.CreateHistogram<double>(
        "tether.pool.wait.duration", "s", "Time a request waited for its pool slots (per-host and total limits).");

    public static readonly Counter<long> LeaksDetected = Meter.CreateCounter<long>(
        "tether.leaks.detected", "{leak}", "Leaks and misuse detected (unclosed clients, undisposed responses, churn, slow pool waits).");

    public static readonly ObservableGauge<int> LedgerSockets = Meter.CreateObservableGauge(
        "tether.ledger.sockets", ObserveLedger, "{socket}", "Sockets owned by Tether pools right now, by state and pool kind.");

    public static readonly ObservableGauge<long> LoopsActive = Meter.CreateObservableGauge(
        "tether.loops.active", static () => EventLoop.ActiveCount, "{loop}", "Event loops running right now.");

    internal static string StateName(ConnectionState state) => state switch
    {
        ConnectionState.Connecting => "connecting",
        ConnectionState.Active => "active",
        ConnectionState.Open => "open",
        ConnectionState.Idle => "idle",
        _ => "closing",
    };

    private static IEnumerable<Measurement<int>> ObserveLedger()
    {
        var counts = new int[s_states.Length * s_poolKinds.Length];
        foreach (var connection in SocketLedger.Live)
        {
            var s = Array.IndexOf(s_states, connection.State);
            var k = Array.IndexOf(s_poolKinds, connection.Pool.Kind);
            if (s >= 0 && k >= 0)
            {
                counts[(s * s_poolKinds.Length) + k]++;
            }
        }

        var result = new Measurement<int>[counts.Length];
        for (var s = 0; s < s_states.Length; s++)
        {
            for (var k = 0; k < s_poolKinds.Length; k++)
            {
                result[(s * s_poolKinds.Length) + k] = new Measurement<int>(counts[(s * s_poolKinds.Length) + k],
                    new KeyValuePair<string, object?>("tether.connection.state", StateName(s_states[s])),
                    new KeyValuePair<string, object?>("tether.pool.kind", s_poolKinds[k]));
            }
        }

        return result;
    }
}

/// <summary>Values of the <c>tether.pool.kind</c> attribute and of <see cref="ConnectionPool.Kind"/>.</summary>
internal static class PoolKinds
{
    /// <summary>A client's private pool, closed with the client.</summary>
    public const string Client = "client";

    /// <summary>A pool made with <c>new ConnectionPool()</c>, owned by the caller.</summary>
    public const string Caller = "caller";

    /// <summary><see cref="ConnectionPool.Process"/>.</summary>
    public const string Process = "process";
}
