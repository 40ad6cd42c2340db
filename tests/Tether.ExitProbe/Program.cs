// A child process for the tests that need exact whole-process counts (issue 13). Two uses:
//
//   Tether.ExitProbe <loopback url>
//       LOOP-23: creates clients (inside and outside loops, with undisposed streamed responses) and exits without
//       closing any of them. It must exit with code 0 and write nothing to stderr.
//
//   Tether.ExitProbe scenario <name> <loopback url> [iterations]
//       Runs one seed pattern (loop01 … loop05, loop12, pool08, and the soak's process-pool and
//       streamed-undisposed) against the test's server: a warm-up of the same
//       pattern, then the census baseline, then the iterations, then the census again, without any GC after the
//       baseline. Prints one line "delta key=value …" (fds and every census bucket, threads, running loops, ledger
//       entries) and one line "new-fds …" naming any fd opened since the baseline. Nothing else runs in this process,
//       so an exact delta is about Tether and the runtime alone; tiered compilation is at its default.
//
//   Tether.ExitProbe proxy-env <loopback url>
//       HTTP-11 / PROTOCOL-26: run with http_proxy (and maybe no_proxy) set by the test, which the test process
//       itself must never set (it is process-wide, and HttpClient.DefaultProxy reads it once). Sends one GET each
//       through a plain HttpClient, the bridge, the bridge with UseProxy = false, FetchAsync (Tornado's default) and
//       FetchAsync with UseDefaultProxy = true, marking each with ?via=NAME, and prints one line per request:
//       "NAME status=CODE remote=PORT" (the ledger's remote port for Tether's connection: the proxy's or the server's).
//
//   Tether.ExitProbe soak-leaky <tether soak arguments>
//       CLI-06: the tether CLI whose soak catalogue is one pattern, "leaky", marked as Tether, that keeps one raw
//       connection per iteration. The soak judges this process's fds, which nothing else shares here.
#pragma warning disable TETHER001, TETHER002, TETHER003 // the seed patterns are the anti-patterns, on purpose
using System.Globalization;
using System.Net.Sockets;
using Tether;
using Tether.Cli;
using Tether.Cli.Commands;
using Tether.Cli.Soak;
using Tether.Diagnostics;

if (args.Length >= 1 && args[0] == "soak-leaky")
{
    var leaky = new SoakPattern("leaky", true, "keeps a socket per iteration", t => Task.FromResult<SoakPatternInstance>(new Leaky(t.Url)));
    var root = TetherCli.CreateRoot();
    root.Subcommands.Remove(root.Subcommands.Single(c => c.Name == "soak"));
    root.Subcommands.Add(SoakCommand.Create([leaky]));
    return CliSupport.Run(root, ["soak", .. args[1..]], Console.Out, Console.Error);
}

if (args.Length == 2 && args[0] == "proxy-env")
{
    return await ProxyEnvironment.RunAsync(args[1]);
}

if (args.Length >= 3 && args[0] == "scenario")
{
    var iterations = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 2000;
    return Scenarios.Run(args[1], args[2], iterations);
}

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: Tether.ExitProbe <loopback url> | Tether.ExitProbe scenario <name> <loopback url> [iterations]");
    return 2;
}

var url = args[0];
var outside = new AsyncHttpClient();
var leased = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = ConnectionPool.Process });
await outside.FetchAsync(url);
await leased.FetchAsync(url);
var streamed = await outside.FetchStreamAsync(url);
EventLoop.Run(async () =>
{
    var inside = new AsyncHttpClient();
    await inside.FetchAsync(url);
    await AsyncHttpClient.Shared.FetchAsync(url);
});
await AsyncHttpClient.Shared.FetchAsync(url);
Console.WriteLine($"ok {streamed.Code}");
return 0;

internal static class Scenarios
{
    /// <summary>Warm-up iterations before the baseline: every path of the pattern has run (and the runtime has opened
    /// its one-time fds: socket engine, epoll) before counting starts.</summary>
    private const int WarmUp = 50;

