using BenchmarkDotNet.Attributes;
using Tether.Diagnostics;

namespace Tether.Benchmarks;

/// <summary>The fixed costs of the seed pattern: a fresh event loop, a fresh client, and the allocation-site capture
/// (a stack walk) both of them do.</summary>
[MemoryDiagnoser]
public class LoopBenchmarks
{
    [Benchmark(Description = "EventLoop.Run(empty coroutine)")]
    public void RunEmpty() => EventLoop.Run(static () => Task.CompletedTask);

    [Benchmark(Description = "EventLoop.Run(await Task.Yield())")]
    public void RunYield() => EventLoop.Run(static async () => await Task.Yield());

    [Benchmark(Description = "new AsyncHttpClient() (outside a loop)")]
    public AsyncHttpClient NewClient() => new();

    [Benchmark(Description = "CallSite.Capture (one frame, default)")]
    public string CaptureOneFrame() => CallSite.Capture();

    [Benchmark(Description = "CallSite.Capture (FullStackTraces)")]
    public string CaptureFull()
    {
        CallSite.FullStackTraces = true;
        try
        {
            return CallSite.Capture();
        }
        finally
        {
            CallSite.FullStackTraces = false;
        }
    }
}
