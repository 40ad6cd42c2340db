using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Replay;

/// <summary>
/// Public bug reports about connection-pool slots that leak on a failure path (connect error, read timeout,
/// cancellation), after which every request fails with a pool timeout against a healthy server. Replayed against a
/// Tether pool of one slot, so a single leaked slot shows.
/// </summary>
public sealed class PoolSlotReplayTests
{
    /// <summary>Upper bound for a fetch against a healthy server after the failures: a few ms unloaded; a leaked slot
    /// would make it wait out the 2 s pool-wait timeout and fail. 3 s of margin on top of any deadline the scenario
    /// itself has to let pass, for a loaded 2-core machine.</summary>
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(3);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AsyncHttpClient OneSlotClient(TimeSpan? connectTimeout = null)
    {
        var options = new AsyncHttpClientOptions
        {
            Ownership = ClientOwnership.Caller,
            PoolOptions = new ConnectionPoolOptions
            {
                MaxConnectionsPerHost = 1,
                MaxConnectionsTotal = 1,
                PoolWaitTimeout = TimeSpan.FromSeconds(2),
            },
        };
        options.Defaults.RequestTimeout = TimeSpan.FromSeconds(10);
        options.Defaults.ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(2);
        return new AsyncHttpClient(options);
    }

    private static ScriptServer OkServer() => ScriptServer.Start(async (c, ct) =>
    {
        while (await c.ReadRequestAsync(ct) is not null)
        {
            await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", ct);
        }
    });

    private static async Task<FetchResponse> FetchWithin(AsyncHttpClient client, string url, TimeSpan bound, string what)
    {
        var sw = Stopwatch.StartNew();
        var response = await client.FetchAsync(url, Ct);
        Assert.True(sw.Elapsed < bound, $"{what} took {sw.Elapsed.TotalMilliseconds:F0} ms (bound {bound.TotalMilliseconds:F0} ms)");
        return response;
    }

