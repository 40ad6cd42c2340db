using System.Net;
using Tether.Diagnostics;
using Tether.TestServer;
using Xunit;
using static Tether.Tests.Core.CoreTestSupport;

namespace Tether.Tests.Core;

/// <summary>Issue 16 (core redesign), CORE-01 … CORE-04, CORE-10: the transport owns connections, Tether owns scopes.
/// Each test starts its own server and pool.</summary>
public sealed class OwnershipByScopeTests
{
    private static AsyncHttpClient Client(ConnectionPool pool, KestrelTestServer server, string protocol, string? name = null)
    {
        var options = new AsyncHttpClientOptions { Pool = pool, MaxClients = 64 };
        if (name is not null)
        {
            options.Name = name;
        }

        Configure(options.Defaults, server, protocol);
        return new AsyncHttpClient(options);
    }

    // Regression for issue 16: cancelling fetch A reset the shared HTTP/2 connection and killed fetch B.
    [Fact]
    [Trait("Spec", "CORE-01")]
    public async Task CORE_01_cancelling_one_of_two_multiplexed_http2_fetches_fails_only_that_one()
    {
        await using var server = await StartAsync();
        var pool = new ConnectionPool();
        var client = Client(pool, server, "h2");
        var first = await client.FetchAsync(Url(server, "h2", "/hello"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpVersion.Version20, first.Version);
        Assert.Equal(1, server.AcceptedConnections);

        using var cancelA = new CancellationTokenSource();
        var chunksOfA = 0;
        var a = client.FetchAsync(new FetchRequest(Url(server, "h2", "/stream/12?delayMs=100"))
        {
            StreamingCallback = _ => Interlocked.Increment(ref chunksOfA),
        }, cancelA.Token);
        var b = client.FetchAsync(Url(server, "h2", "/stream/8?delayMs=200"), TestContext.Current.CancellationToken);
        // Issue 13: this was a 250 ms sleep, meant to put both streams mid-body. Wait for it instead: A has its first
        // chunk (its body has begun) and neither has ended. The first chunk takes milliseconds unloaded; 10 s bounds a
        // failure on a loaded 2-core machine.
        await WaitForAsync(() => Volatile.Read(ref chunksOfA) >= 1 || a.IsCompleted, TimeSpan.FromSeconds(10), "A's first body chunk");
        // Both must still be running when A is cancelled, or B's full body below proves nothing about the shared
        // connection. Between A's first chunk and this check is one 10 ms poll unloaded; A's body lasts 1.1 s (12
        // chunks 100 ms apart) and B's 1.4 s (8 chunks 200 ms apart; 0.7 s before, widened for a loaded machine).
        Assert.False(a.IsCompleted, $"A ended before it could be cancelled: {a.Status}");
        Assert.False(b.IsCompleted, "B ended before A was cancelled: the test would not show that A's cancel spares B");
        cancelA.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => a);
        var fromB = await b;
        Assert.Equal(string.Concat(Enumerable.Range(0, 8).Select(i => $"chunk {i}\n")), fromB.Text);
        Assert.Equal(HttpVersion.Version20, fromB.Version);

        // The connection stayed open and serves a third fetch: the server still saw exactly one connection.
        var third = await client.FetchAsync(Url(server, "h2", "/hello"), TestContext.Current.CancellationToken);
        Assert.Equal(200, third.Code);
        Assert.Equal(1, server.AcceptedConnections);
        Assert.Equal(1, pool.Count);

        client.Close();
        await pool.CloseAsync(TestContext.Current.CancellationToken);
        await AssertCleanAsync(pool, ServerPort(server, "h2"));
    }

