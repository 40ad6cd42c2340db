using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tether.Tests.Replay;

/// <summary>
/// A raw HTTP/1.1 server on <c>127.0.0.1:0</c> whose every connection runs a script (the replayed bug report's server
/// side): read a request, answer with exact bytes, pause, close. It records every request it read, with the connection
/// it came on, so a test can say what the server saw. Dispose closes the listener and every accepted socket and waits
/// for every script to end; each script runs under a token cancelled at dispose.
/// </summary>
internal sealed class ScriptServer : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<long, Socket> _sockets = new();
    private readonly ConcurrentBag<Task> _scripts = [];
    private readonly ConcurrentQueue<ScriptRequest> _requests = new();
    private readonly Func<ScriptConnection, CancellationToken, Task> _script;
    private readonly Task _accept;
    private long _accepted;
    private int _disposed;

    private ScriptServer(Func<ScriptConnection, CancellationToken, Task> script)
    {
        _script = script;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _accept = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>TCP connections accepted so far.</summary>
    public long AcceptedConnections => Interlocked.Read(ref _accepted);

    /// <summary>Every request read by a script (<see cref="ScriptConnection.ReadRequestAsync"/>), in arrival order.</summary>
    public IReadOnlyList<ScriptRequest> Requests => [.. _requests];

    public string Url(string path = "/") => $"http://127.0.0.1:{Port}{path}";

    /// <summary>The replays' client: owned by the caller, 5 s request timeout (a client that misreads the stream
    /// fails by it instead of hanging), 2 s connect timeout.</summary>
    public static AsyncHttpClient NewClient()
    {
        var options = new AsyncHttpClientOptions { Ownership = ClientOwnership.Caller };
        options.Defaults.RequestTimeout = TimeSpan.FromSeconds(5);
        options.Defaults.ConnectTimeout = TimeSpan.FromSeconds(2);
        return new AsyncHttpClient(options);
    }

    /// <summary>Starts a server running <paramref name="script"/> on each accepted connection (ids 0, 1, 2… in accept
    /// order). The script must not dispose the socket; the server closes it when the script returns.</summary>
    public static ScriptServer Start(Func<ScriptConnection, CancellationToken, Task> script) => new(script);

    internal void Record(ScriptRequest request) => _requests.Enqueue(request);

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

            var id = Interlocked.Increment(ref _accepted) - 1;
            _sockets[id] = socket;
            _scripts.Add(RunAsync(new ScriptConnection(this, id, socket)));
        }
    }

    private async Task RunAsync(ScriptConnection connection)
    {
        await Task.Yield();
        try
        {
            await _script(connection, _stop.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            // the client went away, or the test ended: the script ends with its connection
        }
        finally
        {
            connection.Socket.Dispose();
            _sockets.TryRemove(connection.Id, out _);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        _listener.Dispose();
        await _accept;
        foreach (var socket in _sockets.Values)
        {
            socket.Dispose();
        }

        foreach (var script in _scripts)
        {
            await script;
        }

        _stop.Dispose();
    }
}

/// <summary>One request as the script server read it.</summary>
/// <param name="Connection">The id of the connection it came on (0 = first accepted).</param>
/// <param name="Method">The method token.</param>
/// <param name="Target">The request target.</param>
/// <param name="Headers">The header lines, names as sent.</param>
/// <param name="Body">The body (Content-Length or de-chunked); empty when none.</param>
internal sealed record ScriptRequest(long Connection, string Method, string Target, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public string? Header(string name) =>
        Headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();

    public override string ToString() => $"#{Connection} {Method} {Target} ({Body.Length} body bytes)";
}

/// <summary>One accepted connection of a <see cref="ScriptServer"/>: buffered reads of request heads and bodies,
/// raw writes.</summary>
internal sealed class ScriptConnection
{
    private readonly ScriptServer _server;
    private readonly List<byte> _buffer = [];
    private readonly byte[] _chunk = new byte[16 * 1024];

    internal ScriptConnection(ScriptServer server, long id, Socket socket)
    {
        _server = server;
        Id = id;
        Socket = socket;
    }

    public long Id { get; }

    public Socket Socket { get; }

    /// <summary>Reads one request head and, unless <paramref name="readBody"/> is false, its body (Content-Length or
    /// chunked); records it. Null when the client closed the connection before a whole head.</summary>
    public async Task<ScriptRequest?> ReadRequestAsync(CancellationToken ct, bool readBody = true)
    {
        int end;
        while ((end = IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (!await FillAsync(ct))
            {
                return null;
            }
        }

        var text = Encoding.Latin1.GetString([.. _buffer.GetRange(0, end)]);
        _buffer.RemoveRange(0, end + 4);
        var lines = text.Split("\r\n");
        var first = lines[0].Split(' ');
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
            }
        }

        var request = new ScriptRequest(Id, first[0], first.Length > 1 ? first[1] : "", headers, []);
        if (readBody)
        {
            request = request with { Body = await ReadBodyAsync(request, ct) ?? [] };
        }

        _server.Record(request);
        return request;
    }

    /// <summary>Reads the body <paramref name="request"/> announces; null when the client closed first.</summary>
    public async Task<byte[]?> ReadBodyAsync(ScriptRequest request, CancellationToken ct)
    {
        if (request.Header("Transfer-Encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true)
        {
            var body = new List<byte>();
            while (true)
            {
                var line = await ReadLineAsync(ct);
                if (line is null)
                {
                    return null;
                }

                var size = int.Parse(line.Split(';')[0].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    while (await ReadLineAsync(ct) is { Length: > 0 })
                    {
                        // trailers
                    }

                    return [.. body];
                }

                var data = await ReadBytesAsync(size + 2, ct);
                if (data is null)
                {
                    return null;
                }

                body.AddRange(data.AsSpan(0, size));
            }
        }

        var length = int.TryParse(request.Header("Content-Length"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
        return await ReadBytesAsync(length, ct);
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes; null when the client closed first.</summary>
    public async Task<byte[]?> ReadBytesAsync(int count, CancellationToken ct)
    {
        while (_buffer.Count < count)
        {
            if (!await FillAsync(ct))
            {
                return null;
            }
        }

        var bytes = _buffer.GetRange(0, count).ToArray();
        _buffer.RemoveRange(0, count);
        return bytes;
    }

    /// <summary>Whatever arrives within <paramref name="within"/> (and what was already buffered), or up to the
    /// client's close. Returns the bytes and whether the client closed (FIN or reset).</summary>
    public async Task<(byte[] Bytes, bool Closed)> ReadForAsync(TimeSpan within, CancellationToken ct)
    {
        using var window = CancellationTokenSource.CreateLinkedTokenSource(ct);
        window.CancelAfter(within);
        var closed = false;
        try
        {
            while (true)
            {
                if (!await FillAsync(window.Token))
                {
                    closed = true;
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // the window ended
        }

        var bytes = _buffer.ToArray();
        _buffer.Clear();
        return (bytes, closed);
    }

    public Task SendAsync(string latin1, CancellationToken ct) => SendAsync(Encoding.Latin1.GetBytes(latin1), ct);

    public async Task SendAsync(byte[] bytes, CancellationToken ct)
    {
        var sent = 0;
        while (sent < bytes.Length)
        {
            sent += await Socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None, ct);
        }
    }

    private async Task<string?> ReadLineAsync(CancellationToken ct)
    {
        int end;
        while ((end = IndexOf("\r\n"u8)) < 0)
        {
            if (!await FillAsync(ct))
            {
                return null;
            }
        }

        var line = Encoding.Latin1.GetString([.. _buffer.GetRange(0, end)]);
        _buffer.RemoveRange(0, end + 2);
        return line;
    }

    private async Task<bool> FillAsync(CancellationToken ct)
    {
        int n;
        try
        {
            n = await Socket.ReceiveAsync(_chunk, SocketFlags.None, ct);
        }
        catch (SocketException)
        {
            return false; // reset by the client
        }

        if (n == 0)
        {
            return false;
        }

        _buffer.AddRange(_chunk.AsSpan(0, n));
        return true;
    }

    private int IndexOf(ReadOnlySpan<byte> pattern)
    {
        for (var i = 0; i + pattern.Length <= _buffer.Count; i++)
        {
            var match = true;
            for (var j = 0; j < pattern.Length && match; j++)
            {
                match = _buffer[i + j] == pattern[j];
            }

            if (match)
            {
                return i;
            }
        }

        return -1;
    }
}