    [Fact]
    [Trait("Spec", "POOL-03")]
    public async Task POOL_03_refused_connects_give_back_their_slot()
    {
        // Replays aio-libs/aiohttp#835 (fixed by aio-libs/aiohttp#861): with a connector limit, a connect that failed
        // left its waiter registered, so after `limit` failures every request waited forever. Five concurrent fetches
        // to a closed port through one slot (total and per host), then one to a live server.
        await using var live = OkServer();
        var closedPort = HostileServer.GetClosedPort();
        var check = LeakCheck.Start(live.Port, closedPort);
        await using (var client = OneSlotClient())
        {
            var refused = Enumerable.Range(0, 5)
                .Select(_ => Assert.ThrowsAsync<FetchException>(() => client.FetchAsync($"http://127.0.0.1:{closedPort}/", Ct)))
                .ToArray();
            foreach (var error in await Task.WhenAll(refused))
            {
                Assert.True(error.Kind == FetchErrorKind.ConnectionRefused, $"expected ConnectionRefused, got {error.Kind}: {error.Message}");
            }

            var ok = await FetchWithin(client, live.Url("/"), Margin, "the fetch after five refused connects");
            Assert.Equal("ok", ok.Text);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-10")]
    public async Task TIMEOUT_10_request_timeouts_do_not_poison_a_one_slot_pool()
    {
        // Replays encode/httpcore#550: after a few ConnectTimeout/ReadTimeout errors under load, every later request
        // of the pool failed with PoolTimeout against a healthy server (a connection stayed counted, never reaped).
        // The first three connections are read and never answered (each fetch ends at its RequestTimeout); the server
        // answers from the fourth on.
        await using var server = ScriptServer.Start(async (c, ct) =>
        {
            if (c.Id < 3)
            {
                await c.ReadRequestAsync(ct);
                var (_, closed) = await c.ReadForAsync(TimeSpan.FromSeconds(30), ct);
                Assert.True(closed, $"connection {c.Id}: the client kept a timed-out connection open");
                return;
            }

            while (await c.ReadRequestAsync(ct) is not null)
            {
                await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", ct);
            }
        });
        var check = LeakCheck.Start(server.Port);
        await using (var client = OneSlotClient())
        {
            for (var i = 0; i < 3; i++)
            {
                var error = await Assert.ThrowsAsync<FetchException>(() =>
                    client.FetchAsync(new FetchRequest(server.Url($"/hang/{i}")) { RequestTimeout = TimeSpan.FromMilliseconds(300) }, Ct));
                Assert.True(error.Kind == FetchErrorKind.RequestTimeout, $"fetch {i}: expected RequestTimeout, got {error.Kind}: {error.Message}");
            }

            var ok = await FetchWithin(client, server.Url("/ok"), Margin, "the fetch after three request timeouts");
            Assert.Equal("ok", ok.Text);
            Assert.Equal(4, server.AcceptedConnections);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-10")]
    public async Task TIMEOUT_10_cancelled_fetches_at_random_points_leave_the_one_slot_usable()
    {
        // Replays encode/httpx#1461: requests cancelled with task.cancel() (the slower of two, each time) left their
        // connection in the pool, until PoolTimeout. Here 20 fetches are cancelled by their caller's token at seeded
        // random points (queued, waiting for the head, reading the body) against a server that answers after 50 ms
        // and trickles its body; then one more fetch must get the slot at once.
        await using var server = ScriptServer.Start(async (c, ct) =>
        {
            while (await c.ReadRequestAsync(ct) is not null)
            {
                await Task.Delay(50, ct);
                await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", ct);
                await Task.Delay(50, ct);
                await c.SendAsync("cd", ct);
            }
        });
        var check = LeakCheck.Start(server.Port);
        var random = new Random(1461);
        await using (var client = OneSlotClient())
        {
            for (var i = 0; i < 20; i++)
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                cts.CancelAfter(TimeSpan.FromMilliseconds(random.Next(0, 120)));
                try
                {
                    var response = await client.FetchAsync(server.Url($"/slow/{i}"), cts.Token);
                    Assert.Equal("abcd", response.Text);
                }
                catch (OperationCanceledException) when (cts.IsCancellationRequested)
                {
                    // cancelled where the seed put it
                }
            }

            var ok = await FetchWithin(client, server.Url("/last"), Margin, "the fetch after 20 cancelled ones");
            Assert.Equal("abcd", ok.Text);
            Assert.True(client.Pool!.Snapshot().Count <= 1, $"the one-slot pool lists {client.Pool!.Snapshot().Count} connections");
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "CORE-04")]
    public async Task CORE_04_a_fetch_cancelled_during_a_stalled_TLS_handshake_does_not_orphan_the_only_slot()
    {
        // Replays encode/httpcore#1099 (also #658, #830): a request cancelled while its new connection was still being
        // established left that connection in the pool in a state no cleanup matched, holding the only slot; every later
        // request failed with PoolTimeout against a healthy server. Here a relay in front of Kestrel (HTTPS) never
        // answers the ClientHello of its first connection and passes every later one through; the fetch that caused
        // the first connection is cancelled by its caller during the handshake.
        await using var kestrel = await KestrelTestServer.StartAsync(new KestrelTestServerOptions { Https = true }, Ct);
        var httpsPort = kestrel.HttpsBaseUri!.Port;
        await using var relay = ScriptServer.Start(async (c, ct) =>
        {
            if (c.Id == 0)
            {
                await c.ReadForAsync(TimeSpan.FromSeconds(30), ct); // swallow the ClientHello until the client closes
                return;
            }

            using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await upstream.ConnectAsync(new IPEndPoint(IPAddress.Loopback, httpsPort), ct);
            await Task.WhenAll(Pump(c.Socket, upstream, ct), Pump(upstream, c.Socket, ct));
        });
        var check = LeakCheck.Start(relay.Port, httpsPort);
        var connectTimeout = TimeSpan.FromSeconds(1);
        var url = $"https://127.0.0.1:{relay.Port}/hello";
        FetchRequest Request() => new(url) { CaCertificates = new X509Certificate2Collection(kestrel.CaCertificate) };
        await using (var client = OneSlotClient(connectTimeout))
        {
            using (var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct))
            {
                cts.CancelAfter(TimeSpan.FromMilliseconds(300));
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.FetchAsync(Request(), cts.Token));
            }

            Assert.Equal(1, relay.AcceptedConnections);
            var sw = Stopwatch.StartNew();
            var outcomes = new List<string>();
            FetchResponse? ok = null;
            for (var attempt = 0; attempt < 2 && ok is null; attempt++)
            {
                try
                {
                    ok = await client.FetchAsync(Request(), Ct);
                    outcomes.Add("200");
                }
                catch (FetchException e)
                {
                    outcomes.Add($"{e.Kind}: {e.Message}");
                }
            }

            TestContext.Current.TestOutputHelper?.WriteLine($"after the cancelled handshake, in {sw.Elapsed.TotalMilliseconds:F0} ms: {string.Join(" | ", outcomes)}");
            Assert.True(ok is not null, $"no fetch succeeded after the cancelled handshake: {string.Join(" | ", outcomes)}");
            Assert.Equal(KestrelTestServer.HelloText, ok.Text);
            Assert.True(sw.Elapsed < connectTimeout + Margin,
                $"the slot came back after {sw.Elapsed.TotalMilliseconds:F0} ms (bound: ConnectTimeout {connectTimeout.TotalSeconds} s + {Margin.TotalSeconds} s)");
        }

        await check.AssertCleanAsync();
    }

    private static async Task Pump(Socket from, Socket to, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, ct);
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, ct);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // one side went away: the relay ends with the script
        }
    }

    [Fact]
    [Trait("Spec", "POOL-03")]
    public async Task POOL_03_holders_still_connecting_to_a_silent_host_are_named_as_waiting_for_a_response_not_as_undisposed_responses()
    {
        // Replays encode/httpx#557 (a PoolTimeout users could not connect to its cause) with the cause of
        // romis2012/httpx-socks#24: connections stuck connecting to a host that does not answer hold the pool's slots,
        // and a request to a healthy server times out waiting for one. The pool-wait error listed each such holder as
        // "response not yet read to the end or disposed" and advised "Dispose or read streamed responses", though no
        // response existed; only the holders' ConnectTimeout frees those slots. (No oracle: SocketsHttpHandler has no
        // limit across hosts and no pool-wait timeout.)
        await using var healthy = OkServer();
        using var silent = Tether.Tests.Core.CoreNetConnectTests.SynDroppingListener.Start(IPAddress.Loopback, 0);
        // The silent port is checked through the ledger at the end: the listener's own filler connection (never
        // accepted, which is what makes the kernel drop further SYNs) stays ESTABLISHED towards it by design.
        var check = LeakCheck.Start(healthy.Port);
        var options = new AsyncHttpClientOptions
        {
            Ownership = ClientOwnership.Caller,
            PoolOptions = new ConnectionPoolOptions
            {
                MaxConnectionsPerHost = 2,
                MaxConnectionsTotal = 2,
                PoolWaitTimeout = TimeSpan.FromMilliseconds(500),
            },
        };
        // The silent host's fetches hold their slots until this connect timeout; the healthy fetch's 500 ms pool wait
        // must end first: 2.5 s of margin for a loaded 2-core machine.
        options.Defaults.ConnectTimeout = TimeSpan.FromSeconds(3);
        options.Defaults.RequestTimeout = TimeSpan.FromSeconds(10);
        await using (var client = new AsyncHttpClient(options))
        {
            var silentUrl = $"http://127.0.0.1:{silent.Port}/";
            var stuck = new[] { client.FetchAsync(silentUrl, Ct), client.FetchAsync(silentUrl, Ct) };
            await Fault.HostileAssert.WaitUntil(() => Ledger.Towards(silent.Port).Count == 2, "both fetches to the silent host are connecting");

            var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(healthy.Url("/"), Ct));
            Assert.Equal(FetchErrorKind.PoolWaitTimeout, error.Kind);
            Assert.Contains("no response yet (connecting, sending the request, or waiting for the server)", error.Message, StringComparison.Ordinal);
            Assert.Contains("Every holder is still waiting for its response", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("response not yet read to the end or disposed", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("Dispose or read streamed responses", error.Message, StringComparison.Ordinal);

            foreach (var fetch in stuck)
            {
                Assert.Equal(FetchErrorKind.ConnectTimeout, (await Assert.ThrowsAsync<FetchException>(() => fetch)).Kind);
            }

            // Their slots came back; responses held open are still named as such, with the advice that fits them.
            await using (var heldA = await client.FetchStreamAsync(healthy.Url("/a"), Ct))
            await using (var heldB = await client.FetchStreamAsync(healthy.Url("/b"), Ct))
            {
                var exhausted = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(healthy.Url("/c"), Ct));
                Assert.Equal(FetchErrorKind.PoolWaitTimeout, exhausted.Kind);
                Assert.Contains("response not yet read to the end or disposed", exhausted.Message, StringComparison.Ordinal);
                Assert.Contains("Dispose or read streamed responses", exhausted.Message, StringComparison.Ordinal);
                Assert.DoesNotContain("no response yet", exhausted.Message, StringComparison.Ordinal);
                await heldA.BodyStream.CopyToAsync(Stream.Null, Ct);
                await heldB.BodyStream.CopyToAsync(Stream.Null, Ct);
            }

            Assert.Equal("ok", (await client.FetchAsync(healthy.Url("/d"), Ct)).Text);
        }

        Assert.Empty(Ledger.Towards(silent.Port));
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "TIMEOUT-03")]
    public async Task TIMEOUT_03_a_queue_timeout_behind_a_fetch_the_server_never_answers_names_it_as_waiting_not_as_an_undisposed_response()
    {
        // Replays tornadoweb/tornado#1400 and klen/graphite-beacon#133: requests to a server that does not answer fill
        // max_clients, and every other request fails in the queue ("Timeout in request queue"). Tether's queue timeout
        // told the caller "dispose streamed responses you no longer read" while no response existed: the slot is held by
        // a fetch still waiting for its answer, which only its ConnectTimeout or RequestTimeout (or its token) ends.
        await using var silent = ScriptServer.Start(async (c, ct) =>
        {
            await c.ReadRequestAsync(ct);
            await c.ReadForAsync(TimeSpan.FromSeconds(30), ct); // never answers; ends when the client closes
        });
        var check = LeakCheck.Start(silent.Port);
        var options = new AsyncHttpClientOptions { Ownership = ClientOwnership.Caller, MaxClients = 1 };
        options.Defaults.RequestTimeout = TimeSpan.FromSeconds(10);
        options.Defaults.ConnectTimeout = TimeSpan.FromSeconds(2);
        await using (var client = new AsyncHttpClient(options))
        {
            using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var hung = client.FetchAsync(silent.Url("/hung"), giveUp.Token);
            await Fault.HostileAssert.WaitUntil(() => silent.Requests.Count == 1, "the server read the hung request");

            var error = await Assert.ThrowsAsync<FetchException>(() =>
                client.FetchAsync(new FetchRequest(silent.Url("/queued")) { QueueTimeout = TimeSpan.FromMilliseconds(300) }, Ct));
            Assert.Equal(FetchErrorKind.QueueTimeout, error.Kind);
            Assert.Contains("MaxClients = 1 slots (1 in use, 0 waiting)", error.Message, StringComparison.Ordinal);
            Assert.Contains("Every slot in use is held by a fetch still waiting for its response", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("dispose streamed responses", error.Message, StringComparison.Ordinal);

            await giveUp.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hung);
            Assert.Equal(0, client.InFlight);
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "CORE-04")]
    public async Task CORE_04_a_connect_that_waited_for_a_socket_held_by_an_orphaned_handshake_says_no_connection_was_attempted()
    {
        // encode/httpcore#1099 again, from the side of the next request: the attempt of a fetch cancelled during its TLS
        // handshake keeps its socket (the pool's, CORE-04) until its own ConnectTimeout, and with MaxConnectionsTotal = 1
        // a fetch to a healthy server waits for that socket. Its ConnectTimeout said "not connected within
        // ConnectTimeout", blaming a server nobody had tried to reach; it now says no connection was attempted, why, and
        // what held the socket.
        await using var healthy = OkServer();
        await using var tls = Tether.TestServer.TlsHostileServer.Start(Tether.TestServer.TlsHostileBehavior.NeverHandshake);
        var check = LeakCheck.Start(healthy.Port, tls.Port);
        await using (var client = OneSlotClient(connectTimeout: TimeSpan.FromMilliseconds(500)))
        {
            using (var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct))
            {
                // The orphan's own deadline: 4 s, so it outlives the healthy fetch's 500 ms connect timeout with 3.5 s
                // of margin for a loaded 2-core machine.
                var orphan = client.FetchAsync(new FetchRequest(tls.Url("/").ToString()) { ValidateCertificate = false, ConnectTimeout = TimeSpan.FromSeconds(4) }, cancel.Token);
                await Fault.HostileAssert.WaitUntil(() => Ledger.Towards(tls.Port).Count == 1, "the handshake attempt to take the one socket slot");
                await cancel.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => orphan);
            }

            var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(healthy.Url("/"), Ct));
            Assert.Equal(FetchErrorKind.ConnectTimeout, error.Kind);
            Assert.Contains("no connection was attempted, because no socket slot became free", error.Message, StringComparison.Ordinal);
            Assert.Contains($"MaxConnectionsTotal = 1 sockets in use, none idle: https://127.0.0.1:{tls.Port}", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("not connected within", error.Message, StringComparison.Ordinal);
            Assert.Equal(0, healthy.AcceptedConnections); // indeed never tried

            // Once the orphan's deadline has closed it (4 s after it started), the healthy server is reached; the 10 s bound
            // leaves 6 s of margin for a loaded 2-core machine.
            await Fault.HostileAssert.WaitUntil(() => Ledger.Towards(tls.Port).Count == 0, "the orphaned attempt to end at its own ConnectTimeout", timeoutMs: 10_000);
            Assert.Equal("ok", (await client.FetchAsync(healthy.Url("/"), Ct)).Text);
        }

        await check.AssertCleanAsync();
    }
}
