using System.Diagnostics;
using Tether.Tests.Support;
using static Tether.Tests.Fault.HostileAssert;
using Xunit;

namespace Tether.Tests.Replay;

/// <summary>
/// PROTOCOL-04 through the HttpClient bridge (review 2026-12-02): a response read with ResponseHeadersRead, read in
/// part and disposed. A default SocketsHttpHandler drains the rest in the background (MaxResponseDrainSize 1 MiB,
/// ResponseDrainTimeout 2 s) and reuses the connection; the bridge closed it, so five such responses took five
/// connections (and left five TIME_WAIT sockets) where a plain HttpClient took one.
/// </summary>
public sealed class BridgeDrainReplayTests
{
    private const int Small = 64 * 1024;
    private const int Large = 1024 * 1024;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // `sent` counts responses the script has handed whole to the kernel. /stall's Content-Length announces 1,000 bytes,
    // 10 are sent, and the connection is then held until the client closes it.
    private static ScriptServer Server(Action sent) => ScriptServer.Start(async (c, ct) =>
    {
        while (await c.ReadRequestAsync(ct) is { } request)
        {
            if (request.Target == "/stall")
            {
                await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", ct);
                sent();
                continue; // the next read returns null when the client closes
            }

            var size = request.Target == "/large" ? Large : Small;
            await c.SendAsync($"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n{new string('x', size)}", ct);
            sent();
        }
    });

    private static async Task ReadPartAndDisposeAsync(HttpClient http, string url, Func<bool> wholeResponseSent)
    {
        var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, Ct);
        var body = await response.Content.ReadAsStreamAsync(Ct);
        var buffer = new byte[100];
        Assert.True(await body.ReadAsync(buffer, Ct) > 0);
        await WaitUntil(wholeResponseSent, "the server to have sent the whole response");
        response.Dispose();
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-04")]
    [Trait("Spec", "HTTP-11")]
    public async Task PROTOCOL_04_bridge_drains_a_small_unread_remainder_and_reuses_the_connection_as_HttpClient_does()
    {
        var sent = 0;
        await using var server = Server(() => Interlocked.Increment(ref sent));
        var check = LeakCheck.Start(server.Port);

        // The oracle: a plain HttpClient. Each response is in the client's receive queue before the dispose (the script
        // has sent it), so the handler's drain completes before the next request asks for a connection.
        using (var plain = new HttpClient())
        {
            for (var i = 1; i <= 5; i++)
            {
                var expected = i;
                await ReadPartAndDisposeAsync(plain, server.Url("/small"), () => Volatile.Read(ref sent) >= expected);
            }
        }

        Assert.Equal(1, server.AcceptedConnections);

        await using var pool = new ConnectionPool();
        var handler = new TetherHttpMessageHandler(pool);
        using (var bridged = new HttpClient(handler))
        {
            for (var i = 1; i <= 5; i++)
            {
                var expected = 5 + i;
                await ReadPartAndDisposeAsync(bridged, server.Url("/small"), () => Volatile.Read(ref sent) >= expected);
                // The drain runs after the dispose returns, as the handler's does; the fetch ends with it.
                await WaitUntil(() => handler.Client.InFlight == 0, "the drained fetch to end");
            }

            Assert.Equal(2, server.AcceptedConnections); // one for the plain client, one for all five bridged responses
            var entry = Assert.Single(Ledger.Towards(server.Port));
            Assert.Equal(global::Tether.Diagnostics.ConnectionState.Idle, entry.State);
        }

        await pool.CloseAsync();
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-04")]
    public async Task PROTOCOL_04_bridge_closes_a_connection_with_a_large_remainder_at_once_and_bounds_a_stalled_drain()
    {
        await using var server = Server(static () => { });
        var check = LeakCheck.Start(server.Port);
        await using var pool = new ConnectionPool();
        var handler = new TetherHttpMessageHandler(pool);
        using (var bridged = new HttpClient(handler))
        {
            // About 1 MiB unread: more than the 64 KiB Tether drains (a default SocketsHttpHandler drains up to 1 MiB,
            // documented difference). The fetch ends with the dispose and its connection is closed.
            // (Whether the server could send all of it does not matter: the client stops reading after 100 bytes.)
            await ReadPartAndDisposeAsync(bridged, server.Url("/large"), static () => true);
            Assert.Equal(0, handler.Client.InFlight); // ended by the dispose itself, no drain
            await WaitUntil(() => Ledger.Towards(server.Port).Count == 0, "the connection with 1 MiB unread to close");

            // 990 announced bytes never come: the drain gives up after its 2 s and closes the connection.
            var sw = Stopwatch.StartNew();
            // (The 10 bytes come with the head, which GetAsync waited for.)
            await ReadPartAndDisposeAsync(bridged, server.Url("/stall"), static () => true);
            Assert.Equal(1, handler.Client.InFlight); // draining: the fetch holds its slots until the drain ends
            // 2 s of drain deadline; the other 8 s are the margin for a loaded 2-core machine.
            await WaitUntil(() => handler.Client.InFlight == 0, "the stalled drain to give up", 10_000);
            Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(1900), $"the drain gave up after {sw.Elapsed.TotalMilliseconds:F0} ms, before its 2 s");
            await WaitUntil(() => Ledger.Towards(server.Port).Count == 0, "the stalled connection to leave the ledger");

            // A third request opens a third connection: neither of the first two was kept.
            var ok = await bridged.GetAsync(server.Url("/small"), Ct);
            Assert.Equal(Small, (await ok.Content.ReadAsByteArrayAsync(Ct)).Length);
            Assert.Equal(3, server.AcceptedConnections);
        }

        await pool.CloseAsync();
        await check.AssertCleanAsync();
    }
}
