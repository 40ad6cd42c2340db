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
        // A 5 ms allowance below T covers timer granularity and clock-read ordering, nothing more.
        Assert.True(actual >= expected - TimeSpan.FromMilliseconds(5),
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
