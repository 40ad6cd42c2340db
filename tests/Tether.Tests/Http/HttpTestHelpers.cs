using System.Diagnostics;
using System.Text.Json;
using Xunit;

namespace Tether.Tests.Http;

/// <summary>Small helpers shared by the CLIENT, PROTOCOL and TIMEOUT tests.</summary>
internal static class HttpTestHelpers
{
    /// <summary>The spec's "within T": no earlier than T, no later than T + max(250 ms, T/2).</summary>
    public static void AssertWithin(TimeSpan expected, TimeSpan actual, string what)
    {
        var slack = TimeSpan.FromMilliseconds(Math.Max(250, expected.TotalMilliseconds / 2));
        // A 10 ms allowance below T covers the runtime's timer clock, nothing more: System.Threading timers (and so
        // every CancelAfter and TimeProvider.System timer) count time on the coarse monotonic clock, which moves in
        // kernel ticks (4 ms at this machine's HZ = 250), once when the timer is armed and once when it fires, while
        // the test's Stopwatch reads the precise clock. A clean-clone run saw a queue timeout of 1 s at 994 ms.
        Assert.True(actual >= expected - TimeSpan.FromMilliseconds(10),
            $"{what} happened after {actual.TotalMilliseconds:F0} ms, earlier than {expected.TotalMilliseconds:F0} ms");
        Assert.True(actual <= expected + slack,
            $"{what} happened after {actual.TotalMilliseconds:F0} ms, later than {(expected + slack).TotalMilliseconds:F0} ms");
    }

    /// <summary>Parses the JSON of <c>/echo/headers</c> (name → values).</summary>
    public static Dictionary<string, string[]> Headers(FetchResponse response) =>
        new(JsonSerializer.Deserialize<Dictionary<string, string[]>>(response.Text)!, StringComparer.OrdinalIgnoreCase);

    /// <summary>Awaits <paramref name="task"/> and returns the exception it failed with, and how long that took.</summary>
    public static async Task<(T Error, TimeSpan Elapsed)> FailsWith<T>(Func<Task> task)
        where T : Exception
    {
        var sw = Stopwatch.StartNew();
        var error = await Assert.ThrowsAnyAsync<T>(task);
        return (error, sw.Elapsed);
    }
}
