using System.Diagnostics;
using Tether.Diagnostics;

namespace Tether.PeerDriver;

/// <summary>The loop-leak driver of run-loop-leak.sh for Tether's seed loop: per iteration a fresh
/// <see cref="EventLoop.Run{T}(Func{Task{T}}, CancellationToken, string, int, string)"/>, a new client created inside it (so the loop owns
/// it), one fetch, and the end of the loop. Prints sample lines and one summary line (JSON).</summary>
internal static class LeakDriver
{
    public static int Run(string mode, Uri url, int iters, int every, double settleSecs, double maxSecs)
    {
        if (iters < 1 || every < 1)
        {
            Console.Error.WriteLine($"iters {iters} and every {every} must be 1 or more");
            return 2;
        }

        var target = url.OriginalString;
        long ok = 0, errors = 0;
        string? firstError = null;
        var sw = Stopwatch.StartNew();
        var sampleTicks = 0L;   // time spent sampling, left out of the iteration rate

        void Emit(int i, string label)
        {
            var s0 = Stopwatch.GetTimestamp();
            var line = new JsonLine().Add("driver", mode).Add("kind", "sample").Add("label", label).Add("iter", i)
                .Add("t_s", sw.Elapsed.TotalSeconds).Add("ok", ok).Add("errors", errors);
            ProcNet.Sample(line, url.Port);
            line.Add("ledger", SocketLedger.Count);
            Console.WriteLine(line.ToString());
            sampleTicks += Stopwatch.GetTimestamp() - s0;
        }

        void Iteration()
        {
            var code = EventLoop.Run(async () =>
            {
                var options = new AsyncHttpClientOptions();
                if (mode == "leak-process")
                {
                    options.Pool = ConnectionPool.Process;
                }

                options.Defaults.RequestTimeout = TimeSpan.FromSeconds(5);
                var client = new AsyncHttpClient(options);   // created inside the loop: the loop closes it
                var r = await client.FetchAsync(target);
                return r.Code;
            });
            if (code != 200)
            {
                throw new InvalidOperationException($"status {code}");
            }
        }

        Emit(0, "iter");
        var done = 0;
        var loopStart = Stopwatch.GetTimestamp();
        for (var i = 1; i <= iters && sw.Elapsed.TotalSeconds < maxSecs; i++)   // bounded in count and time
        {
            try
            {
                Iteration();
                ok++;
            }
            catch (Exception e)
            {
                errors++;
                firstError ??= $"iter {i}: {e.GetType().Name}: {e.GetBaseException().Message}";
            }

            done = i;
            if (i == 1 || i == 10 || i == iters || i % every == 0)
            {
                Emit(i, "iter");
            }
        }

        var iterSecs = Stopwatch.GetElapsedTime(loopStart).TotalSeconds - (double)sampleTicks / Stopwatch.Frequency;
        if (done > 0 && done % every != 0 && done != 1 && done != 10 && done != iters)
        {
            Emit(done, "iter");
        }

        Thread.Sleep(TimeSpan.FromSeconds(settleSecs));
        Emit(done, "settled");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Thread.Sleep(200);
        Emit(done, "gc");
        var versions = new JsonLine().Add("dotnet", Environment.Version.ToString())
            .Add("tether", typeof(AsyncHttpClient).Assembly.GetName().Version?.ToString());
        Console.WriteLine(new JsonLine().Add("driver", mode).Add("kind", "summary").Add("versions", versions)
            .Add("iters_requested", iters).Add("iters_done", done).Add("ok", ok).Add("errors", errors)
            .Add("first_error", firstError).Add("elapsed_s", sw.Elapsed.TotalSeconds)
            .Add("iter_s", iterSecs).Add("iters_per_s", iterSecs > 0 ? done / iterSecs : double.NaN).ToString());
        return 0;
    }
}