    [Theory]
    [InlineData("h1")]
    [InlineData("h2")]
    [Trait("Spec", "CORE-02")]
    public async Task CORE_02_closing_client_a_fails_only_a_responses_and_b_reads_to_the_end(string protocol)
    {
        await using var server = await StartAsync();
        var pool = new ConnectionPool();
        var a = Client(pool, server, protocol, "client-a");
        var b = Client(pool, server, protocol, "client-b");
        if (protocol == "h2")
        {
            // One connection first, so both streams share it.
            await b.FetchAsync(Url(server, protocol, "/hello"), TestContext.Current.CancellationToken);
        }

        var fromA = await a.FetchStreamAsync(Url(server, protocol, "/stream/3?stallAfter=1"), TestContext.Current.CancellationToken);
        var fromB = await b.FetchStreamAsync(Url(server, protocol, "/stream/4?delayMs=150"), TestContext.Current.CancellationToken);

        a.Close();

        // A's stream is stalled by the server, so only the close can end this read: at once (milliseconds) unloaded;
        // 5 s is the margin for a loaded 2-core machine (a read the close missed would wait for ever).
        var error = await Assert.ThrowsAsync<FetchException>(
            () => fromA.BodyStream.ReadAsync(new byte[64], TestContext.Current.CancellationToken).AsTask()
                .WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken));
        Assert.Equal(FetchErrorKind.ClientClosed, error.Kind);
        Assert.Equal("chunk 0\nchunk 1\nchunk 2\nchunk 3\n", await ReadToEndAsync(fromB));
        if (protocol == "h2")
        {
            Assert.Equal(1, server.AcceptedConnections);
        }