    public static int Run(string name, string url, int iterations)
    {
        AsyncHttpClient? unowned = null; // loop05: one client, owned by no loop, used in every Run
        Action once = name switch
        {
            // Pattern a: built outside the loop, fetched and closed inside.
            "loop01" => () =>
            {
                var client = new AsyncHttpClient();
                EventLoop.Run(async () =>
                {
                    await client.FetchAsync(url);
                    client.Close();
                });
            },

            // Pattern b: built inside the coroutine, closed inside.
            "loop02" => () => EventLoop.Run(async () =>
            {
                await using var client = new AsyncHttpClient();
                await client.FetchAsync(url);
            }),

            // Pattern c: AsyncHttpClient.Shared inside each Run, never closed by the caller.
            "loop03" => () => EventLoop.Run(async () => { await AsyncHttpClient.Shared.FetchAsync(url); }),

            // Pattern d: built inside and never closed: the loop closes it.
            "loop04" => () =>
            {
                EventLoop.Run(async () =>
                {
                    var client = new AsyncHttpClient();
                    await client.FetchAsync(url);
                });
                if (SocketLedger.Count != 0)
                {
                    throw new InvalidOperationException($"ledger not empty after Run: {SocketLedger.Count}");
                }
            },

            // Pattern e: one client outside any loop, never closed, used in every Run.
            "loop05" => () =>
            {
                unowned ??= new AsyncHttpClient();
                EventLoop.Run(async () => { await unowned.FetchAsync(url); });
            },

            // 10,000 clients constructed, never used.
            "loop12" => () =>
            {
                var clients = new List<AsyncHttpClient>(10_000);
                for (var i = 0; i < 10_000; i++)
                {
                    clients.Add(new AsyncHttpClient());
                }

                if (clients.Any(c => c.OwnerLoop is not null || c.Pool is not null))
                {
                    throw new InvalidOperationException("a constructed client is bound to a loop or a pool");
                }

                GC.KeepAlive(clients);
            },

            // A pool closed with 5 undisposed streamed responses and 1 idle connection.
            "pool08" => () => Pool08(url).GetAwaiter().GetResult(),

            // The soak's other Tether patterns (tether soak): loop-owned clients leasing the process pool, never
            // closed (its one idle connection, opened in the warm-up, stays); a streamed response never disposed
            // inside a loop (the loop closes it).
            "process-pool" => () => EventLoop.Run(async () =>
                await new AsyncHttpClient(new AsyncHttpClientOptions { Pool = ConnectionPool.Process }).FetchAsync(url)),
            "streamed-undisposed" => () => EventLoop.Run(async () => _ = await new AsyncHttpClient().FetchStreamAsync(url)),

            _ => throw new ArgumentException($"unknown scenario '{name}'", nameof(name)),
        };

        // The census itself loads assemblies (an fd each) on first use: take one before the baseline.
        _ = SocketCensus.Take();

        // The runtime's signal handling (System.Native: a pipe pair and the ".NET SigHandler" thread), started once per
        // process on first use and kept for its life. Seen starting mid-count in a stress run (LOOP-03: pipes +2,
        // threads +2, the two new fds one pipe's ends), so start it before the baseline; registering and disposing a
        // handler starts it (measured: pipes 9 -> 12) and leaves the signal's disposition as it was.
        if (OperatingSystem.IsLinux())
        {
            using (System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGCONT, _ => { }))
            {
            }
        }

        // Assemblies the handler loads lazily, one fd each for the life of the process, when a tier-1 recompile of
        // its send path first needs their types (seen: System.Net.Quic, System.Net.NetworkInformation). Tiered
        // compilation stays on, so load them now rather than at an unpredictable moment mid-count.
        foreach (var assembly in new[] { "System.Net.Quic", "System.Net.NetworkInformation" })
        {
            _ = System.Reflection.Assembly.Load(assembly);
        }

