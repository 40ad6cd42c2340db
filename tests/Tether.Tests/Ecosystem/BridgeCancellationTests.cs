using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Ecosystem;

/// <summary>TIMEOUT-09 through the bridge (review 2026-12-02): HttpClient.Timeout in each phase gives the exception
/// (type, message, inner type) a plain HttpClient over a default SocketsHttpHandler gives; CancelPendingRequests and the
/// caller's token give the cancellation a plain HttpClient gives (type and token), never a timeout.</summary>
public sealed class BridgeCancellationTests
{
    [Fact]
    [Trait("Spec", "TIMEOUT-09")]
    public async Task TIMEOUT_09_HttpClient_Timeout_in_the_tls_handshake_the_headers_and_a_buffered_body_and_CancelPendingRequests_match_a_plain_HttpClient()
    {
        // dotnet/runtime#21965 (timeout = TaskCanceledException with inner TimeoutException) and #63706 (the phase the
        // timeout hit does not change the type): in every phase the bridge's exception has the type, inner type and
        // message of a plain HttpClient's. CancelPendingRequests and the caller's token are cancellations: the type of a
        // plain HttpClient's, for the caller's token when it was the caller's, with no TimeoutException inside.
        var ct = TestContext.Current.CancellationToken;
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: ct);
        await using var tls = TlsHostileServer.Start(TlsHostileBehavior.NeverHandshake);
        await using var silent = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(server, tls.Port, silent.Port);
        var outcomes = new List<string>();
        await using var pool = new ConnectionPool();
        foreach (var handler in new HttpMessageHandler[] { new SocketsHttpHandler(), new TetherHttpMessageHandler(pool) })
        {
            using var owned = handler;
            using var http = new HttpClient(handler, disposeHandler: false) { Timeout = TimeSpan.FromSeconds(1) };
            // The cancellations go through a client of their own over the same handler: with a 1 s Timeout a loaded
            // machine could let the timeout, not the cancel, end the request.
            using var cancelling = new HttpClient(handler, disposeHandler: false) { Timeout = TimeSpan.FromSeconds(30) };
            var log = new List<string>();
            foreach (var url in new[] { tls.Url("/x"), silent.Url("/x"), server.Url("/stream/3?stallAfter=1") })
            {
                var e = await Assert.ThrowsAnyAsync<Exception>(() => http.GetAsync(url, ct));
                log.Add($"{e.GetType().Name} {e.Message} inner={e.InnerException?.GetType().Name}");
            }

            var pending = await SendUntilHeardAsync(cancelling, silent, "/y", ct, ct);
            cancelling.CancelPendingRequests();
            var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
            // The token is HttpClient's own (CancelPendingRequests cancels its internal source): cancelled, and not the
            // caller's, which nothing cancelled.
            Assert.True(cancelled.CancellationToken.IsCancellationRequested, $"{handler.GetType().Name}: {cancelled}");
            Assert.NotEqual(ct, cancelled.CancellationToken);
            AssertCancellationOnly(handler, cancelled);
            log.Add($"pending: {cancelled.GetType().Name}");

            using var caller = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var mine = await SendUntilHeardAsync(cancelling, silent, "/z", caller.Token, ct);
            await caller.CancelAsync();
            var byCaller = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => mine);
            Assert.Equal(caller.Token, byCaller.CancellationToken);
            AssertCancellationOnly(handler, byCaller);
            log.Add($"caller: {byCaller.GetType().Name}");
            outcomes.Add(string.Join("\n", log));
        }

        Assert.Contains("pending: TaskCanceledException", outcomes[0], StringComparison.Ordinal);
        Assert.Contains("caller: TaskCanceledException", outcomes[0], StringComparison.Ordinal);
        Assert.Equal(outcomes[0], outcomes[1]);
        await pool.CloseAsync(ct);
        await check.AssertCleanAsync();
    }

    /// <summary>Starts a GET on <paramref name="server"/> and returns once the server has read its head (bounded): the
    /// request has its connection and has sent its head when the test cancels it (the server's accept, the condition
    /// until 2026-12-02, also let the cancel find it still waiting for the connection).</summary>
    private static async Task<Task<HttpResponseMessage>> SendUntilHeardAsync(HttpClient http, HostileServer server, string path,
        CancellationToken requestToken, CancellationToken ct)
    {
        var heads = server.RequestHeads.Count;
        var pending = http.GetAsync(server.Url(path), requestToken);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (server.RequestHeads.Count == heads && !pending.IsCompleted && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(10, ct); // bounded wait for the request to reach the server
        }

        return pending;
    }

    /// <summary>
    /// A cancellation, not a timeout nor a transport failure: no timeout message, and below it only HttpClient's own
    /// wrapping (an OperationCanceledException for the caller's token) and what the handler's teardown of the connection
    /// raised, if anything. Which of those a plain HttpClient gives is a race inside SocketsHttpHandler, not a contract:
    /// cancelling disposes the connection, and HttpConnection.MapSendException puts whatever the pending read then
    /// raised inside the OperationCanceledException (IOException "Operation canceled", HttpIOException when the read
    /// saw EOF, ObjectDisposedException when the dispose came before the read); a request still waiting for its
    /// connection gets the waiter's TaskCanceledException with nothing inside. The inner type was compared exactly until
    /// 2026-12-02: 9 of 50 runs of that version failed on this 2-core machine beside two CPU hogs (and one clean-clone CI
    /// run), all on the CancelPendingRequests line, and the plain client's inner in those 9 was nothing 4 times,
    /// IOException 3, HttpIOException 1, ObjectDisposedException 1 (the bridge's: IOException 6, HttpIOException 2,
    /// nothing 1). Waiting for the head, as now, still leaves the read's race: CancelPendingRequests 100 times each, a
    /// plain client gave IOException 99 times and HttpIOException once (the bridge the same). The bridge passes the
    /// handler's cause through unchanged (AsyncHttpClient.SendThroughPoolAsync).
    /// </summary>
    private static void AssertCancellationOnly(HttpMessageHandler handler, OperationCanceledException e)
    {
        Assert.DoesNotContain("HttpClient.Timeout", e.Message, StringComparison.Ordinal);
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            Assert.True(inner is OperationCanceledException or IOException or ObjectDisposedException or System.Net.Sockets.SocketException,
                $"{handler.GetType().Name}: a cancellation with {inner.GetType().Name} inside: {e}");
        }
    }
}