        // B still works after A's close.
        Assert.Equal(200, (await b.FetchAsync(Url(server, protocol, "/hello"), TestContext.Current.CancellationToken)).Code);
        await fromA.DisposeAsync();
        b.Close();
        await pool.CloseAsync(TestContext.Current.CancellationToken);
        await AssertCleanAsync(pool, ServerPort(server, protocol));
    }

    [Theory]
    [InlineData("h1")]
    [InlineData("h2")]
    [Trait("Spec", "CORE-02")]
    public async Task CORE_02_loop_a_ending_fails_its_response_while_loop_b_reads_to_the_end(string protocol)
    {
        await using var server = await StartAsync();
        var pool = new ConnectionPool();
        var bOpened = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        string? bodyOfB = null;
        var loopB = Task.Run(() => EventLoop.Run(async () =>
        {
            var b = Client(pool, server, protocol, "client-b");
            await b.FetchAsync(Url(server, protocol, "/hello"));
            await using var fromB = await b.FetchStreamAsync(Url(server, protocol, "/stream/4?delayMs=150"));
            bOpened.SetResult();
            await aEnded.Task;
            bodyOfB = await ReadToEndAsync(fromB);
        }));
        // Two loopback fetches: milliseconds unloaded; 10 s bounds a failure on a loaded 2-core machine.
        await bOpened.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        FetchResponse? fromA = null;
        await Task.Run(() => EventLoop.Run(async () =>
        {
            var a = Client(pool, server, protocol, "client-a");
            fromA = await a.FetchStreamAsync(Url(server, protocol, "/stream/3?stallAfter=1"));
        }));
        aEnded.SetResult();

        // As in the test above: the stalled read can only end by A's loop having ended, at once (5 s: load margin).
        var error = await Assert.ThrowsAnyAsync<Exception>(
            () => fromA!.BodyStream.ReadAsync(new byte[64], TestContext.Current.CancellationToken).AsTask()
                .WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken));
        Assert.True(error is FetchException { Kind: FetchErrorKind.LoopClosed } or LoopMisuseException, error.ToString());
        // B's last three chunks come 150 ms apart: under 0.5 s unloaded; 10 s is the margin for a loaded machine.
        await loopB.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal("chunk 0\nchunk 1\nchunk 2\nchunk 3\n", bodyOfB);

        await pool.CloseAsync(TestContext.Current.CancellationToken);
        await AssertCleanAsync(pool, ServerPort(server, protocol));
    }

    // Regression for issue 16: a TLS connection whose handshake ran under one fetch but served another stayed
    // "Active" forever (never reaped, never evictable).
    [Theory]
    [InlineData("h1tls")]
    [InlineData("h2")]
    [Trait("Spec", "CORE-03")]
    public async Task CORE_03_connections_are_idle_reaped_and_evicted_exactly_whoever_set_them_up(string protocol)
    {
        await using var server = await StartAsync();
        var transitions = new System.Collections.Concurrent.ConcurrentQueue<ConnectionState?>();
        var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            IdleTimeout = TimeSpan.FromMilliseconds(400),
            ReaperInterval = TimeSpan.FromMilliseconds(20),
        });
        var client = Client(pool, server, protocol);

        // Concurrent fetches on a fresh pool: handshakes run under whichever fetch the handler was serving, and the
        // connections then serve other fetches.
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => client.FetchAsync(Url(server, protocol, "/delay/50"))));
        Assert.NotEmpty(pool.Snapshot());
        Assert.All(pool.Snapshot(), e => Assert.Equal(ConnectionState.Idle, e.State));

        // While a response is being read, its origin's connections are never reported idle, and never active.
        await using (var streamed = await client.FetchStreamAsync(Url(server, protocol, "/stream/3?stallAfter=1"),
            TestContext.Current.CancellationToken))
        {
            Assert.All(pool.Snapshot(), e => Assert.Equal(ConnectionState.Open, e.State));
            Assert.Equal(0, pool.CloseIdleConnections());
        }

        Assert.All(pool.Snapshot(), e => Assert.NotEqual(ConnectionState.Active, e.State));

        // Reaped after the idle timeout, like any other (400 ms; the 3 s bound leaves > 2 s for a loaded machine).
        await WaitForAsync(() => pool.Count == 0, TimeSpan.FromSeconds(3), "the idle connections to be reaped");

        // Evicted to make room: with one socket allowed, a fetch to another origin closes the idle one at once.
        await using var other = await StartAsync();
        var tight = new ConnectionPool(new ConnectionPoolOptions { MaxConnectionsTotal = 1 });
        var c1 = Client(tight, server, protocol);
        var c2 = Client(tight, other, protocol);
        await c1.FetchAsync(Url(server, protocol, "/hello"), TestContext.Current.CancellationToken);
        Assert.Equal(ConnectionState.Idle, Assert.Single(tight.Snapshot()).State);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var fromOther = await c2.FetchAsync(new FetchRequest(Url(other, protocol, "/hello")) { ConnectTimeout = TimeSpan.FromSeconds(10) },
            TestContext.Current.CancellationToken);
        Assert.Equal(200, fromOther.Code);
        // Making room is immediate; 5 s is half the connect timeout, far above a loaded machine's handshake time.
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"waited {sw.Elapsed} for a socket slot");
        Assert.Equal(new Uri(Url(other, protocol, "/")).Port, Assert.Single(tight.Snapshot()).RemoteEndPoint!.Port);

        client.Close();
        c1.Close();
        c2.Close();
        await pool.CloseAsync(TestContext.Current.CancellationToken);
        await tight.CloseAsync(TestContext.Current.CancellationToken);
        await AssertCleanAsync(pool, ServerPort(server, protocol));
        await AssertCleanAsync(tight, ServerPort(server, protocol), ServerPort(other, protocol));
    }

    // Regression for issue 16: the handshake deadline was armed only by the triggering fetch, so a stalled TLS
    // handshake kept its fd and socket slot forever once that fetch was gone.
    [Fact]
    [Trait("Spec", "CORE-04")]
    [Trait("Category", "Timing")]
    public async Task CORE_04_stalled_tls_handshake_ends_at_connect_timeout_even_after_its_fetch_was_cancelled()
    {
        await using var tls = TlsHostileServer.Start(TlsHostileBehavior.NeverHandshake);
        await using var good = await StartAsync();
        var pool = new ConnectionPool(new ConnectionPoolOptions { MaxConnectionsTotal = 1 });
        var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool });
        var connectTimeout = TimeSpan.FromSeconds(1);

        // The triggering fetch is cancelled long before the deadline, once its connection attempt has begun (has a
        // ledger record): cancelled earlier, the handler may never start the attempt (the fetch is gone before the
        // request reaches it) or start it after the checks below, and a CI run saw the second fetch below wait behind
        // such a late attempt.
        var recorded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        pool.RecordAdded = _ => recorded.TrySetResult();
        using var cancel = new CancellationTokenSource();
        var first = client.FetchAsync(
            new FetchRequest(tls.Url("/")) { ValidateCertificate = false, ConnectTimeout = connectTimeout }, cancel.Token);
        // Milliseconds unloaded; 10 s bounds a failure on a loaded 2-core machine.
        await recorded.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        pool.RecordAdded = null;
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);

        // The connection attempt belongs to the handler, not to the fetch: it goes on after the fetch is cancelled.
        // The attempt ends by its own deadline (or earlier, if the handler gives it up): fd closed, slot free.
        // Bound: the 1 s deadline + 4 s for a loaded 2-core machine running the suite in parallel (the bug this
        // guards against kept the socket for ever).
        await WaitForAsync(() => pool.Count == 0, connectTimeout + TimeSpan.FromSeconds(4), "the stalled attempt to close its socket");
        Assert.Equal(0, Towards(tls.Port, TcpState.Established));

        // A fetch that waits for it gets the typed connect-timeout 599, within the Timing rule (T .. T + 500 ms,
        // plus 2 s for a loaded 2-core machine running the suite in parallel).
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(
            new FetchRequest(tls.Url("/")) { ValidateCertificate = false, ConnectTimeout = connectTimeout },
            TestContext.Current.CancellationToken));
        Assert.Equal(FetchException.NoResponse, error.Code);
        Assert.Equal(FetchErrorKind.ConnectTimeout, error.Kind);
        Assert.InRange(sw.Elapsed, connectTimeout - TimeSpan.FromMilliseconds(50), connectTimeout + TimeSpan.FromMilliseconds(2500));
        // The attempt's socket closes as its deadline fires (the fetch above already failed by it): milliseconds
        // unloaded, 5 s for a loaded 2-core machine.
        await WaitForAsync(() => pool.Count == 0, TimeSpan.FromSeconds(5), "the timed-out attempt to close its socket");

        // The single socket slot is free again: a good server is reachable at once (milliseconds unloaded; its 5 s
        // connect timeout is the margin for a loaded 2-core machine).
        var ok = await client.FetchAsync(new FetchRequest(good.Url("/hello").ToString()) { ConnectTimeout = TimeSpan.FromSeconds(5) },
            TestContext.Current.CancellationToken);
        Assert.Equal(200, ok.Code);

        client.Close();
        await pool.CloseAsync(TestContext.Current.CancellationToken);
        await AssertCleanAsync(pool, tls.Port, good.Port);
    }

    // Regression (CI run of 2026-12-01): the handler started a connection attempt after the fetch that caused it had
    // been cancelled (its thread-pool hop ran late on a loaded machine). The attempt read its deadline from that fetch,
    // found the fetch gone and took the 20 s default; only the handler's own cancel of attempts whose request is gone
    // (5 s after the cancel) ended it, and the next fetch waited behind it.
    [Fact]
    [Trait("Spec", "CORE-04")]
    public async Task CORE_04_an_attempt_the_handler_starts_after_its_fetch_was_cancelled_keeps_that_fetchs_connect_timeout()
    {
        await using var tls = TlsHostileServer.Start(TlsHostileBehavior.NeverHandshake);
        var pool = new ConnectionPool();
        var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool });

        // The attempt is held at its start until its fetch is over, as a late thread-pool hop does.
        var attemptBegun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fetchOver = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        pool.AttemptStarting = async () =>
        {
            attemptBegun.TrySetResult();
            await fetchOver.Task.ConfigureAwait(false);
        };
        TrackedConnection? record = null;
        pool.RecordAdded = c => Volatile.Write(ref record, c);

        using var cancel = new CancellationTokenSource();
        var fetch = client.FetchAsync(new FetchRequest(tls.Url("/"))
        {
            ValidateCertificate = false,
            ConnectTimeout = TimeSpan.FromSeconds(1),
        }, cancel.Token);
        // Milliseconds unloaded; 10 s bounds a failure on a loaded 2-core machine.
        await attemptBegun.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fetch);
        fetchOver.TrySetResult();

        // The attempt connects, stalls in the handshake and is ended by the fetch's 1 s ConnectTimeout (Tether's own
        // deadline: HandshakeTimedOut), not by the handler's cancel 5 s after the fetch's (what the defect left).
        // 1 s unloaded; 10 s bounds a failure on a loaded 2-core machine.
        await WaitForAsync(() => Volatile.Read(ref record) is not null && pool.Count == 0, TimeSpan.FromSeconds(10),
            "the attempt to connect and then close at its deadline");
        Assert.True(record!.HandshakeTimedOut, "the attempt was not ended by the 1 s ConnectTimeout of the fetch that caused it");

        pool.AttemptStarting = null;
        pool.RecordAdded = null;
        client.Close();
        await pool.CloseAsync(TestContext.Current.CancellationToken);
        await AssertCleanAsync(pool, tls.Port);
    }

    // Regression for issue 16: with one concurrent stream allowed, Tether's retry guard refused the handler's safe
    // re-send of REFUSED_STREAM and aborted healthy streams with it.
    [Fact]
    [Trait("Spec", "CORE-10")]
    public async Task CORE_10_four_concurrent_gets_to_a_one_stream_http2_server_all_succeed_as_with_httpclient()
    {
        await using var server = await StartAsync(new KestrelTestServerOptions { Http2MaxStreamsPerConnection = 1 });
        var url = Url(server, "h2", "/delay/200");

        // Oracle: a plain HttpClient over a default SocketsHttpHandler (multiple HTTP/2 connections allowed, as Tether).
        using (var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
            using var plain = new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20 };
            var codes = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
            {
                using var response = await plain.GetAsync(url, TestContext.Current.CancellationToken);
                return (int)response.StatusCode;
            }));
            Assert.All(codes, c => Assert.Equal(200, c));
        }

        var pool = new ConnectionPool();
        var client = Client(pool, server, "h2");
        var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.FetchAsync(url)));
        Assert.All(responses, r => Assert.Equal(200, r.Code));
        Assert.All(responses, r => Assert.Equal("done", r.Text));
        Assert.All(responses, r => Assert.Equal(HttpVersion.Version20, r.Version));

        client.Close();
        await pool.CloseAsync(TestContext.Current.CancellationToken);
        await AssertCleanAsync(pool, ServerPort(server, "h2"));
    }

    // The newcomer review of 2026-12-01 (a bug replay of dotnet/runtime#44669): 10 concurrent GETs to a server that
    // allows 2 streams per connection, on a new pool, failed 2 of 10 with REFUSED_STREAM in 3 of 3 rounds: the streams
    // opened before the server's SETTINGS arrived are refused, and with several HTTP/2 connections allowed the handler
    // does not re-send all of them (a plain HttpClient with EnableMultipleHttp2Connections = true lost 2 of 10 in 2 of
    // 4 rounds on the same server). The pool now keeps one HTTP/2 connection per origin, as the oracle here, a default
    // SocketsHttpHandler, which queues behind the server's limit.
    [Fact]
    [Trait("Spec", "CORE-10")]
    public async Task CORE_10_a_burst_of_ten_gets_over_a_two_stream_http2_limit_all_succeed_on_a_new_pool_each_round()
    {
        await using var server = await StartAsync(new KestrelTestServerOptions { Http2MaxStreamsPerConnection = 2 });
        var url = Url(server, "h2", "/delay/200");
        using (var handler = new SocketsHttpHandler())
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
            using var plain = new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
            var codes = await Task.WhenAll(Enumerable.Range(0, 10).Select(async _ =>
            {
                using var response = await plain.GetAsync(url, TestContext.Current.CancellationToken);
                return (int)response.StatusCode;
            }));
            Assert.All(codes, c => Assert.Equal(200, c));
        }

        for (var round = 0; round < 3; round++)
        {
            // A new pool each round: the refusals happen while a connection's first SETTINGS is still on its way.
            var pool = new ConnectionPool();
            var client = Client(pool, server, "h2");
            var fetches = Enumerable.Range(0, 10).Select(_ => client.FetchAsync(url)).ToArray();
            var failures = new List<string>();
            foreach (var fetch in fetches)
            {
                try
                {
                    var response = await fetch;
                    Assert.Equal((200, "done"), (response.Code, response.Text));
                }
                catch (FetchException e)
                {
                    failures.Add($"{e.Kind}: {e.Message}");
                }
            }

            Assert.True(failures.Count == 0, $"round {round}: {failures.Count} of 10 failed:\n" + string.Join("\n", failures));
            client.Close();
            await pool.CloseAsync(TestContext.Current.CancellationToken);
            await AssertCleanAsync(pool, ServerPort(server, "h2"));
        }
    }
}
