using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace Tether.PeerDriver;

/// <summary>The closed-loop throughput driver of run-peers.sh: keeps exactly <c>concurrency</c> GETs in flight for a
/// warmup phase and a measured phase, reads every body, and prints one JSON object.</summary>
internal static class LoadDriver
{
    /// <summary>Count bound per phase (the harness contract).</summary>
    private const long MaxRequestsPerPhase = 2_000_000;

    /// <summary>Per-request bound, the same for every client in the harness.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    private static string? s_firstError;

    public static async Task<int> RunAsync(string mode, Uri url, int concurrency, double secs, double warmup)
    {
        if (concurrency < 1 || concurrency > 4096)
        {
            Console.Error.WriteLine($"concurrency {concurrency}: must be 1..4096");
            return 2;
        }

        await using var target = Target.Create(mode, url, concurrency);
        using var sampler = AllocSampler.StartIfAsked();
        using var jit = JitTimeline.StartIfAsked();
        if (warmup > 0)
        {
            // A short first phase runs the end of a phase (collecting latencies, the result record, the continuations
            // after WhenAll) once at the start. Otherwise that code is first compiled when the warm-up ends, and
            // compiling a method for the first time restarts the runtime's call-counting delay (1 s on one pinned CPU,
            // docs/benchmarks.md, fifth pass). Every tier-1 promotion then waits until the measured window is 1 s old.
            // The warm-up still lasts `warmup` seconds in total.
            var primer = Math.Min(0.25, warmup / 4);
            await Phase(target, concurrency, primer);
            await Phase(target, concurrency, warmup - primer);
        }

        sampler?.Measure(true);
        var windowStart = jit?.Now;
        var m = await Phase(target, concurrency, secs);
        sampler?.Measure(false);
        jit?.Report(FormattableString.Invariant($"{mode} c={concurrency}, measured window {windowStart:F1}-{jit.Now:F1}s"));
        sampler?.Report(m.Latencies.Count + m.Errors);
        var openAtEnd = ProcNet.TcpSocketsTo(url.Port);
        var (ssEstablished, ssTimeWait) = (ProcNet.SsCount("established", url.Port), ProcNet.SsCount("time-wait", url.Port));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        await Task.Delay(200);
        var openAfterGc = ProcNet.TcpSocketsTo(url.Port);

        m.Latencies.Sort();
        double Pct(double p) => m.Latencies.Count == 0
            ? double.NaN
            : m.Latencies[(int)(p * (m.Latencies.Count - 1))] * 1000.0 / Stopwatch.Frequency;
        var ok = m.Latencies.Count;
        var json = new JsonLine()
            .Add("requests", ok)
            .Add("errors", m.Errors)
            .Add("elapsed_s", m.Elapsed)
            .Add("rps", ok / m.Elapsed)
            .Add("p50_ms", Pct(0.50))
            .Add("p99_ms", Pct(0.99))
            .Add("cpu_s", m.Cpu)
            .Add("cpu_us_per_req", ok > 0 ? m.Cpu * 1e6 / ok : double.NaN)
            .Add("body_bytes_per_req", ok > 0 ? (double)m.Bytes / ok : double.NaN)
            .Add("open_sockets", openAtEnd)
            .Add("open_sockets_after_gc", openAfterGc)
            .Add("ss_established", ssEstablished)
            .Add("ss_time_wait", ssTimeWait)
            .Add("alloc_bytes_per_req", ok + m.Errors > 0 ? (double)m.AllocatedBytes / (ok + m.Errors) : double.NaN)
            .Add("gc_gen0", m.Gen0)
            .Add("gc_gen2", m.Gen2)
            .Add("work_items_per_req", ok + m.Errors > 0 ? (double)m.WorkItems / (ok + m.Errors) : double.NaN)
            .Add("lock_contentions_per_req", ok + m.Errors > 0 ? (double)m.LockContentions / (ok + m.Errors) : double.NaN)
            .Add("jit_methods", m.JitMethods)
            .Add("jit_ms", m.JitMs)
            .Add("mode", mode)
            .Add("ledger", target.LedgerOn ? "on (no off switch in Tether yet)" : "n/a")
            .Add("first_error", s_firstError);
        Console.Out.Flush();
        Console.WriteLine(json.ToString());
        return 0;
    }