        // Warm up in rounds until one round leaves the fd count unchanged (at most 20 rounds): after that the
        // runtime has opened everything it opens once per process. Nothing else runs in this process.
        var warmRounds = 0;
        for (var stable = false; !stable && warmRounds < 20; warmRounds++)
        {
            var fds = SocketCensus.Take().TotalFds;
            for (var i = 0; i < Math.Min(WarmUp, iterations); i++)
            {
                once();
            }

            // Before the baseline only: finalize what the warm-up dropped, so no finalizer closes an fd mid-count.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            stable = warmRounds > 0 && SocketCensus.Take().TotalFds == fds;
        }
        var files = FdTargets();
        var runtimeFilesBefore = RuntimeFileCount();
        var before = SettledCensus();
        var threadsBefore = Threads();
        for (var i = 0; i < iterations; i++)
        {
            once();
        }

        var after = SettledCensus(); // no GC: what is left now is what the pattern leaves
        var newFds = FdTargets().Except(files).ToArray(); // listed at once: an fd that is gone a moment later shows too
        var threadsAfter = Threads();
        // With tiered compilation at its default the runtime may still map one of its own assemblies (a tier-1
        // recompile, e.g. System.Runtime.Intrinsics.dll) after the warm-up, for the life of the process. Those fds
        // are counted apart ("runtime-files"): they are regular files of the runtime or of this app's folder, never
        // sockets, pipes or event fds, which every other bucket counts exactly.
        var runtimeFiles = RuntimeFileCount() - runtimeFilesBefore;
        Console.WriteLine(string.Join(' ',
            "delta",
            Kv("fds", after.TotalFds - before.TotalFds - runtimeFiles),
            Kv("runtime-files", runtimeFiles),
            Kv("established", after.Tcp.Established - before.Tcp.Established),
            Kv("closewait", after.Tcp.CloseWait - before.Tcp.CloseWait),
            Kv("unix", after.UnixSockets - before.UnixSockets),
            Kv("epoll", after.Epoll - before.Epoll),
            Kv("eventfd", after.EventFd - before.EventFd),
            Kv("pipes", after.Pipes - before.Pipes),
            Kv("threads", threadsAfter - threadsBefore),
            Kv("loops", (int)EventLoop.ActiveCount),
            Kv("ledger", SocketLedger.Count),
            Kv("warmup-rounds", warmRounds)));
        Console.WriteLine("new-fds " + string.Join(", ", newFds));
        Console.Out.Flush();
        unowned?.Close();
        return 0;
    }

    private static async Task Pool08(string url)
    {
        var streamUrl = new Uri(new Uri(url), "/stream/5?stallAfter=1").ToString();
        var pool = new ConnectionPool();
        var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool, MaxClients = 20 });
        var streams = new List<FetchResponse>();
        for (var i = 0; i < 5; i++)
        {
            streams.Add(await client.FetchStreamAsync(streamUrl));
        }

        await client.FetchAsync(url);
        if (SocketLedger.Count != 6)
        {
            throw new InvalidOperationException($"expected 6 ledger entries before the close, got {SocketLedger.Count}");
        }

        await pool.CloseAsync();
        // By the time the close completed: ledger empty, nothing ESTABLISHED (checked before any other step).
        var census = SocketCensus.Take();
        if (SocketLedger.Count != 0 || census.Tcp.Established != 0)
        {
            throw new InvalidOperationException($"after CloseAsync: ledger {SocketLedger.Count}, census {census}");
        }

        client.Close();
        GC.KeepAlive(streams);
    }

    /// <summary>A census that two takes in a row agree on (at most 10 takes, no GC between them).</summary>
    /// <remarks>Every thread the runtime starts opens a pipe pair for a moment and closes it again (seen with
    /// <c>strace -f -k</c>: <c>pipe2</c> called from libcoreclr in the new thread's start routine, the same two fd
    /// numbers reused by the next new thread). Under load the thread pool starts threads at any time, so a single
    /// census could count such a pair (a stress run: pipes +2 in LOOP-03 and LOOP-05, and only one of the two fds
    /// still open a moment later). A pair that short-lived is never seen by two takes in a row; an fd the pattern
    /// leaks is seen by every take, so this filters the runtime's moment and nothing the pattern leaves.</remarks>
    private static CensusSnapshot SettledCensus()
    {
        var last = SocketCensus.Take();
        for (var i = 0; i < 9; i++)
        {
            var next = SocketCensus.Take();
            if (next.Delta(last).FdsUnchanged)
            {
                return next;
            }

            last = next;
        }

        return last;
    }

    private static string Kv(string key, int value) => key + "=" + value.ToString(CultureInfo.InvariantCulture);

    private static int Threads() => Directory.GetDirectories("/proc/self/task").Length;

    /// <summary>Open fds on files of the .NET runtime's directory or this app's own folder (assemblies and symbol
    /// files the runtime maps on demand).</summary>
    private static int RuntimeFileCount()
    {
        var runtime = System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory();
        var app = AppContext.BaseDirectory;
        var count = 0;
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target
                    && (target.StartsWith(runtime, StringComparison.Ordinal) || target.StartsWith(app, StringComparison.Ordinal)))
                {
                    count++;
                }
            }
            catch (IOException)
            {
            }
        }

        return count;
    }

    private static HashSet<string> FdTargets()
    {
        var set = new HashSet<string>();
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target)
                {
                    set.Add(Path.GetFileName(fd) + "->" + target);
                }
            }
            catch (IOException)
            {
            }
        }

        return set;
    }
}

