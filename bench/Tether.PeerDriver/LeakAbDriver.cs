using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Tether.PeerDriver;

/// <summary>In-process A/B of the seed loop (`ab-loop`): Tether's seed-loop iteration (private or process pool) and
/// the harness's raw iteration it is compared with (new HttpClient + Dispose, or one shared HttpClient), in one
/// process, warmed up in turn, then rounds interleaved with alternating order. The JIT state of the framework's code is
/// shared and the window is past tier-up, so the ratio is the steady-state cost per iteration (wall time and process
/// CPU), not the 1,000-iteration window of a fresh process that run-loop-leak.sh measures.</summary>
internal static class LeakAbDriver
{
    public static int Run(Uri url, string pool, int iters, int rounds, int warmupIters, string? only = null)
    {
        if (only is not (null or "raw" or "seed"))
        {
            Console.Error.WriteLine("ab-loop: the sixth argument, if given, is raw or seed (run that side only, for a profiler)");
            return 2;
        }

        if (pool is not ("private" or "process") || iters < 1 || rounds < 1 || warmupIters < 0)
        {
            Console.Error.WriteLine("ab-loop <url> <private|process> <iters per round> <rounds> [warm-up iters]");
            return 2;
        }

        var target = url.OriginalString;
        var lastSwitches = 0.0;
        var timeout = TimeSpan.FromSeconds(5);
        using var shared = new HttpClient { Timeout = timeout };

        async Task RawFetch(HttpClient c)
        {
            using var r = await c.GetAsync(url);
            await r.Content.ReadAsByteArrayAsync();
            if (r.StatusCode != HttpStatusCode.OK)
            {
                throw new HttpRequestException($"status {(int)r.StatusCode}");
            }
        }

        void Raw()
        {
            if (pool == "private")
            {
                using var c = new HttpClient { Timeout = timeout };
                RawFetch(c).GetAwaiter().GetResult();
            }
            else
            {
                RawFetch(shared).GetAwaiter().GetResult();
            }
        }

        void Seed()
        {
            var code = EventLoop.Run(async () =>
            {
                var options = new AsyncHttpClientOptions();
                if (pool == "process")
                {
                    options.Pool = ConnectionPool.Process;
                }

                options.Defaults.RequestTimeout = timeout;
                var client = new AsyncHttpClient(options);
                var r = await client.FetchAsync(target);
                return r.Code;
            });
            if (code != 200)
            {
                throw new InvalidOperationException($"status {code}");
            }
        }

        (double WallUs, double CpuUs, double AllocB) Measure(Action body, int n)
        {
            var switches0 = ContextSwitches();
            var proc = Process.GetCurrentProcess();
            var cpu0 = proc.TotalProcessorTime;
            var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
            var t0 = Stopwatch.GetTimestamp();
            for (var i = 0; i < n; i++)
            {
                body();
            }

            var wall = Stopwatch.GetElapsedTime(t0).TotalMicroseconds / n;
            proc.Refresh();
            var cpu = (proc.TotalProcessorTime - cpu0).TotalMicroseconds / n;
            var alloc = (GC.GetTotalAllocatedBytes(precise: true) - alloc0) / (double)n;
            lastSwitches = (ContextSwitches() - switches0) / (double)n;
            return (wall, cpu, alloc);
        }

        // Context switches of all the process's threads (voluntary and not), per iteration: on this kind of VM a
        // cross-thread wake-up costs microseconds, so a hop more or less shows here before it shows in the wall time.
        static long ContextSwitches()
        {
            long sum = 0;
            try
            {
                foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
                {
                    foreach (var line in File.ReadLines(Path.Combine(dir, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal)
                            || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            sum += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), CultureInfo.InvariantCulture);
                        }
                    }
                }
            }
            catch (IOException)
            {
                // A thread that ended while being read: its count is lost, the rest stands.
            }

            return sum;
        }

        if (only is not null)
        {
            // One side only, for a profiler attached to this process (perf record -p): warm-up, then the rounds.
            var side = only == "raw" ? (Action)Raw : Seed;
            Measure(side, warmupIters);
            for (var round = 1; round <= rounds; round++)
            {
                var m = Measure(side, iters);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round}: {only} {m.WallUs:F1} us wall {m.CpuUs:F1} us cpu {m.AllocB:F0} B {lastSwitches:F2} cs"));
            }

            return 0;
        }

        Measure(Raw, warmupIters);
        Measure(Seed, warmupIters);
        var wallRatios = new List<double>();
        var cpuRatios = new List<double>();
        var inv = CultureInfo.InvariantCulture;
        for (var round = 1; round <= rounds; round++)
        {
            // Alternate the order so that drift (load, TIME_WAIT build-up on the server's port) hits both alike.
            (double WallUs, double CpuUs, double AllocB) raw, seed;
            double rawSwitches, seedSwitches;
            if (round % 2 == 1)
            {
                raw = Measure(Raw, iters);
                rawSwitches = lastSwitches;
                seed = Measure(Seed, iters);
                seedSwitches = lastSwitches;
            }
            else
            {
                seed = Measure(Seed, iters);
                seedSwitches = lastSwitches;
                raw = Measure(Raw, iters);
                rawSwitches = lastSwitches;
            }

            wallRatios.Add(raw.WallUs / seed.WallUs);
            cpuRatios.Add(seed.CpuUs / raw.CpuUs);
            Console.WriteLine(string.Create(inv,
                $"round {round}: raw {raw.WallUs:F1} us wall {raw.CpuUs:F1} us cpu {raw.AllocB:F0} B {rawSwitches:F2} cs | seed {seed.WallUs:F1} us wall " +
                $"{seed.CpuUs:F1} us cpu {seed.AllocB:F0} B {seedSwitches:F2} cs | iterations/s x{raw.WallUs / seed.WallUs:F3} cpu x{seed.CpuUs / raw.CpuUs:F3}"));
        }

        static double Median(List<double> xs)
        {
            var s = xs.Order().ToArray();
            return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        }

        Console.WriteLine(string.Create(inv,
            $"median iterations/s x{Median(wallRatios):F3} cpu x{Median(cpuRatios):F3} ({pool} pool, {rounds} rounds of {iters})"));
        return 0;
    }
}
