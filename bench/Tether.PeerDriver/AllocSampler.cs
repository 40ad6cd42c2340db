using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Tether.PeerDriver;

/// <summary>TETHER_ALLOC_SAMPLE=1: listens to the runtime's GCAllocationTick events (one per ~100 KB allocated, naming
/// the type that crossed the threshold) and prints the sampled type mix to stderr at the end. A cheap in-process
/// allocation profile by type (no stacks) for telling Tether's allocations from the handler's.</summary>
internal sealed class AllocSampler : EventListener
{
    private readonly ConcurrentDictionary<string, long> _bytes = new(StringComparer.Ordinal);
    private volatile bool _on;

    public static AllocSampler? StartIfAsked() =>
        Environment.GetEnvironmentVariable("TETHER_ALLOC_SAMPLE") == "1" ? new AllocSampler() : null;

    public void Measure(bool on)
    {
        if (on)
        {
            _bytes.Clear();
        }

        _on = on;
    }

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);   // GC keyword: AllocationTick is verbose
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!_on || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null)
        {
            return;
        }

        var i = e.PayloadNames!.IndexOf("TypeName");
        var a = e.PayloadNames.IndexOf("AllocationAmount64");
        if (i < 0)
        {
            return;
        }

        var amount = a >= 0 ? Convert.ToInt64(e.Payload[a], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
        _bytes.AddOrUpdate((string)e.Payload[i]!, amount, (_, v) => v + amount);
    }

    public void Report(long requests)
    {
        var total = _bytes.Values.Sum();
        Console.Error.WriteLine($"alloc sample: {total / Math.Max(1, requests)} B/req sampled over {requests} requests; top types:");
        foreach (var (type, bytes) in _bytes.OrderByDescending(static kv => kv.Value).Take(25))
        {
            Console.Error.WriteLine($"  {bytes * 100.0 / Math.Max(1, total),5:F1}%  {bytes / (double)Math.Max(1, requests),8:F0} B/req  {type}");
        }
    }
}