    /// <summary>The in-process A/B (mode <c>ab</c>): both clients in one process, warmed up in turn, then rounds
    /// interleaved with the order alternating; prints each round and the medians of the per-round ratios.</summary>
    public static async Task<int> RunAbAsync(Uri url, int concurrency, int rounds, double secs, double warmup)
    {
        if (concurrency < 1 || concurrency > 4096 || rounds < 1 || rounds > 1000 || secs <= 0 || secs > 60 || warmup < 0)
        {
            Console.Error.WriteLine("ab: concurrency 1..4096, rounds 1..1000, secs (0, 60], warmup >= 0");
            return 2;
        }

        await using var raw = Target.Create("raw", url, concurrency);
        await using var shared = Target.Create("shared", url, concurrency);
        for (var i = 0; i < 4; i++)
        {
            await Phase(raw, concurrency, warmup / 8);
            await Phase(shared, concurrency, warmup / 8);
        }

        var cpuRatios = new List<double>();
        var rpsRatios = new List<double>();
        for (var r = 0; r < rounds; r++)
        {
            PhaseResult a, b;
            if (r % 2 == 0)
            {
                a = await Phase(raw, concurrency, secs);
                b = await Phase(shared, concurrency, secs);
            }
            else
            {
                b = await Phase(shared, concurrency, secs);
                a = await Phase(raw, concurrency, secs);
            }

            double Cpu(PhaseResult p) => p.Cpu * 1e6 / p.Latencies.Count;
            double Rps(PhaseResult p) => p.Latencies.Count / p.Elapsed;
            double Per(PhaseResult p, long v) => (double)v / (p.Latencies.Count + p.Errors);
            cpuRatios.Add(Cpu(b) / Cpu(a));
            rpsRatios.Add(Rps(b) / Rps(a));
            Console.WriteLine(FormattableString.Invariant(
                $"round {r}: raw {Rps(a):F0} req/s {Cpu(a):F2} us {Per(a, a.AllocatedBytes):F0} B wi {Per(a, a.WorkItems):F3} lc {Per(a, a.LockContentions):F4} jit {a.JitMethods} | shared {Rps(b):F0} req/s {Cpu(b):F2} us {Per(b, b.AllocatedBytes):F0} B wi {Per(b, b.WorkItems):F3} lc {Per(b, b.LockContentions):F4} jit {b.JitMethods} | cpu x{Cpu(b) / Cpu(a):F3} rps x{Rps(b) / Rps(a):F3}"));
        }

        static double Median(List<double> v)
        {
            v.Sort();
            return v.Count % 2 == 1 ? v[v.Count / 2] : (v[(v.Count / 2) - 1] + v[v.Count / 2]) / 2;
        }

        Console.WriteLine(FormattableString.Invariant(
            $"median cpu x{Median(cpuRatios):F3} rps x{Median(rpsRatios):F3} (c={concurrency}, {rounds} rounds of {secs} s)"));
        return 0;
    }

