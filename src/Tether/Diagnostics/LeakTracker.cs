using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;

namespace Tether.Diagnostics;

/// <summary>
/// Receives every detected leak or misuse, applies <see cref="TetherDiagnostics.Policy"/>, deduplicates per kind and
/// allocation site, and writes the warning (logger, <c>Tether.Leak</c> event, <c>tether.leaks.detected</c>).
/// </summary>
/// <remarks>How dedup works: a leak increments its site's pending count; the first pending leak of a site arms one
/// process-wide one-shot timer (<see cref="TetherDiagnostics.LeakReportDelay"/>, ExecutionContext not captured). When
/// it fires, every site with pending leaks that was never reported, or last reported a minute ago or more, gets one
/// warning carrying the pending count; the rest stay pending and the timer is re-armed. Finalizers only count and
/// arm the timer, so no logger runs on the finalizer thread.
/// <para>Bounded tables (CORE-06): a site record that has nothing pending and was last reported a minute ago or more,
/// and a churn window older than its one-second window that gave no warning in the last minute, carry nothing the
/// next event would need; a sweep removes them. It runs from a one-shot timer (<see cref="SweepInterval"/>) that is
/// armed only while a table has entries, and inline when a table doubles past 1,024 entries between sweeps, so a burst
/// of distinct hosts or sites cannot grow the tables without bound. The cost of forgetting: a site's running total
/// restarts after a quiet minute.</para></remarks>
internal static class LeakTracker
{
    private static readonly TimeSpan s_repeatInterval = TimeSpan.FromMinutes(1);
    private static readonly DiagnosticListener s_listener = new(TetherDiagnostics.ListenerName);
    private static readonly object s_gate = new();
    private static readonly Dictionary<(LeakKind Kind, string Site), SiteRecord> s_sites = new();
    private static readonly Dictionary<string, ChurnWindow> s_churn = new(StringComparer.Ordinal);
    private static readonly long[] s_counts = new long[Enum.GetValues<LeakKind>().Length];
    private static Timer? s_timer;
    private static Timer? s_sweepTimer;
    private static int s_sweepAt = MinSweepAt;
    private const int MinSweepAt = 1024;

    /// <summary>How often the tables are swept while they have entries.</summary>
    internal static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(2);
    private static LeakException? s_pending;

    public static long Count(LeakKind kind) => Interlocked.Read(ref s_counts[(int)kind]);

    /// <summary>Records one leak. Under Strict it throws when <paramref name="canThrow"/> (the caller's own thread),
    /// else it parks the exception for the next <see cref="ThrowPending"/>.</summary>
    public static void Report(LeakKind kind, string typeName, string allocationSite, ILogger? logger, bool canThrow, long bytesRead = 0)
    {
        if (!Counted(kind, out var policy))
        {
            return;
        }

        if (policy == LeakPolicy.Strict)
        {
            Strict(new LeakException(kind, allocationSite, Format(kind, typeName, allocationSite, 1, 1, bytesRead)), canThrow);
            return;
        }

        lock (s_gate)
        {
            if (!s_sites.TryGetValue((kind, allocationSite), out var site))
            {
                site = new SiteRecord(kind, typeName, allocationSite);
                s_sites[(kind, allocationSite)] = site;
                OnTableGrew(s_sites.Count);
            }

            site.Pending++;
            site.Total++;
            site.BytesRead = bytesRead;
            site.Logger = logger ?? site.Logger;
            ArmTimer();
        }
    }

    /// <summary>Forgets the churn windows (tests only: a warning already given for a host is otherwise not repeated
    /// for a minute, whichever test caused it).</summary>
    internal static void ResetChurnWindows()
    {
        lock (s_gate)
        {
            s_churn.Clear();
        }
    }

    /// <summary>Entries in the per-site and per-host churn tables (CORE-06: bounded after a quiet period).</summary>
    /// <summary>The keys of both tables (allocation sites; host keys of churn windows), for tests that check their own
    /// entries are gone while other tests of the process add theirs.</summary>
    internal static (string[] Sites, string[] ChurnHosts) TableKeys()
    {
        lock (s_gate)
        {
            return (s_sites.Keys.Select(static k => k.Site).ToArray(), s_churn.Keys.ToArray());
        }
    }

    internal static (int Sites, int ChurnWindows) TableSizes()
    {
        lock (s_gate)
        {
            return (s_sites.Count, s_churn.Count);
        }
    }

