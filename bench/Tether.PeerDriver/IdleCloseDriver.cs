using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tether.Diagnostics;

namespace Tether.PeerDriver;

/// <summary>
/// CORE-09 benchmark: open N keep-alive connections to a loopback server of its own, then close them in each way a
/// pool closes connections, and report the client's TIME_WAIT entries towards the server and what the server read at
/// the end of each connection: a clean end of stream (the client's FIN) or a reset (ECONNRESET).
/// </summary>
/// <remarks>
/// Scenarios, each with <see cref="IdleCloseMode.Graceful"/> and <see cref="IdleCloseMode.Abortive"/>:
/// <c>close-idle</c> (<see cref="ConnectionPool.CloseIdleConnections"/>, the reaper's path), <c>pool-close-idle</c>
/// (the client closes its own pool with N idle connections: the loop-per-call path), and <c>pool-close-in-flight</c>
/// (the client closes with N streamed responses open: the abort path, which resets whatever the mode).
/// The server is a raw-socket HTTP/1.1 keep-alive server on 127.0.0.1:0 that holds every answer until it has accepted
/// N connections (at most 10 s; so N concurrent requests need N connections, whatever the load) and counts, per
/// connection, how its read loop ended. Self-contained: no
/// peer harness, no Kestrel.
/// </remarks>
internal static class IdleCloseDriver
{
    public static async Task<int> RunAsync(int connections, int rounds)
    {
        string[] scenarios = ["close-idle", "pool-close-idle", "pool-close-in-flight"];
        for (int round = 1; round <= rounds; round++)
        {
            foreach (string scenario in scenarios)
            {
                foreach (IdleCloseMode mode in new[] { IdleCloseMode.Graceful, IdleCloseMode.Abortive })
                {
                    await using var server = CountingServer.Start(connections);
                    Result r = await OneAsync(server, scenario, mode, connections).ConfigureAwait(false);
                    Console.WriteLine(string.Create(
                        CultureInfo.InvariantCulture,
                        $"{{\"bench\":\"idle-close\",\"round\":{round},\"scenario\":\"{scenario}\",\"mode\":\"{mode.ToString().ToLowerInvariant()}\",\"connections\":{r.Connections},\"close_ms\":{r.CloseMs:0.00},\"client_time_wait\":{r.TimeWait},\"server_fins\":{r.Fins},\"server_resets\":{r.Resets},\"client_fds_after\":{r.FdsAfter - r.FdsBefore}}}"));
                }
            }
        }

        return 0;
    }

    private sealed record Result(long Connections, double CloseMs, int TimeWait, long Fins, long Resets, int FdsBefore, int FdsAfter);

    private static async Task<Result> OneAsync(CountingServer server, string scenario, IdleCloseMode mode, int n)
    {
        int port = server.Port;
        string url = $"http://127.0.0.1:{port}/hello";
        int timeWaitBefore = SocketCensus.Take().CountTimeWait(port);
        int fdsBefore = SocketCensus.Take().TotalFds;
        var client = new AsyncHttpClient(new AsyncHttpClientOptions
        {
            MaxClients = n,
            PoolOptions = new ConnectionPoolOptions { IdleCloseMode = mode, MaxConnectionsPerHost = n, MaxConnectionsTotal = n },
        });
        var open = new List<FetchResponse>();
        if (scenario == "pool-close-in-flight")
        {
            open.AddRange(await Task.WhenAll(Enumerable.Range(0, n).Select(_ => client.FetchStreamAsync(url))).ConfigureAwait(false));
        }
        else
        {
            await Task.WhenAll(Enumerable.Range(0, n).Select(_ => client.FetchAsync(url))).ConfigureAwait(false);
        }

        ConnectionPool pool = client.Pool!;
        if (server.Accepted != n || pool.Count != n)
        {
            throw new InvalidOperationException($"{scenario}: expected {n} connections, server accepted {server.Accepted}, pool has {pool.Count}");
        }

        var clock = Stopwatch.StartNew();
        if (scenario == "close-idle")
        {
            pool.CloseIdleConnections();
        }

        client.Close(); // close-idle: the pool is already empty; otherwise the pool closes (idle or in-flight)
        double closeMs = clock.Elapsed.TotalMilliseconds;
        open.ForEach(r => r.Dispose());

        // Bounded wait (10 s) for the server to see every connection end.
        var wait = Stopwatch.StartNew();
        while (server.Fins + server.Resets < n && wait.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(10).ConfigureAwait(false);
        }

        // A client socket enters TIME_WAIT only once the server's own FIN is back (FIN_WAIT2 before that, not counted):
        // wait (≤ 3 s) for one TIME_WAIT per FIN the server read.
        wait.Restart();
        int timeWait = SocketCensus.Take().CountTimeWait(port) - timeWaitBefore;
        while (timeWait < server.Fins && wait.Elapsed < TimeSpan.FromSeconds(3))
        {
            await Task.Delay(10).ConfigureAwait(false);
            timeWait = SocketCensus.Take().CountTimeWait(port) - timeWaitBefore;
        }

        return new Result(server.Accepted, closeMs, timeWait, server.Fins, server.Resets, fdsBefore, SocketCensus.Take().TotalFds);
    }

    /// <summary>Raw HTTP/1.1 keep-alive server: answers once N connections are in; counts how each connection ended.</summary>
    private sealed class CountingServer : IAsyncDisposable
    {
        private static readonly byte[] s_response = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello");
        private readonly Socket _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Socket> _accepted = [];
        private readonly Task _acceptLoop;
        private readonly TaskCompletionSource _allIn = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly int _expected;
        private long _accepts, _fins, _resets;

        private CountingServer(int expected)
        {
            _expected = expected;
            _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(1024);
            _acceptLoop = AcceptLoopAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

        public long Accepted => Interlocked.Read(ref _accepts);

        public long Fins => Interlocked.Read(ref _fins);

        public long Resets => Interlocked.Read(ref _resets);

        public static CountingServer Start(int expected) => new(expected);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            _listener.Dispose();
            lock (_accepted)
            {
                _accepted.ForEach(s => s.Dispose());
            }

            try
            {
                await _acceptLoop.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }

            _stop.Dispose();
        }

        private async Task AcceptLoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket s = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
                if (Interlocked.Increment(ref _accepts) >= _expected)
                {
                    _allIn.TrySetResult();
                }

                lock (_accepted)
                {
                    _accepted.Add(s);
                }

                _ = ServeAsync(s);
            }
        }

        private async Task ServeAsync(Socket s)
        {
            var buffer = new byte[4096];
            int have = 0;
            try
            {
                while (true)
                {
                    int read = await s.ReceiveAsync(buffer.AsMemory(have), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        Interlocked.Increment(ref _fins); // the client's FIN: a clean end
                        return;
                    }

                    have += read;
                    int end = buffer.AsSpan(0, have).IndexOf("\r\n\r\n"u8);
                    if (end < 0)
                    {
                        continue;
                    }

                    // GET only, no body: drop the request head and answer.
                    int consumed = end + 4;
                    buffer.AsSpan(consumed, have - consumed).CopyTo(buffer);
                    have -= consumed;
                    await _allIn.Task.WaitAsync(TimeSpan.FromSeconds(10), _stop.Token).ConfigureAwait(false);
                    await s.SendAsync(s_response, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                Interlocked.Increment(ref _resets); // the client's RST
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or TimeoutException)
            {
                // Stopping, or fewer than N connections came (the driver reports the count it got).
            }
            finally
            {
                s.Dispose();
            }
        }
    }
}
