using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Ecosystem;

/// <summary>TIMEOUT-09 through the bridge (review 2026-12-02): HttpClient.Timeout in each phase and CancelPendingRequests give
/// the exception (type, message, inner type) a plain HttpClient over a default SocketsHttpHandler gives.</summary>
public sealed class BridgeCancellationTests
{
    [Fact]
    [Trait("Spec", "TIMEOUT-09")]
    public async Task TIMEOUT_09_HttpClient_Timeout_in_the_tls_handshake_the_headers_and_a_buffered_body_and_CancelPendingRequests_match_a_plain_HttpClient()
    {
        // dotnet/runtime#21965 (timeout = TaskCanceledException with inner TimeoutException) and #63706 (the phase the
        // timeout hit does not change the type): in every phase the bridge's exception has the type, inner type and
        // message of a plain HttpClient's. CancelPendingRequests is a cancellation, with no TimeoutException inside.
        var ct = TestContext.Current.CancellationToken;
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: ct);
        await using var tls = TlsHostileServer.Start(TlsHostileBehavior.NeverHandshake);
        await using var silent = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(server, tls.Port, silent.Port);
        var outcomes = new List<string>();
        await using var pool = new ConnectionPool();
        foreach (var handler in new HttpMessageHandler[] { new SocketsHttpHandler(), new TetherHttpMessageHandler(pool) })
        {
            using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(1) };
            var log = new List<string>();
            foreach (var url in new[] { tls.Url("/x"), silent.Url("/x"), server.Url("/stream/3?stallAfter=1") })
            {
                var e = await Assert.ThrowsAnyAsync<Exception>(() => http.GetAsync(url, ct));
                log.Add($"{e.GetType().Name} {e.Message} inner={e.InnerException?.GetType().Name}");
            }

            var accepted = silent.AcceptedConnections;
            var pending = http.GetAsync(silent.Url("/y"), ct);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (silent.AcceptedConnections == accepted && sw.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(10, ct); // bounded wait for the request to reach the server
            }

            http.CancelPendingRequests();
            var cancelled = await Assert.ThrowsAnyAsync<Exception>(() => pending);
            log.Add($"pending: {cancelled.GetType().Name} inner={cancelled.InnerException?.GetType().Name}");
            outcomes.Add(string.Join("\n", log));
        }

        Assert.Contains("pending: TaskCanceledException", outcomes[0], StringComparison.Ordinal);
        Assert.Equal(outcomes[0], outcomes[1]);
        await pool.CloseAsync(ct);
        await check.AssertCleanAsync();
    }
}