    /// <summary>Removes the entries that carry no state the next event needs (see the class remarks).</summary>
    /// <returns>The number of entries left in both tables.</returns>
    internal static int Sweep()
    {
        lock (s_gate)
        {
            var now = Stopwatch.GetTimestamp();
            List<(LeakKind, string)>? staleSites = null;
            foreach (var (key, site) in s_sites)
            {
                if (site.Pending == 0 && (site.LastReported == 0 || Stopwatch.GetElapsedTime(site.LastReported, now) >= s_repeatInterval))
                {
                    (staleSites ??= []).Add(key);
                }
            }

            staleSites?.ForEach(static k => s_sites.Remove(k));
            if (s_sites.EnsureCapacity(0) > 4 * Math.Max(64, s_sites.Count))
            {
                s_sites.TrimExcess(); // a burst's buckets are not kept for the life of the process
            }

            List<string>? staleWindows = null;
            foreach (var (host, window) in s_churn)
            {
                if (Stopwatch.GetElapsedTime(window.Start, now) > TimeSpan.FromSeconds(1)
                    && (window.LastWarned == 0 || Stopwatch.GetElapsedTime(window.LastWarned, now) >= s_repeatInterval))
                {
                    (staleWindows ??= []).Add(host);
                }
            }

            staleWindows?.ForEach(static h => s_churn.Remove(h));
            if (s_churn.EnsureCapacity(0) > 4 * Math.Max(64, s_churn.Count))
            {
                s_churn.TrimExcess();
            }

            var left = s_sites.Count + s_churn.Count;
            s_sweepAt = Math.Max(MinSweepAt, 2 * Math.Max(s_sites.Count, s_churn.Count));
            return left;
        }
    }

