using System.Diagnostics;
using Xunit;

namespace Tether.Tests.Fault;

/// <summary>
/// Shared assertions for the FAULT and SEC groups: a fetch fails with a 599 of one exact kind within a bound, and the
/// time it took is written to the test output (and, when <c>TETHER_MEASURE_FILE</c> is set, appended to that file) so
/// docs/reliability.md can quote measured numbers.
/// </summary>
internal static class HostileAssert
{
    /// <summary>Formerly mapped runtime assemblies before an fd baseline. The Clean check no longer counts
    /// whole-process fds (issue 13), so there is nothing to warm up; kept so existing callers compile.</summary>
    public static bool WarmUp() => true;

    /// <summary>Short timeouts for hostile cases: long enough for loopback, short enough that a hang shows.</summary>
    public static AsyncHttpClient NewClient(TimeSpan? requestTimeout = null, Action<AsyncHttpClientOptions>? configure = null)
    {
        var options = new AsyncHttpClientOptions { Ownership = ClientOwnership.Caller };
        options.Defaults.RequestTimeout = requestTimeout ?? TimeSpan.FromSeconds(5);
        options.Defaults.ConnectTimeout = TimeSpan.FromSeconds(2);
        configure?.Invoke(options);
        return new AsyncHttpClient(options);
    }

    public static async Task<FetchException> Fails599(string id, AsyncHttpClient client, FetchRequest request, FetchErrorKind kind,
        TimeSpan within)
    {
        var sw = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(request, TestContext.Current.CancellationToken));
        sw.Stop();
        Assert.True(error.Code == FetchException.NoResponse, $"{id}: expected a 599, got {error.Code} ({error.Kind}): {error.Message}");
        Assert.True(error.Kind == kind, $"{id}: expected kind {kind}, got {error.Kind}: {error.Message}");
        Assert.True(sw.Elapsed < within, $"{id}: took {sw.Elapsed.TotalMilliseconds:F0} ms, bound {within.TotalMilliseconds:F0} ms");
        Measure(id, $"{kind} in {sw.Elapsed.TotalMilliseconds:F1} ms");
        return error;
    }

    public static Task<FetchException> Fails599(string id, AsyncHttpClient client, Uri url, FetchErrorKind kind, TimeSpan within) =>
        Fails599(id, client, new FetchRequest(url.ToString()), kind, within);

    /// <summary>Writes one measurement line to the test output and to <c>$TETHER_MEASURE_FILE</c> when set.</summary>
    public static void Measure(string id, string text)
    {
        var line = $"MEASURE {id}: {text}";
        TestContext.Current.TestOutputHelper?.WriteLine(line);
        if (Environment.GetEnvironmentVariable("TETHER_MEASURE_FILE") is { Length: > 0 } file)
        {
            lock (typeof(HostileAssert))
            {
                File.AppendAllText(file, line + Environment.NewLine);
            }
        }
    }

    /// <summary>Waits (bounded) until <paramref name="condition"/> holds; fails with <paramref name="what"/> otherwise.
    /// The default 3 s: what the fault tests wait for (a close noticed by the pool's reaper, every 250 ms by default)
    /// takes at most a reaper tick unloaded, so 3 s is the margin for a loaded 2-core machine.</summary>
    public static async Task WaitUntil(Func<bool> condition, string what, int timeoutMs = 3000)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.ElapsedMilliseconds < timeoutMs, $"timed out after {timeoutMs} ms waiting for: {what}");
            await Task.Delay(10);
        }
    }

    /// <summary>An environment-variable count for long variants; <paramref name="ci"/> otherwise.</summary>
    public static int EnvCount(string name, int ci) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var n) && n > 0 ? n : ci;
}