    private static async Task<PhaseResult> Phase(Target target, int concurrency, double secs)
    {
        long issued = 0, errors = 0, bytes = 0;
        var lats = new List<long>[concurrency];
        var gen0 = GC.CollectionCount(0);
        var gen2 = GC.CollectionCount(2);
        // Robust under load (unlike CPU and wall time): thread-pool dispatches, lock contentions, and the JIT work done
        // inside the window (tier-up of hot code still running unoptimized; see docs/benchmarks.md, fourth pass).
        var workItems0 = ThreadPool.CompletedWorkItemCount;
        var contentions0 = Monitor.LockContentionCount;
        var jitMethods0 = System.Runtime.JitInfo.GetCompiledMethodCount();
        var jitTime0 = System.Runtime.JitInfo.GetCompilationTime();
        var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        var cpu0 = Environment.CpuUsage.TotalTime.TotalSeconds;
        var t0 = Stopwatch.GetTimestamp();
        var deadline = t0 + (long)(secs * Stopwatch.Frequency);

        // One closed-loop worker: bounded by the deadline and by the per-phase request count.
        bool Next() => Stopwatch.GetTimestamp() < deadline && Interlocked.Increment(ref issued) <= MaxRequestsPerPhase;

        void Record(List<long> mine, long start, int n)
        {
            if (n >= 0)
            {
                mine.Add(Stopwatch.GetTimestamp() - start);
                Interlocked.Add(ref bytes, n);
            }
            else
            {
                Interlocked.Increment(ref errors);
                Interlocked.CompareExchange(ref s_firstError, "non-200 status", null);
            }
        }

        void Fail(Exception e)
        {
            Interlocked.Increment(ref errors);
            Interlocked.CompareExchange(ref s_firstError, $"{e.GetType().Name}: {e.GetBaseException().Message}", null);
        }

        if (target.IsBlocking)
        {
            // The seed pattern: each slot is a thread that runs one event loop per request.
            var threads = new Thread[concurrency];
            for (var w = 0; w < concurrency; w++)
            {
                var mine = lats[w] = new List<long>(1 << 12);
                threads[w] = new Thread(() =>
                {
                    while (Next())
                    {
                        var s = Stopwatch.GetTimestamp();
                        try
                        {
                            Record(mine, s, target.FetchBlocking());
                        }
                        catch (Exception e)
                        {
                            Fail(e);
                        }
                    }
                }) { IsBackground = true, Name = $"slot-{w}" };
                threads[w].Start();
            }

            foreach (var t in threads)
            {
                // Each request is bounded by the 5 s timeout, so a slot ends at most ~5 s after the deadline.
                t.Join();
            }
        }
        else
        {
            var workers = new Task[concurrency];
            for (var w = 0; w < concurrency; w++)
            {
                var mine = lats[w] = new List<long>(1 << 12);
                workers[w] = Task.Run(async () =>
                {
                    while (Next())
                    {
                        var s = Stopwatch.GetTimestamp();
                        try
                        {
                            Record(mine, s, await target.FetchAsync());
                        }
                        catch (Exception e)
                        {
                            Fail(e);
                        }
                    }
                });
            }

            await Task.WhenAll(workers);
        }

        var elapsed = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        var cpu = Environment.CpuUsage.TotalTime.TotalSeconds - cpu0;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
        var workItems = ThreadPool.CompletedWorkItemCount - workItems0;
        var contentions = Monitor.LockContentionCount - contentions0;
        var jitMethods = System.Runtime.JitInfo.GetCompiledMethodCount() - jitMethods0;
        var jitMs = (System.Runtime.JitInfo.GetCompilationTime() - jitTime0).TotalMilliseconds;
        var all = new List<long>(lats.Sum(static l => l.Count));
        foreach (var l in lats)
        {
            all.AddRange(l);
        }

        return new PhaseResult(all, errors, bytes, elapsed, cpu, allocated,
            GC.CollectionCount(0) - gen0, GC.CollectionCount(2) - gen2, workItems, contentions, jitMethods, jitMs);
    }

    private sealed record PhaseResult(List<long> Latencies, long Errors, long Bytes, double Elapsed, double Cpu,
        long AllocatedBytes, int Gen0, int Gen2, long WorkItems, long LockContentions, long JitMethods, double JitMs);

    /// <summary>One client under test. Each fetch returns the body length for a 200, -1 otherwise.</summary>
    private abstract class Target : IAsyncDisposable
    {
        public virtual bool IsBlocking => false;

        public virtual bool LedgerOn => true;

