// Tether.PeerDriver: Tether's columns for the peer harnesses in ../shared/peers (see bench/README.md).
//
// Throughput contract (run-peers.sh):
//   Tether.PeerDriver <mode> <url> <concurrency> <secs> <warmup_s>      -> one JSON object, last line of stdout
//   modes: shared         one AsyncHttpClient for the process (MaxClients = concurrency, private pool)
//          loop-per-call  the seed pattern: per request EventLoop.Run + a new AsyncHttpClient leasing
//                         ConnectionPool.Process; one dedicated thread per concurrency slot
//          raw            one plain HttpClient over SocketsHttpHandler (the same-binary baseline)
//   TETHER_JIT_TIMELINE=1 adds a JIT timeline to stderr (JitTimeline.cs).
//
// In-process A/B (no harness; docs/benchmarks.md, fifth pass):
//   Tether.PeerDriver ab <url> <concurrency> <rounds> <secs> [warmup_s=8]   -> one line per round, then the medians
//   Tether.PeerDriver ab-loop <url> <private|process> <iters> <rounds> [warmup_iters=3000] [raw|seed: that side only]
//   the seed loop against the harness's raw loop (new HttpClient + Dispose, or one shared HttpClient), the same way
//   `raw` and `shared` in one process, warmed up in turn, then rounds interleaved (order alternating): the JIT state
//   of the framework's code is shared, so the ratio is the per-fetch cost of Tether's own code and objects.
//
// Loop-leak contract (run-loop-leak.sh):
//   Tether.PeerDriver <leak-mode> <url> <iters> <every> <settle_s> <max_secs>   -> JSON lines
//   modes: leak-process   EventLoop.Run + new AsyncHttpClient { Pool = ConnectionPool.Process } + one fetch
//          leak-private   EventLoop.Run + new AsyncHttpClient() (private pool, closed by the loop) + one fetch
//
// Idle-close contract (run-idle-close.sh, CORE-09; own loopback server, no URL):
//   Tether.PeerDriver idle-close [connections=200] [rounds=3]                 -> JSON lines
//
// The mode may also come from TETHER_DRIVER_MODE when the first argument is the URL.
using System.Globalization;
using Tether.PeerDriver;

string? mode = Environment.GetEnvironmentVariable("TETHER_DRIVER_MODE");
var rest = args;
if (args.Length > 0 && !args[0].Contains("://", StringComparison.Ordinal))
{
    mode = args[0];
    rest = args[1..];
}

if (mode == "idle-close")
{
    return await IdleCloseDriver.RunAsync(
        rest.Length > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : 200,
        rest.Length > 1 ? int.Parse(rest[1], CultureInfo.InvariantCulture) : 3);
}

if (mode is null || rest.Length < 4)
{
    Console.Error.WriteLine(
        "usage: Tether.PeerDriver <shared|loop-per-call|raw> <url> <concurrency> <secs> <warmup_s>\n" +
        "       Tether.PeerDriver <leak-process|leak-private> <url> <iters> <every> <settle_s> [max_secs]\n" +
        "       Tether.PeerDriver idle-close [connections] [rounds]\n" +
        "       Tether.PeerDriver ab <url> <concurrency> <rounds> <secs> [warmup_s]\n" +
        "       Tether.PeerDriver ab-loop <url> <private|process> <iters> <rounds> [warmup_iters] [raw|seed]\n" +
        "       (or set TETHER_DRIVER_MODE and pass the URL first)");
    return 2;
}

var inv = CultureInfo.InvariantCulture;
var url = new Uri(rest[0]);
if (!url.IsLoopback)
{
    Console.Error.WriteLine($"refusing non-loopback URL {url}: the harness only talks to 127.0.0.1");
    return 2;
}

switch (mode)
{
    case "shared":
    case "loop-per-call":
    case "raw":
        return await LoadDriver.RunAsync(mode, url, int.Parse(rest[1], inv), double.Parse(rest[2], inv),
            double.Parse(rest[3], inv));
    case "ab":
        return await LoadDriver.RunAbAsync(url, int.Parse(rest[1], inv), int.Parse(rest[2], inv), double.Parse(rest[3], inv),
            rest.Length > 4 ? double.Parse(rest[4], inv) : 8);
    case "ab-loop":
        return LeakAbDriver.Run(url, rest[1], int.Parse(rest[2], inv), int.Parse(rest[3], inv),
            rest.Length > 4 ? int.Parse(rest[4], inv) : 3000, rest.Length > 5 ? rest[5] : null);
    case "leak-process":
    case "leak-private":
        return LeakDriver.Run(mode, url, int.Parse(rest[1], inv), int.Parse(rest[2], inv), double.Parse(rest[3], inv),
            rest.Length > 4 ? double.Parse(rest[4], inv) : 120);
    default:
        Console.Error.WriteLine($"unknown mode '{mode}': use shared, loop-per-call, raw, ab, ab-loop, leak-process or leak-private");
        return 2;
}