    /// <summary>Called under <c>s_gate</c> after an insert: sweeps inline past the doubling threshold, and makes sure
    /// the sweep timer runs while there is anything to sweep.</summary>
    private static void OnTableGrew(int count)
    {
        if (count >= s_sweepAt)
        {
            Sweep();
        }

        if (s_sweepTimer is null)
        {
            using (ExecutionContext.SuppressFlow())
            {
                s_sweepTimer = new Timer(static _ => SweepTick(), null, SweepInterval, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private static void SweepTick()
    {
        lock (s_gate)
        {
            s_sweepTimer?.Dispose();
            s_sweepTimer = null;
            if (Sweep() > 0)
            {
                using (ExecutionContext.SuppressFlow())
                {
                    s_sweepTimer = new Timer(static _ => SweepTick(), null, SweepInterval, Timeout.InfiniteTimeSpan);
                }
            }
        }
    }

    /// <summary>A private pool opened its first connection to <paramref name="hostKey"/>: count it in the host's
    /// one-second window and warn (at once, at most once a minute per host) above the churn threshold.</summary>
    /// <param name="hostKey">The origin.</param>
    /// <param name="allocationSite">Where the client was created.</param>
    /// <param name="logger">The client's logger, if any.</param>
    /// <param name="handler">Whether the client is a <see cref="TetherHttpMessageHandler"/>'s (the warning names that type
    /// and its fix).</param>
    public static void OnPrivatePoolConnect(string hostKey, string allocationSite, ILogger? logger, bool handler = false)
    {
        var now = Stopwatch.GetTimestamp();
        var threshold = TetherDiagnostics.ChurnThreshold;
        int clients;
        lock (s_gate)
        {
            if (!s_churn.TryGetValue(hostKey, out var window))
            {
                window = new ChurnWindow { Start = now };
                s_churn[hostKey] = window;
                OnTableGrew(s_churn.Count);
            }

            if (Stopwatch.GetElapsedTime(window.Start, now) > TimeSpan.FromSeconds(1))
            {
                window.Start = now;
                window.Count = 0;
            }

            clients = ++window.Count;
            if (clients <= threshold
                || (window.LastWarned != 0 && Stopwatch.GetElapsedTime(window.LastWarned, now) < s_repeatInterval))
            {
                return;
            }

            window.LastWarned = now;
        }

        if (!Counted(LeakKind.ClientChurn, out var policy))
        {
            return;
        }

        var target = logger ?? TetherDiagnostics.Logger ?? StderrLogger.Instance;
        var (typeName, _, _, fix) = DiagnosticsLog.Wording(handler);
        var text = Capture(l => DiagnosticsLog.ClientChurn(l, typeName, clients, hostKey, threshold, allocationSite, fix));
        if (policy == LeakPolicy.Strict)
        {
            Strict(new LeakException(LeakKind.ClientChurn, allocationSite, text), canThrow: true);
            return;
        }

        DiagnosticsLog.ClientChurn(target, typeName, clients, hostKey, threshold, allocationSite, fix);
        WriteEvent(new LeakReport(LeakKind.ClientChurn, typeName, allocationSite, clients, clients, text));
    }

    /// <summary>A pool wait passed the slow threshold (called from a timer): log the holders at once, undeduplicated,
    /// because the holders are the point.</summary>
    public static void OnSlowPoolWait(string hostKey, TimeSpan waited, ConnectionPool pool, string allocationSite, ILogger? logger,
        int holderCount, string holderText)
    {
        if (!Counted(LeakKind.SlowPoolWait, out var policy))
        {
            return;
        }

        void Write(ILogger l) => DiagnosticsLog.SlowPoolWait(l, hostKey, waited.TotalSeconds, pool.Name, pool.Options.MaxConnectionsPerHost,
            pool.Options.MaxConnectionsTotal, allocationSite, holderCount, holderText);
        var message = Capture(Write);
        if (policy == LeakPolicy.Strict)
        {
            Strict(new LeakException(LeakKind.SlowPoolWait, allocationSite, message), canThrow: false);
            return;
        }

        Write(logger ?? TetherDiagnostics.Logger ?? StderrLogger.Instance);
        WriteEvent(new LeakReport(LeakKind.SlowPoolWait, "ConnectionPool", allocationSite, 1, Count(LeakKind.SlowPoolWait), message));
    }

    public static void ThrowPending()
    {
        if (TetherDiagnostics.Policy == LeakPolicy.Strict && Interlocked.Exchange(ref s_pending, null) is { } pending)
        {
            throw pending;
        }
    }

    public static int Flush(bool force)
    {
        var due = new List<(SiteRecord Site, long Count, long Total)>();
        lock (s_gate)
        {
            var now = Stopwatch.GetTimestamp();
            var anyLeft = false;
            foreach (var site in s_sites.Values)
            {
                if (site.Pending == 0)
                {
                    continue;
                }

                if (force || site.LastReported == 0 || Stopwatch.GetElapsedTime(site.LastReported, now) >= s_repeatInterval)
                {
                    due.Add((site, site.Pending, site.Total));
                    site.Pending = 0;
                    site.LastReported = now;
                }
                else
                {
                    anyLeft = true;
                }
            }

            s_timer?.Dispose();
            s_timer = null;
            if (anyLeft)
            {
                ArmTimer();
            }
        }

        foreach (var (site, count, total) in due)
        {
            var logger = site.Logger ?? TetherDiagnostics.Logger ?? StderrLogger.Instance;
            Write(logger, site.Kind, site.TypeName, site.AllocationSite, count, total, site.BytesRead);
            WriteEvent(new LeakReport(site.Kind, site.TypeName, site.AllocationSite, count, total,
                Format(site.Kind, site.TypeName, site.AllocationSite, count, total, site.BytesRead)));
        }

        return due.Count;
    }

    private static bool Counted(LeakKind kind, out LeakPolicy policy)
    {
        Interlocked.Increment(ref s_counts[(int)kind]);
        if (TetherMetrics.LeaksDetected.Enabled)
        {
            TetherMetrics.LeaksDetected.Add(1, new KeyValuePair<string, object?>("tether.leak.kind", KindName(kind)));
        }

        policy = TetherDiagnostics.Policy;
        return policy != LeakPolicy.Off;
    }

    private static void Strict(LeakException exception, bool canThrow)
    {
        if (canThrow)
        {
            throw exception;
        }

        Interlocked.CompareExchange(ref s_pending, exception, null);
    }

    private static void ArmTimer()
    {
        if (s_timer is not null)
        {
            return;
        }

        using (ExecutionContext.SuppressFlow())
        {
            s_timer = new Timer(static _ => Flush(force: false), null, TetherDiagnostics.LeakReportDelay, Timeout.InfiniteTimeSpan);
        }
    }

    private static void Write(ILogger logger, LeakKind kind, string typeName, string site, long count, long total, long bytesRead)
    {
        switch (kind)
        {
            case LeakKind.ClientNotClosed:
                var wording = DiagnosticsLog.Wording(handler: typeName == nameof(TetherHttpMessageHandler));
                DiagnosticsLog.ClientNotClosed(logger, wording.TypeName, wording.CloseMethod, count, total, site, wording.NotClosedFix);
                break;
            case LeakKind.ResponseNotDisposed:
                DiagnosticsLog.ResponseNotDisposed(logger, typeName, count, total, site);
                break;
            default:
                DiagnosticsLog.ResponseDisposedUnread(logger, typeName, count, total, bytesRead, site);
                break;
        }
    }

    private static string Format(LeakKind kind, string typeName, string site, long count, long total, long bytesRead) =>
        Capture(l => Write(l, kind, typeName, site, count, total, bytesRead));

    private static string Capture(Action<ILogger> write)
    {
        var capture = new CaptureLogger();
        write(capture);
        return capture.Text ?? string.Empty;
    }

    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "LeakReport is a public record kept by its use here.")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "No generic instantiation is created for the payload.")]
    private static void WriteEvent(LeakReport report)
    {
        if (s_listener.IsEnabled("Tether.Leak"))
        {
            s_listener.Write("Tether.Leak", report);
        }
    }

    internal static string KindName(LeakKind kind) => kind switch
    {
        LeakKind.ClientNotClosed => "client_not_closed",
        LeakKind.ResponseNotDisposed => "response_not_disposed",
        LeakKind.ResponseDisposedUnread => "response_disposed_unread",
        LeakKind.ClientChurn => "client_churn",
        _ => "slow_pool_wait",
    };

    private sealed class SiteRecord(LeakKind kind, string typeName, string allocationSite)
    {
        public LeakKind Kind { get; } = kind;
        public string TypeName { get; } = typeName;
        public string AllocationSite { get; } = allocationSite;
        public long Pending;
        public long Total;
        public long BytesRead;
        public long LastReported;
        public ILogger? Logger;
    }

    private sealed class ChurnWindow
    {
        public long Start;
        public int Count;
        public long LastWarned;
    }

    /// <summary>Formats one message through the same source-generated path, for exceptions and events.</summary>
    private sealed class CaptureLogger : ILogger
    {
        public string? Text { get; private set; }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Text = formatter(state, exception);
    }
}
