using System.Diagnostics;
using System.Text;
using CsCheck;
using Tether.Diagnostics;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;
using static Tether.Tests.Fault.HostileAssert;

namespace Tether.Tests.Fault;

/// <summary>
/// FAULT-15: property-based fuzzing of raw responses with CsCheck. Each case is random bytes or a mutation of a
/// valid response (byte flips, insertions, deletions, duplicated ranges, truncation), served by one
/// <see cref="HostileServer.StartRaw(Func{ReadOnlyMemory{byte}, byte[]}, bool)"/> server. The property: the fetch
/// returns or throws only <see cref="FetchException"/>/<see cref="ArgumentException"/>, ends before the request
/// timeout plus margin, and leaves the ledger empty. CsCheck shrinks a failure to a minimal response and prints it;
/// such responses are kept in <see cref="FAULT_15_regression_responses_stay_fixed"/>.
/// <c>TETHER_FUZZ_ITERATIONS</c> (default 200) and <c>TETHER_FUZZ_SEED</c> control long runs.
/// </summary>
public sealed class FuzzTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromMilliseconds(1000);
    // Touching a generator runs the static initializer (and maps CsCheck.dll, one fd) before any baseline.
    private readonly bool _warm = WarmUp() && RandomBytes is not null;

    private static readonly byte[][] Valid =
    [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"u8.ToArray(),
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"u8.ToArray(),
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited body"u8.ToArray(),
        "HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n"u8.ToArray(),
        "HTTP/1.1 204 No Content\r\n\r\n"u8.ToArray(),
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray(),
        [.. "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 23\r\n\r\n"u8.ToArray(),
            .. Convert.FromHexString("1F8B0800000000000003CB48CDC9C90700863BA6360500000000")[..23]],
    ];

    private static readonly Gen<byte[]> RandomBytes = Gen.Byte.Array[0, 400];

    /// <summary>One mutation of a byte array: flip, insert, delete a range, duplicate a range, or truncate.</summary>
    private static Gen<Func<byte[], byte[]>> Mutation =>
        Gen.Int[0, 4].SelectMany(kind => Gen.Int[0, 1000].SelectMany(a => Gen.Int[0, 1000].SelectMany(b => Gen.Byte.Select(value =>
            (Func<byte[], byte[]>)(bytes =>
            {
                if (bytes.Length == 0)
                {
                    return [value];
                }

                var i = a % bytes.Length;
                var len = Math.Min(b % 16 + 1, bytes.Length - i);
                return kind switch
                {
                    0 => [.. bytes[..i], (byte)(bytes[i] ^ (value | 1)), .. bytes[(i + 1)..]],
                    1 => [.. bytes[..i], value, .. bytes[i..]],
                    2 => [.. bytes[..i], .. bytes[(i + len)..]],
                    3 => [.. bytes[..(i + len)], .. bytes[i..]],
                    _ => bytes[..i],
                };
            })))));

    private static readonly Gen<byte[]> Mutated =
        Gen.Int[0, Valid.Length - 1].SelectMany(t => Mutation.Array[1, 6].Select(ms => ms.Aggregate(Valid[t], (b, m) => m(b))));

    private static readonly Gen<byte[]> Responses = Gen.Frequency((1, RandomBytes), (3, Mutated));

    private static string Show(byte[] bytes) =>
        "\"" + string.Concat(bytes.Select(b => b is >= 32 and < 127 and not (byte)'"' and not (byte)'\\' ? ((char)b).ToString() : $"\\x{b:X2}")) + "\"";

    /// <summary>Fetches <paramref name="response"/> through <paramref name="current"/>'s server and checks the property.</summary>
    private static async Task CheckOne(AsyncHttpClient client, HostileServer hostile, Box current, byte[] response)
    {
        current.Bytes = response;
        var sw = Stopwatch.StartNew();
        try
        {
            using var r = await client.FetchAsync(hostile.Url("/fuzz").ToString());
        }
        catch (FetchException)
        {
        }
        catch (ArgumentException)
        {
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"crash: {e.GetType().Name}: {e.Message} for {Show(response)}", e);
        }

        sw.Stop();
        // A hang runs into the request timeout; 500 ms past it (the Timing rule's max(250 ms, T/2) for T = 1 s) is the
        // margin for a loaded 2-core machine.
        if (sw.Elapsed > RequestTimeout + TimeSpan.FromMilliseconds(500))
        {
            throw new InvalidOperationException($"hang: {sw.Elapsed.TotalMilliseconds:F0} ms (RequestTimeout {RequestTimeout}) for {Show(response)}");
        }

        // The fetch is over: its socket is closed or idle in the pool; an idle one is closed here so the ledger
        // must be empty (nothing half-owned).
        // A connection the server closed right after the response may still be leaving (its close runs on the
        // pool's thread): wait for the condition, bounded at 5 s (a close takes well under 100 ms even under load).
        var waited = Stopwatch.StartNew();
        while (true)
        {
            client.Pool?.CloseIdleConnections();
            var left = Ledger.Towards(hostile.Port);
            if (left.Count == 0)
            {
                break;
            }

            if (waited.Elapsed > TimeSpan.FromSeconds(5))
            {
                throw new InvalidOperationException($"leak: {left.Count} ledger entries 5 s after {Show(response)}: {string.Join("; ", left)}");
            }

            await Task.Delay(10);
        }
    }

    private sealed class Box
    {
        public volatile byte[] Bytes = [];
    }

    private static AsyncHttpClient FuzzClient() => NewClient(RequestTimeout, o =>
    {
        o.Defaults.FollowRedirects = false;
        o.Defaults.MaxBodySize = 1 << 20;
    });

    [Fact]
    [Trait("Spec", "FAULT-15")]
    public async Task FAULT_15_fuzzed_responses_never_crash_hang_or_leak()
    {
        var iterations = EnvCount("TETHER_FUZZ_ITERATIONS", 200);
        var seed = Environment.GetEnvironmentVariable("TETHER_FUZZ_SEED");
        var current = new Box();
        await using var hostile = HostileServer.StartRaw(_ => current.Bytes, closeAfter: true);
        var check = LeakCheck.Start(server, hostile.Port);
        var sw = Stopwatch.StartNew();
        await using (var client = FuzzClient())
        {
            await Responses.SampleAsync(response => CheckOne(client, hostile, current, response),
                writeLine: line => TestContext.Current.TestOutputHelper?.WriteLine(line),
                seed: string.IsNullOrEmpty(seed) ? null : seed, iter: iterations, threads: 1, print: Show);
        }

        sw.Stop();
        Measure("FAULT-15", $"{iterations} fuzzed responses in {sw.Elapsed.TotalSeconds:F1} s, no crash, hang or leak");
        await check.AssertCleanAsync();
    }

    /// <summary>Shrunk responses from fuzzing runs (and hand-picked edge cases) kept as regression cases.</summary>
    [Theory]
    [Trait("Spec", "FAULT-15")]
    [InlineData("")]
    [InlineData("\\x00")]
    [InlineData("HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\n\\r\\nhel")]
    [InlineData("HTTP/1.1 200 OK\\r\\nContent-Length: -1\\r\\n\\r\\nhello")]
    [InlineData("HTTP/1.1 200 OK\\r\\nContent-Length: 99999999999999999999\\r\\n\\r\\n")]
    [InlineData("HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nFFFFFFFFFFFFFFFFFF\\r\\n")]
    [InlineData("HTTP/1.1 200 OK\\r\\nContent-Encoding: gzip\\r\\nContent-Length: 4\\r\\n\\r\\n\\x1F\\x8B\\x08\\x00")]
    [InlineData("HTTP/1.1 100 Continue\\r\\n\\r\\nHTTP/1.1 100 Continue\\r\\n\\r\\n")]
    [InlineData("HTTP/1.1 200 OK\\r\\n\\r\\n")]
    [InlineData("HTTP/1.1 200 OK\\nContent-Length: 2\\n\\nok")]
    [InlineData("HTTP/1.1 200 OK\\r\\n X-Folded: a\\r\\n\\r\\n")]
    public async Task FAULT_15_regression_responses_stay_fixed(string escaped)
    {
        var bytes = Unescape(escaped);
        var current = new Box();
        await using var hostile = HostileServer.StartRaw(_ => current.Bytes, closeAfter: true);
        var check = LeakCheck.Start(server, hostile.Port);
        await using (var client = FuzzClient())
        {
            await CheckOne(client, hostile, current, bytes);
        }

        await check.AssertCleanAsync();
    }

    private static byte[] Unescape(string s)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 1 < s.Length)
            {
                switch (s[i + 1])
                {
                    case 'r': bytes.Add(13); i++; continue;
                    case 'n': bytes.Add(10); i++; continue;
                    case 'x': bytes.Add(Convert.ToByte(s.Substring(i + 2, 2), 16)); i += 3; continue;
                }
            }

            bytes.Add((byte)s[i]);
        }

        return [.. bytes];
    }
}