/// <summary>A soak pattern marked as Tether that keeps one raw connection per iteration (2 fds: both ends are in this
/// process, the soak's own server included), closed only when the soak disposes the pattern.</summary>
internal sealed class Leaky(Uri url) : SoakPatternInstance
{
    private readonly List<Socket> _sockets = [];

    public override Uri Url => url;

    public override void Iterate()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _sockets.Add(s);
        s.Connect("127.0.0.1", url.Port);
    }

    public override async ValueTask DisposeAsync()
    {
        _sockets.ForEach(s => s.Dispose());
        await base.DisposeAsync();
    }
}

/// <summary>The proxy-env mode: what each way of sending does with the environment's proxy.</summary>
internal static class ProxyEnvironment
{
    public static async Task<int> RunAsync(string url)
    {
        using (var plain = new HttpClient())
        {
            using var r = await plain.GetAsync(url + "?via=plain");
            Console.WriteLine($"plain status={(int)r.StatusCode} remote=n/a");
        }

        await Bridge(url, "bridge", useProxy: null);
        await Bridge(url, "bridge-noproxy", useProxy: false);
        await Fetch(url, "fetch", useDefaultProxy: null);
        await Fetch(url, "fetch-env", useDefaultProxy: true);
        return 0;
    }

    private static async Task Bridge(string url, string name, bool? useProxy)
    {
        // A pool per request: its ledger then holds this request's connection only, read while the response is open.
        await using var pool = new ConnectionPool();
        var handler = new TetherHttpMessageHandler(pool);
        if (useProxy is { } use)
        {
            handler.UseProxy = use;
        }

        using var http = new HttpClient(handler);
        using var r = await http.GetAsync(url + "?via=" + name, HttpCompletionOption.ResponseHeadersRead);
        var remote = Remote(pool);
        await r.Content.ReadAsByteArrayAsync();
        Console.WriteLine($"{name} status={(int)r.StatusCode} remote={remote}");
    }

    private static async Task Fetch(string url, string name, bool? useDefaultProxy)
    {
        await using var pool = new ConnectionPool();
        await using var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool });
        await using var r = await client.FetchStreamAsync(new FetchRequest(url + "?via=" + name) { UseDefaultProxy = useDefaultProxy });
        var remote = Remote(pool);
        await r.BodyStream.CopyToAsync(Stream.Null);
        Console.WriteLine($"{name} status={r.Code} remote={remote}");
    }

    private static string Remote(ConnectionPool pool) =>
        string.Join(",", pool.Snapshot().Select(e => e.RemoteEndPoint?.Port.ToString(CultureInfo.InvariantCulture) ?? "none"));
}
