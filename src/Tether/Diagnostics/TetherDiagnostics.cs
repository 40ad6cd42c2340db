using Microsoft.Extensions.Logging;

namespace Tether.Diagnostics;

/// <summary>
/// Process-wide diagnostics settings: the leak policy, where warnings go, and the thresholds for churn and slow pool
/// waits. Set them once at startup (or in a test fixture); they are read at the moment a leak is detected.
/// </summary>
/// <remarks>
/// Leak warnings are on by default (<see cref="LeakPolicy.Warn"/>). Each one names the type, the allocation site
/// (see <see cref="CallSite"/>) and the fix. They are deduplicated per kind and allocation site: the first leak from
/// a site is reported after <see cref="LeakReportDelay"/> together with every further leak from that site seen in
/// the meantime (so 1,000 leaks in a burst give one warning with the count 1,000); after that, a site is reported
/// at most once per minute. Warnings go to the client's <see cref="AsyncHttpClientOptions.Logger"/> when the leak
/// belongs to a client that has one, else to <see cref="Logger"/>, else to stderr; each is also written as a
/// <c>Tether.Leak</c> event to the <see cref="System.Diagnostics.DiagnosticListener"/> named
/// <see cref="ListenerName"/> and counted in the <c>tether.leaks.detected</c> metric. Thread-safety: all members
/// are thread-safe.
/// </remarks>
public static class TetherDiagnostics
{
    private static volatile ILogger? s_logger;
    private static volatile int s_policy = (int)LeakPolicy.Warn;
    private static int s_churnThreshold = 20;
    private static TimeSpan s_slowPoolWait = TimeSpan.FromSeconds(5);
    private static TimeSpan s_reportDelay = TimeSpan.FromSeconds(1);

    /// <summary>The name of Tether's <see cref="System.Diagnostics.Metrics.Meter"/>: pass it to
    /// <c>AddMeter("Tether")</c> or <c>dotnet-counters monitor --counters Tether</c>.</summary>
    public const string MeterName = TetherMetrics.MeterName;

    /// <summary>The name of the <see cref="System.Diagnostics.DiagnosticListener"/> that writes <c>Tether.Leak</c>
    /// events (payload <see cref="LeakReport"/>).</summary>
    public const string ListenerName = "Tether";

    /// <summary>What happens when a leak or misuse is detected.</summary>
    /// <value>Default <see cref="LeakPolicy.Warn"/>.</value>
    public static LeakPolicy Policy
    {
        get => (LeakPolicy)s_policy;
        set => s_policy = (int)value;
    }

    /// <summary>The logger for warnings that no client-level logger takes.</summary>
    /// <value>Default <see langword="null"/>: stderr.</value>
    public static ILogger? Logger { get => s_logger; set => s_logger = value; }

    /// <summary>Clients with a private pool that open their first connection to one host within one second, above
    /// which a churn warning is given (the fix is to reuse one client or lease <see cref="ConnectionPool.Process"/>).</summary>
    /// <value>1 or more; default 20.</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public static int ChurnThreshold
    {
        get => Volatile.Read(ref s_churnThreshold);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref s_churnThreshold, value);
        }
    }

    /// <summary>A request still waiting for a pool slot after this long logs which connections hold the pool and
    /// where they were allocated.</summary>
    /// <value>Positive or <see cref="Timeout.InfiniteTimeSpan"/> (off); default 5 s.</value>
    /// <exception cref="ArgumentOutOfRangeException">Zero or negative (other than infinite).</exception>
    public static TimeSpan SlowPoolWaitThreshold
    {
        get => s_slowPoolWait;
        set
        {
            if (value != Timeout.InfiniteTimeSpan && value <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value,
                    "SlowPoolWaitThreshold must be positive, or Timeout.InfiniteTimeSpan to turn the warning off.");
            }

            s_slowPoolWait = value;
        }
    }

    /// <summary>How long the first warning for an allocation site waits to collect further leaks from that site.</summary>
    /// <value>Zero or more; default 1 s.</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public static TimeSpan LeakReportDelay
    {
        get => s_reportDelay;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            s_reportDelay = value;
        }
    }

    /// <summary>Writes every pending (deduplicated) leak warning now, e.g. before the process exits or at the end of
    /// a test.</summary>
    /// <returns>The number of warnings written.</returns>
    public static int FlushLeakReports() => LeakTracker.Flush(force: true);

    /// <summary>Under <see cref="LeakPolicy.Strict"/>, throws the first leak found by a finalizer since the last
    /// call (finalizers cannot throw themselves). Does nothing under the other policies.</summary>
    /// <exception cref="LeakException">A leak was detected.</exception>
    public static void ThrowIfLeaked() => LeakTracker.ThrowPending();

    /// <summary>The number of leaks detected since the process started, by kind (not deduplicated).</summary>
    /// <param name="kind">The kind to count.</param>
    /// <returns>The count.</returns>
    public static long LeaksDetected(LeakKind kind) => LeakTracker.Count(kind);
}
