using Tether.Diagnostics;

namespace Tether.Samples.SeedDoneRight;

/// <summary>
/// The seed scenario done right: code that calls <c>EventLoop.Run</c> once per request (a fresh loop per call, as in
/// Tornado issue #3424) and still leaves nothing behind. Each iteration's client is owned by its loop and closed when
/// the loop ends; it leases from <see cref="ConnectionPool.Process"/>, so every iteration reuses one keep-alive
/// connection instead of opening (and leaving in TIME_WAIT) one per call.
/// </summary>
public static class SeedDoneRightApp
{
    /// <summary>Runs <paramref name="iterations"/> fresh loops that each fetch <paramref name="url"/> once, then prints
    /// the census delta and the ledger.</summary>
    /// <param name="url">A loopback URL to fetch.</param>
    /// <param name="iterations">How many loops to run.</param>
    /// <param name="output">Where to print the report.</param>
    /// <returns>The census delta between before and after (fds, TIME_WAIT, ...).</returns>
    public static CensusDelta Run(string url, int iterations, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var before = SocketCensus.Take();
        for (var i = 0; i < iterations; i++)
        {
            EventLoop.Run(async () =>
            {
                // Owned by this loop (created inside Run), closed when Run returns; its sockets live in the process pool.
                var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = ConnectionPool.Process });
                using var response = await client.FetchAsync(url);
            });
        }

        var ledger = SocketLedger.Snapshot();
        ConnectionPool.Process.CloseIdleConnections();
        var after = SocketCensus.Take();
        var delta = after.Delta(before);
        output.WriteLine($"{iterations} loops, one fetch each, to {url}");
        output.WriteLine($"ledger at the end (before closing idle): {ledger.Count} socket(s)");
        output.WriteLine($"census delta after closing idle connections: {delta}");
        return delta;
    }
}
