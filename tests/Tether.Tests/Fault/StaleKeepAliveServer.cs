using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tether.Tests.Fault;

/// <summary>
/// A raw keep-alive server for the stale-connection case (FAULT-03): the very first request of the run is answered
/// with a keep-alive 200; any later request on that same connection is read completely (head and Content-Length
/// body) and then answered by closing the connection (FIN) without a byte, the way a server that timed the idle
/// connection out behaves. With <c>answerFirstOnEachConnection</c> the first request on every new connection is
/// answered too, so a retry on a new connection succeeds.
/// </summary>
internal sealed class StaleKeepAliveServer : IAsyncDisposable
{
    private static readonly byte[] Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray();
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Task> _connections = [];
    private readonly ConcurrentQueue<string> _paths = new();
    private readonly bool _answerFirstOnEachConnection;
    private readonly Task _accept;
    private int _accepted;
    private int _requests;

    private StaleKeepAliveServer(bool answerFirstOnEachConnection)
    {
        _answerFirstOnEachConnection = answerFirstOnEachConnection;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _accept = AcceptAsync();
    }

    public int Port { get; }

    public int AcceptedConnections => Volatile.Read(ref _accepted);

    public IReadOnlyList<string> Paths => [.. _paths];

    public string Url(string path) => $"http://127.0.0.1:{Port}{path}";

    public static StaleKeepAliveServer Start(bool answerFirstOnEachConnection) => new(answerFirstOnEachConnection);

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            _connections.Add(ServeAsync(socket));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using (socket)
        {
            try
            {
                var buffer = new List<byte>();
                var chunk = new byte[4096];
                var onThisConnection = 0;
                while (true)
                {
                    int end;
                    while ((end = IndexOfBlankLine(buffer)) < 0)
                    {
                        var n = await socket.ReceiveAsync(chunk, _stop.Token);
                        if (n == 0)
                        {
                            return;
                        }

                        buffer.AddRange(chunk.AsSpan(0, n));
                    }

                    var head = Encoding.Latin1.GetString([.. buffer.GetRange(0, end)]);
                    buffer.RemoveRange(0, end + 4);
                    var length = ContentLength(head);
                    while (buffer.Count < length)
                    {
                        var n = await socket.ReceiveAsync(chunk, _stop.Token);
                        if (n == 0)
                        {
                            return;
                        }

                        buffer.AddRange(chunk.AsSpan(0, n));
                    }

                    buffer.RemoveRange(0, length);
                    _paths.Enqueue(head.Split(' ')[1]);
                    var overall = Interlocked.Increment(ref _requests);
                    onThisConnection++;
                    var answer = overall == 1 || (_answerFirstOnEachConnection && onThisConnection == 1);
                    if (!answer)
                    {
                        socket.Shutdown(SocketShutdown.Both);
                        return;
                    }

                    await socket.SendAsync(Ok, _stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }
    }

    private static int IndexOfBlankLine(List<byte> b)
    {
        for (var i = 0; i + 3 < b.Count; i++)
        {
            if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n')
            {
                return i;
            }
        }

        return -1;
    }

    private static int ContentLength(string head)
    {
        foreach (var line in head.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                return int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accept;
        foreach (var task in _connections)
        {
            await task;
        }

        _stop.Dispose();
    }
}
