using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Tether.Diagnostics;

/// <summary>
/// The <c>Tether</c> meter. Where Tether measures what <c>System.Net.Http</c> measures, it uses the same instrument
/// names, units and attributes (OpenTelemetry HTTP client semantic conventions), so dashboards built for
/// <c>System.Net.Http</c> work unchanged; Tether's own instruments live under <c>tether.*</c>.
/// </summary>
/// <remarks>
/// Instruments (all created once, per process):
/// <list type="bullet">
/// <item><c>http.client.open_connections</c> (UpDownCounter, <c>{connection}</c>): by <c>http.connection.state</c>
/// (<c>idle</c>|<c>active</c>), <c>server.address</c>, <c>server.port</c>, <c>url.scheme</c>,
/// <c>network.protocol.version</c>. A connection counts +1 idle when connected, moves idle→active when a request
/// is written on it and back when the fetch releases it, and −1 when closed.</item>
/// <item><c>http.client.connection.duration</c> (Histogram, <c>s</c>): recorded when a connected socket closes.</item>
/// <item><c>http.client.request.duration</c> (Histogram, <c>s</c>): send until response headers, with
/// <c>http.request.method</c>, <c>http.response.status_code</c> or <c>error.type</c>.</item>
/// <item><c>http.client.request.time_in_queue</c> (Histogram, <c>s</c>): time waiting for a pool slot.</item>
/// <item><c>http.client.active_requests</c> (UpDownCounter, <c>{request}</c>).</item>
/// <item><c>tether.ledger.sockets</c> (ObservableGauge, <c>{socket}</c>): ledger sockets by <c>tether.connection.state</c>
/// and <c>tether.pool.kind</c> (<c>client</c>, <c>caller</c>, <c>process</c>); every combination is reported,
/// zeros included.</item>
/// <item><c>tether.pool.waits</c>, <c>tether.pool.wait_timeouts</c> (Counters, <c>{request}</c>).</item>
/// <item><c>tether.leaks.detected</c> (Counter, <c>{leak}</c>) by <c>tether.leak.kind</c>.</item>
/// <item><c>tether.loops.active</c> (ObservableGauge, <c>{loop}</c>).</item>
/// </list>
/// Tags are only built when the instrument has a listener (<see cref="Instrument.Enabled"/>).
/// </remarks>
internal static class TetherMetrics
{
    public const string MeterName = "Tether";

    private static readonly ConnectionState[] s_states =
        [ConnectionState.Connecting, ConnectionState.Active, ConnectionState.Idle, ConnectionState.Closing];

    private static readonly string[] s_poolKinds = [PoolKinds.Client, PoolKinds.Caller, PoolKinds.Process];

    public static readonly Meter Meter = new(MeterName, "0.1.0");

    public static readonly UpDownCounter<long> OpenConnections = Meter.CreateUpDownCounter<long>(
        "http.client.open_connections", "{connection}", "Number of outbound HTTP connections that are currently active or idle on the client.");

    public static readonly Histogram<double> ConnectionDuration = Meter.CreateHistogram<double>(
        "http.client.connection.duration", "s", "The duration of successfully established outbound HTTP connections.");

    public static readonly Histogram<double> RequestDuration = Meter.CreateHistogram<double>(
        "http.client.request.duration", "s", "Duration of HTTP client requests.");

    public static readonly Histogram<double> TimeInQueue = Meter.CreateHistogram<double>(
        "http.client.request.time_in_queue", "s", "The amount of time requests spent on a queue waiting for an available connection.");

    public static readonly UpDownCounter<long> ActiveRequests = Meter.CreateUpDownCounter<long>(
        "http.client.active_requests", "{request}", "Number of outbound HTTP requests that are currently active on the client.");

    public static readonly Counter<long> PoolWaits = Meter.CreateCounter<long>(
        "tether.pool.waits", "{request}", "Requests that had to wait for a pool slot (per-host or total limit reached).");

    public static readonly Counter<long> PoolWaitTimeouts = Meter.CreateCounter<long>(
        "tether.pool.wait_timeouts", "{request}", "Requests that failed because no pool slot freed up within PoolWaitTimeout.");

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
        ConnectionState.Idle => "idle",
        _ => "closing",
    };

    internal static string ProtocolVersion(Version version) => version.Major switch
    {
        1 => version.Minor == 0 ? "1.0" : "1.1",
        2 => "2",
        3 => "3",
        _ => version.ToString(),
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