        public static Target Create(string mode, Uri url, int concurrency) => mode switch
        {
            "shared" => new SharedTether(url, concurrency),
            "loop-per-call" => new LoopPerCall(url),
            "raw" => new Raw(url, concurrency),
            _ => throw new ArgumentException($"unknown mode {mode}", nameof(mode)),
        };

        public virtual Task<int> FetchAsync() => throw new NotSupportedException();

        public virtual int FetchBlocking() => throw new NotSupportedException();

        public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>The recommended Tether pattern: one client for the process, its own pool.</summary>
    private sealed class SharedTether : Target
    {
        private readonly AsyncHttpClient _client;
        private readonly string _url;

        public SharedTether(Uri url, int concurrency)
        {
            _url = url.OriginalString;
            var options = new AsyncHttpClientOptions
            {
                MaxClients = concurrency,
                Ownership = ClientOwnership.Caller,
                PoolOptions = new ConnectionPoolOptions { MaxConnectionsPerHost = concurrency },
                Name = "peer-driver shared",
            };
            options.Defaults.RequestTimeout = RequestTimeout;
            options.Defaults.RaiseOnError = false;
            _client = new AsyncHttpClient(options);
        }

        public override async Task<int> FetchAsync()
        {
            var r = await _client.FetchAsync(_url);
            return r.Code == 200 ? r.Body.Length : -1;
        }

        public override async ValueTask DisposeAsync() => await _client.DisposeAsync();
    }

    /// <summary>The seed pattern: a fresh loop and a fresh client per request; the client leases from the process pool
    /// so the keep-alive connection outlives the loop.</summary>
    private sealed class LoopPerCall(Uri url) : Target
    {
        private readonly string _url = url.OriginalString;

        public override bool IsBlocking => true;

        public override int FetchBlocking() => EventLoop.Run(async () =>
        {
            var options = new AsyncHttpClientOptions { Pool = ConnectionPool.Process };
            options.Defaults.RequestTimeout = RequestTimeout;
            options.Defaults.RaiseOnError = false;
            var client = new AsyncHttpClient(options);   // owned by this loop, closed when Run returns
            var r = await client.FetchAsync(_url);
            return r.Code == 200 ? r.Body.Length : -1;
        });
    }

    /// <summary>The baseline: plain HttpClient with one SocketsHttpHandler, as the harness's own .NET column.</summary>
    private sealed class Raw(Uri url, int concurrency) : Target
    {
        private readonly HttpClient _client = new(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency })
        {
            Timeout = RequestTimeout,
        };

        public override bool LedgerOn => false;

        public override async Task<int> FetchAsync()
        {
            using var r = await _client.GetAsync(url);
            var body = await r.Content.ReadAsByteArrayAsync();
            return r.StatusCode == HttpStatusCode.OK ? body.Length : -1;
        }

        public override ValueTask DisposeAsync()
        {
            _client.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>A flat JSON object written by hand (no serializer: keeps the driver's own allocations out of the way and
/// the output independent of serializer settings).</summary>
internal sealed class JsonLine
{
    private readonly StringBuilder _sb = new("{");

    public JsonLine Add(string name, double value) =>
        Raw(name, double.IsFinite(value) ? value.ToString("0.###", CultureInfo.InvariantCulture) : "null");

    public JsonLine Add(string name, long value) => Raw(name, value.ToString(CultureInfo.InvariantCulture));

    public JsonLine Add(string name, string? value) => Raw(name, value is null ? "null" : Quote(value));

    public JsonLine Add(string name, JsonLine nested) => Raw(name, nested.ToString());

    public override string ToString() => _sb.ToString() + "}";

    private JsonLine Raw(string name, string value)
    {
        if (_sb.Length > 1)
        {
            _sb.Append(',');
        }

        _sb.Append(Quote(name)).Append(':').Append(value);
        return this;
    }

    private static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case < ' ': sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"); break;
                default: sb.Append(c); break;
            }
        }

        return sb.Append('"').ToString();
    }
}
