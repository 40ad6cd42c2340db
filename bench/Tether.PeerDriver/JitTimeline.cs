using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace Tether.PeerDriver;

/// <summary>TETHER_JIT_TIMELINE=1: listens to the runtime's MethodLoadVerbose events (one per compiled method, with its
/// optimization tier) and prints to stderr at the end, per second since start, how many methods were compiled at each
/// tier, and when the hot path's state machines (given by TETHER_JIT_WATCH, comma-separated substrings; default the
/// fetch methods of both clients) reached each tier. The JIT's own log (DOTNET_JitStdOutFile) has no times and is
/// written in buffered chunks; this one is timed as the events arrive (docs/benchmarks.md, fifth pass).</summary>
internal sealed class JitTimeline : EventListener
{
    private static readonly string[] s_defaultWatch =
    [
        "AsyncHttpClient+<RunAsync>", "ResponseBody+<ReadAllAsync>", "SharedTether+<FetchAsync>", "Raw+<FetchAsync>",
        "HttpConnection+<SendAsync>",
    ];

    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly object _gate = new();
    private readonly List<(double At, int Tier, string Name)> _events = [];
    private readonly string[] _watch;

    private JitTimeline(string[] watch) => _watch = watch;

    public static JitTimeline? StartIfAsked()
    {
        if (Environment.GetEnvironmentVariable("TETHER_JIT_TIMELINE") != "1")
        {
            return null;
        }

        var watch = Environment.GetEnvironmentVariable("TETHER_JIT_WATCH") is { Length: > 0 } w
            ? w.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : s_defaultWatch;
        return new JitTimeline(watch);
    }

    /// <summary>Seconds since the listener started (the process's first second).</summary>
    public double Now => Stopwatch.GetElapsedTime(_start).TotalSeconds;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x10);   // JIT keyword: MethodLoadVerbose
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is null || !e.EventName.StartsWith("MethodLoadVerbose", StringComparison.Ordinal) || e.Payload is null
            || e.PayloadNames is null)
        {
            return;
        }

        var flags = Convert.ToInt64(e.Payload[e.PayloadNames.IndexOf("MethodFlags")], CultureInfo.InvariantCulture);
        var ns = e.Payload[e.PayloadNames.IndexOf("MethodNamespace")] as string ?? string.Empty;
        var name = e.Payload[e.PayloadNames.IndexOf("MethodName")] as string ?? string.Empty;
        // MethodFlags bits 7-9: the runtime's JitOptimizationTier (eventtrace: Unknown, MinOptJitted, Optimized,
        // QuickJitted, OptimizedTier1, OptimizedTier1OSR, QuickJittedInstrumented, OptimizedTier1Instrumented).
        var tier = (int)((flags >> 7) & 0x7);
        lock (_gate)
        {
            _events.Add((Now, tier, ns + "::" + name));
        }
    }

    private static string TierName(int tier) => tier switch
    {
        1 => "MinOpts",
        2 => "FullOpts",
        3 => "Tier0",
        4 => "Tier1",
        5 => "Tier1-OSR",
        6 => "Tier0-instr",
        7 => "Tier1-instr",
        _ => "tier" + tier.ToString(CultureInfo.InvariantCulture),
    };

    public void Report(string label)
    {
        List<(double At, int Tier, string Name)> events;
        lock (_gate)
        {
            events = [.. _events];
        }

        var err = Console.Error;
        err.WriteLine($"jit-timeline {label}: {events.Count} methods compiled; per second since start (tier:count)");
        foreach (var second in events.GroupBy(static e => (int)e.At).OrderBy(static g => g.Key))
        {
            var tiers = string.Join(" ", second.GroupBy(static e => e.Tier).OrderBy(static g => g.Key)
                .Select(static g => $"{TierName(g.Key)}:{g.Count()}"));
            var tether = second.Count(static e => e.Name.StartsWith("Tether.", StringComparison.Ordinal)
                && !e.Name.StartsWith("Tether.PeerDriver", StringComparison.Ordinal));
            err.WriteLine(FormattableString.Invariant($"  {second.Key,3}s  {tiers}  (Tether's own: {tether})"));
        }

        err.WriteLine("  watched methods:");
        foreach (var (at, tier, name) in events.Where(e => _watch.Any(w => e.Name.Contains(w, StringComparison.Ordinal))))
        {
            err.WriteLine(FormattableString.Invariant($"  {at,7:F2}s {TierName(tier),-12} {name}"));
        }

        // First compilations after the first second: each one restarts the runtime's call-counting delay (100 ms, times
        // ten on one CPU), which holds back every pending promotion to tier 1.
        err.WriteLine("  first-time compilations (tier 0) after 1 s:");
        foreach (var (at, tier, name) in events.Where(static e => e.At >= 1.0 && e.Tier == 3).Take(80))
        {
            err.WriteLine(FormattableString.Invariant($"  {at,7:F2}s {name}"));
        }
    }
}
