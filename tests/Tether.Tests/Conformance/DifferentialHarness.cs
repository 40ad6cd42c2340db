using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Tether.Tests.Conformance;

// The differential conformance harness (issue 15). One case = one request description (DiffCase) sent by several
// "sides" (a plain HttpClient over a default SocketsHttpHandler, Tether's FetchAsync, the HttpClient bridge, ...)
// one after the other against the same RecordingServer(s). Each side's Outcome holds what the caller got (status,
// body, final URL, error) and what every server received for it (RequestLog). A test then asserts that the sides
// agree, or asserts the documented difference (docs/tornado.md "Differences from HttpClient (conformance)").
//
// Usage:
//   var log = new RequestLog();
//   await using var a = RecordingServer.Start("A", log, req => req.Path == "/r" ? Reply.Redirect(307, "/final") : Reply.Text("ok"));
//   var c = new DiffCase("POST 307", "POST", a.Url("/r")) { Body = BodyKind.Bytes };
//   var (client, tether) = await DifferentialRunner.CompareAsync(log, c);
//   Assert.Equal(client.ServerView, tether.ServerView);
//
// Adding a side (e.g. the HttpClient bridge): any IDifferentialSide works; an HttpClient over another handler is
//   new HttpClientSide("Bridge", c => new TetherHttpMessageHandler(...))
// and DifferentialRunner.RunAsync(log, c, HttpClientSide.Default, bridgeSide, FetchSide.Default) returns one Outcome
// per side. After each side the runner asserts "nothing left behind": no ledger entry (Tether sides report
// LeftInLedger) and no ESTABLISHED/CLOSE_WAIT socket towards any server of the log.
//
// Every server and client is loopback-only; every wait is bounded by the case's Bound (a side that hits it reports
// Error = "timeout" instead of hanging the test).

/// <summary>One request as a <see cref="RecordingServer"/> received it (head Latin-1 decoded, body de-chunked).</summary>
public sealed record ReceivedRequest(string Server, long Connection, string Method, string Target,
    IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body, string Framing)
{
    /// <summary>All values of a header joined with ", ", or null.</summary>
    public string? Header(string name)
    {
        var values = Headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).ToList();
        return values.Count == 0 ? null : string.Join(", ", values);
    }

    /// <summary>What the differential compares: server, method, target, body (length and hash), framing, and the
    /// credential and content headers. User-Agent, Accept-Encoding and Host are left out (they differ by design).</summary>
    public string View =>
        $"{Server} {Method} {Target} body={Body.Length}:{Convert.ToHexString(SHA256.HashData(Body))[..8]} framing={Framing} " +
        $"ct={Header("Content-Type") ?? "-"} auth={Scheme(Header("Authorization"))} cookie={Header("Cookie") ?? "-"} " +
        $"proxy-auth={Header("Proxy-Authorization") ?? "-"}";

    private static string Scheme(string? authorization) =>
        authorization is null ? "-" : authorization.Split(' ', 2)[0] + (authorization.StartsWith("Digest", StringComparison.Ordinal) ? "" : " " + authorization.Split(' ', 2).ElementAtOrDefault(1));
}

/// <summary>Every request every server of a case received, in arrival order (thread-safe).</summary>
public sealed class RequestLog
{
    private readonly ConcurrentQueue<ReceivedRequest> _items = new();
    private readonly ConcurrentDictionary<int, bool> _ports = new();

    /// <summary>The ports of every server recording into this log (for the "nothing left behind" check).</summary>
    public IReadOnlyCollection<int> Ports => _ports.Keys.ToList();

    internal void AddPort(int port) => _ports[port] = true;

    public void Add(ReceivedRequest request) => _items.Enqueue(request);

    public IReadOnlyList<ReceivedRequest> Take()
    {
        var list = new List<ReceivedRequest>();
        while (_items.TryDequeue(out var item))
        {
            list.Add(item);
        }

        return list;
    }
}

/// <summary>A scripted answer. With <see cref="Raw"/> the bytes are written as they are (framing tests); otherwise a
/// status line, the headers (Latin-1, so a header value may carry raw UTF-8 octets: see <see cref="Octets"/>) and
/// the body with a Content-Length unless a framing header is given.</summary>
public sealed record Reply(int Status, string Body = "")
{
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public byte[]? Raw { get; init; }

    /// <summary>After writing, keep the connection open (reading and ignoring) until the client closes it or the
    /// server is disposed: proves a client does not wait for the close.</summary>
    public bool Hold { get; init; }

    /// <summary>Close the connection after the reply.</summary>
    public bool Close { get; init; }

    public static Reply Text(string text, int status = 200) => new(status, text);

    public static Reply Redirect(int status, string location) =>
        new(status, $"redirect {status}") { Headers = [new("Location", location)] };

    public static Reply Bytes(byte[] raw, bool hold) => new(0) { Raw = raw, Hold = hold };

    /// <summary>A string whose chars are the UTF-8 octets of <paramref name="text"/>, for a header written Latin-1.</summary>
    public static string Octets(string text) => Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(text));

    internal byte[] Serialize(bool head)
    {
        if (Raw is not null)
        {
            return Raw;
        }

        var body = Encoding.UTF8.GetBytes(Body);
        var sb = new StringBuilder($"HTTP/1.1 {Status} {((HttpStatusCode)Status)}\r\n");
        foreach (var (name, value) in Headers)
        {
            sb.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        if (!Headers.Any(h => h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
            || h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)))
        {
            sb.Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n");
        }

        if (Close)
        {
            sb.Append("Connection: close\r\n");
        }

        sb.Append("\r\n");
        var headBytes = Encoding.Latin1.GetBytes(sb.ToString());
        return head ? headBytes : [.. headBytes, .. body];
    }
}

/// <summary>
/// A raw-socket HTTP/1.1 server on 127.0.0.1:0 that records every request into a <see cref="RequestLog"/> (before it
/// answers) and answers with the handler's <see cref="Reply"/>. Keep-alive; answers <c>Expect: 100-continue</c>;
/// reads Content-Length and chunked bodies. Dispose closes the listener and every connection and awaits every task.
/// </summary>
public sealed class RecordingServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly string _name;
    private readonly RequestLog _log;
    private readonly Func<ReceivedRequest, Reply> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<long, Socket> _sockets = new();
    private readonly ConcurrentBag<Task> _tasks = [];
    private readonly Task _accept;
    private long _connections;
    private long _closed;

    private RecordingServer(string name, RequestLog log, Func<ReceivedRequest, Reply> handler)
    {
        _name = name;
        _log = log;
        _handler = handler;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        log.AddPort(Port);
        _accept = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>Connections accepted so far.</summary>
    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Connections that ended (the client closed or reset them, or the server did after a reply).</summary>
    public long ClosedConnections => Interlocked.Read(ref _closed);

    /// <summary>Connections whose socket the client has not closed yet.</summary>
    public int OpenConnections => _sockets.Count;

    public static RecordingServer Start(string name, RequestLog log, Func<ReceivedRequest, Reply> handler) => new(name, log, handler);

    public string Url(string pathAndQuery) => $"http://127.0.0.1:{Port}{pathAndQuery}";

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync();
        _listener.Dispose();
        foreach (var socket in _sockets.Values)
        {
            socket.Dispose();
        }

        try
        {
            await Task.WhenAll([_accept, .. _tasks]).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception)
        {
            // Teardown: connection failures are the clients' business.
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
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

            var id = Interlocked.Increment(ref _connections);
            _sockets[id] = socket;
            _tasks.Add(Task.Run(() => ServeAsync(id, socket)));
        }
    }

    private async Task ServeAsync(long id, Socket socket)
    {
        var token = _stop.Token;
        try
        {
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var reader = new HeadReader(stream);
            while (!token.IsCancellationRequested)
            {
                var head = await reader.ReadHeadAsync(token);
                if (head is null)
                {
                    return;
                }

                var lines = head.Split("\r\n");
                var requestLine = lines[0].Split(' ');
                var headers = lines.Skip(1).Where(l => l.Contains(':', StringComparison.Ordinal))
                    .Select(l => new KeyValuePair<string, string>(l[..l.IndexOf(':', StringComparison.Ordinal)].Trim(),
                        l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim()))
                    .ToList();
                string? Get(string name) => headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase))
                    .Select(h => h.Value).FirstOrDefault();
                if (Get("Expect")?.Contains("100-continue", StringComparison.OrdinalIgnoreCase) == true)
                {
                    await stream.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), token);
                }

                byte[] body;
                string framing;
                if (Get("Transfer-Encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true)
                {
                    body = await reader.ReadChunkedAsync(token);
                    framing = "chunked";
                }
                else if (Get("Content-Length") is { } cl)
                {
                    body = await reader.ReadExactlyAsync(int.Parse(cl, CultureInfo.InvariantCulture), token);
                    framing = "length";
                }
                else
                {
                    body = [];
                    framing = "none";
                }

                var request = new ReceivedRequest(_name, id, requestLine[0], requestLine.ElementAtOrDefault(1) ?? "", headers, body, framing);
                _log.Add(request);
                var reply = _handler(request);
                await stream.WriteAsync(reply.Serialize(head: request.Method == "HEAD"), token);
                if (reply.Hold)
                {
                    await reader.DrainAsync(token);
                    return;
                }

                if (reply.Close || Get("Connection")?.Contains("close", StringComparison.OrdinalIgnoreCase) == true)
                {
                    socket.Shutdown(SocketShutdown.Send);
                    await reader.DrainAsync(token);
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidDataException)
        {
            // The client went away (or the test is over).
        }
        finally
        {
            _sockets.TryRemove(id, out _);
            socket.Dispose();
            Interlocked.Increment(ref _closed);
        }
    }

    /// <summary>Buffered reads of request heads and bodies over one connection.</summary>
    private sealed class HeadReader(Stream stream)
    {
        private byte[] _buffer = new byte[16 * 1024];
        private int _start;
        private int _end;

        public async Task<string?> ReadHeadAsync(CancellationToken token)
        {
            while (true)
            {
                var at = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
                if (at >= 0)
                {
                    var text = Encoding.Latin1.GetString(_buffer, _start, at);
                    _start += at + 4;
                    return text;
                }

                if (!await FillAsync(token))
                {
                    return _end == _start ? null : throw new InvalidDataException("closed in a request head");
                }
            }
        }

        public async Task<byte[]> ReadExactlyAsync(int count, CancellationToken token)
        {
            var result = new byte[count];
            var filled = 0;
            while (filled < count)
            {
                if (_end == _start && !await FillAsync(token))
                {
                    throw new InvalidDataException("closed in a request body");
                }

                var n = Math.Min(count - filled, _end - _start);
                _buffer.AsSpan(_start, n).CopyTo(result.AsSpan(filled));
                _start += n;
                filled += n;
            }

            return result;
        }

        public async Task<byte[]> ReadChunkedAsync(CancellationToken token)
        {
            using var body = new MemoryStream();
            while (true)
            {
                var line = await ReadLineAsync(token);
                var size = int.Parse(line.Split(';')[0].Trim(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    while ((await ReadLineAsync(token)).Length > 0)
                    {
                    }

                    return body.ToArray();
                }

                body.Write(await ReadExactlyAsync(size, token));
                await ReadLineAsync(token);
            }
        }

        public async Task DrainAsync(CancellationToken token)
        {
            var scratch = new byte[4096];
            while (await stream.ReadAsync(scratch, token) > 0)
            {
            }
        }

        private async Task<string> ReadLineAsync(CancellationToken token)
        {
            while (true)
            {
                var at = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8);
                if (at >= 0)
                {
                    var text = Encoding.Latin1.GetString(_buffer, _start, at);
                    _start += at + 2;
                    return text;
                }

                if (!await FillAsync(token))
                {
                    throw new InvalidDataException("closed in a chunked body");
                }
            }
        }

        private async Task<bool> FillAsync(CancellationToken token)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                if (_buffer.Length >= 1024 * 1024)
                {
                    throw new InvalidDataException("request over 1 MiB");
                }

                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            var n = await stream.ReadAsync(_buffer.AsMemory(_end), token);
            _end += n;
            return n > 0;
        }
    }
}

/// <summary>How a case's request body is given to each side.</summary>
public enum BodyKind
{
    None,

    /// <summary>Bytes (<c>ByteArrayContent</c>; <c>FetchBody.FromBytes</c>).</summary>
    Bytes,

    /// <summary>A seekable <see cref="MemoryStream"/> (<c>StreamContent</c>; <c>FetchBody.FromStream</c>).</summary>
    SeekableStream,

    /// <summary>A stream that cannot seek (its bytes can be read once).</summary>
    NonSeekableStream,
}

/// <summary>One differential case: the request every side sends.</summary>
public sealed record DiffCase(string Name, string Method, string Url)
{
    public BodyKind Body { get; init; }

    public byte[] BodyBytes { get; init; } = "payload-0123456789"u8.ToArray();

    /// <summary>Request headers set by the caller on every side (e.g. Authorization, Cookie).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>User name and password: <c>SocketsHttpHandler.Credentials</c>, and Tether's Auth settings.</summary>
    public (string User, string Password, AuthMode Mode)? Credentials { get; init; }

    /// <summary>Every side must have answered (or failed) within this bound; a side still waiting reports "timeout".
    /// A loopback case takes milliseconds unloaded; the default 10 s is the margin for a loaded 2-core machine, and
    /// cases that expect a side to wait (a stalled server) set their own bound.</summary>
    public TimeSpan Bound { get; init; } = TimeSpan.FromSeconds(10);

    public override string ToString() => Name;

    internal Stream NewStream() => Body == BodyKind.NonSeekableStream
        ? new OneShotStream(BodyBytes)
        : new MemoryStream(BodyBytes, writable: false);
}

/// <summary>What one side's caller got, and what the servers received for it.</summary>
public sealed record Outcome(string Side, int? Status, byte[] Body, Uri? FinalUrl, string? Error,
    IReadOnlyList<ReceivedRequest> Received, TimeSpan Elapsed)
{
    /// <summary>Ledger entries of the side's pool still present after its client was disposed (Tether sides).</summary>
    public int LeftInLedger { get; init; }

    /// <summary>The server-side view of every request, one line each (<see cref="ReceivedRequest.View"/>).</summary>
    public IReadOnlyList<string> ServerView => Received.Select(r => r.View).ToList();

    /// <summary>The caller-side view: status (or error) and body text.</summary>
    public string CallerView => Error is not null ? $"error {Error}" : $"{Status} {Encoding.UTF8.GetString(Body)}";

    public override string ToString() =>
        $"{Side}: {CallerView} after {Elapsed.TotalMilliseconds:F0} ms\n  " + string.Join("\n  ", ServerView);
}

/// <summary>A client under test.</summary>
public interface IDifferentialSide
{
    string Name { get; }

    Task<Outcome> SendAsync(DiffCase c, RequestLog log);
}

/// <summary>An <see cref="HttpClient"/> over a handler made fresh for every case (its own cookie container and
/// connections). The oracle is <see cref="Default"/>: a default <see cref="SocketsHttpHandler"/>; the bridge tests pass
/// a factory returning Tether's <c>TetherHttpMessageHandler</c>.</summary>
public sealed class HttpClientSide(string name, Func<DiffCase, HttpMessageHandler> handlerFactory) : IDifferentialSide
{
    public static HttpClientSide Default { get; } = new("HttpClient", c =>
    {
        var handler = new SocketsHttpHandler();
        if (c.Credentials is { } creds)
        {
            handler.Credentials = new NetworkCredential(creds.User, creds.Password);
        }

        return handler;
    });

    public string Name => name;

    public async Task<Outcome> SendAsync(DiffCase c, RequestLog log)
    {
        var sw = Stopwatch.StartNew();
        using var handler = handlerFactory(c);
        using var client = new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        using var bound = new CancellationTokenSource(c.Bound);
        using var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Url);
        await using var stream = c.Body is BodyKind.SeekableStream or BodyKind.NonSeekableStream ? c.NewStream() : null;
        request.Content = c.Body switch
        {
            BodyKind.Bytes => new ByteArrayContent(c.BodyBytes),
            BodyKind.SeekableStream or BodyKind.NonSeekableStream => new StreamContent(stream!),
            _ => null,
        };
        foreach (var (headerName, value) in c.Headers)
        {
            if (headerName.StartsWith("Content-", StringComparison.OrdinalIgnoreCase))
            {
                request.Content?.Headers.TryAddWithoutValidation(headerName, value);
            }
            else
            {
                request.Headers.TryAddWithoutValidation(headerName, value);
            }
        }

        try
        {
            using var response = await client.SendAsync(request, bound.Token);
            var body = await response.Content.ReadAsByteArrayAsync(bound.Token);
            return new Outcome(Name, (int)response.StatusCode, body, response.RequestMessage?.RequestUri, null, log.Take(), sw.Elapsed);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            return new Outcome(Name, null, [], null, "timeout", log.Take(), sw.Elapsed);
        }
        catch (HttpRequestException e)
        {
            return new Outcome(Name, null, [], null, $"HttpRequestException:{e.HttpRequestError}", log.Take(), sw.Elapsed);
        }
    }
}

/// <summary>Tether's <see cref="AsyncHttpClient.FetchAsync(FetchRequest, CancellationToken)"/> with a client made for
/// the case. <c>RaiseOnError = false</c> so a 3xx/4xx compares as a status (raising is a Tornado difference covered
/// elsewhere); <c>AllowNonstandardMethods = true</c> when a GET, HEAD or DELETE carries a body (HttpClient sends those
/// bodies; Tether refuses them by default: documented in docs/tornado.md).</summary>
public sealed class FetchSide(string name = "Tether", Action<FetchRequest>? configure = null) : IDifferentialSide
{
    public static FetchSide Default { get; } = new();

    public string Name => name;

    public async Task<Outcome> SendAsync(DiffCase c, RequestLog log)
    {
        var client = new AsyncHttpClient();
        Outcome outcome;
        try
        {
            outcome = await SendAsync(client, c, log);
        }
        finally
        {
            await client.DisposeAsync();
        }

        return outcome with { LeftInLedger = client.Pool?.Snapshot().Count ?? 0 };
    }

    private async Task<Outcome> SendAsync(AsyncHttpClient client, DiffCase c, RequestLog log)
    {
        var sw = Stopwatch.StartNew();
        using var bound = new CancellationTokenSource(c.Bound);
        await using var stream = c.Body is BodyKind.SeekableStream or BodyKind.NonSeekableStream ? c.NewStream() : null;
        var request = new FetchRequest(c.Url)
        {
            Method = c.Method,
            RaiseOnError = false,
            Body = c.Body switch
            {
                BodyKind.Bytes => FetchBody.FromBytes(c.BodyBytes),
                BodyKind.SeekableStream or BodyKind.NonSeekableStream => FetchBody.FromStream(stream!),
                _ => null,
            },
            AllowNonstandardMethods = c.Body != BodyKind.None && c.Method is "GET" or "HEAD" or "DELETE" ? true : null,
        };
        foreach (var (headerName, value) in c.Headers)
        {
            request.Headers.Add(headerName, value);
        }

        if (c.Credentials is { } creds)
        {
            request.AuthUsername = creds.User;
            request.AuthPassword = creds.Password;
            request.AuthMode = creds.Mode;
        }

        configure?.Invoke(request);
        try
        {
            var response = await client.FetchAsync(request, bound.Token);
            return new Outcome(Name, response.Code, response.Body, response.EffectiveUrl, null, log.Take(), sw.Elapsed);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            return new Outcome(Name, null, [], null, "timeout", log.Take(), sw.Elapsed);
        }
        catch (FetchException e) when (e.Code == FetchException.NoResponse || e.Response is null)
        {
            return new Outcome(Name, null, [], null, $"FetchException:{e.Kind}", log.Take(), sw.Elapsed);
        }
        catch (FetchException e)
        {
            return new Outcome(Name, e.Code, e.Response!.Body, e.Response.EffectiveUrl, $"FetchException:{e.Kind}", log.Take(), sw.Elapsed);
        }
    }
}

/// <summary>Sends a case through each side in turn (never concurrently, so the log is per side).</summary>
public static class DifferentialRunner
{
    public static async Task<IReadOnlyList<Outcome>> RunAsync(RequestLog log, DiffCase c, params IDifferentialSide[] sides)
    {
        var outcomes = new List<Outcome>();
        foreach (var side in sides)
        {
            log.Take(); // nothing left over from a previous side or warm-up
            var outcome = await side.SendAsync(c, log);
            outcomes.Add(outcome);
            Xunit.Assert.True(outcome.LeftInLedger == 0, $"{side.Name} left {outcome.LeftInLedger} ledger entries after its client closed");
            await AssertNothingOpenTowardsAsync(log.Ports, side.Name);
        }

        return outcomes;
    }

    /// <summary>The spec's "leaves nothing behind", per test server: no socket of this process is ESTABLISHED or
    /// CLOSE_WAIT towards any of <paramref name="ports"/> (client side: the remote port is the server's). Closing is
    /// asynchronous, so this waits for it, for at most 5 s (a close takes well under 100 ms on loopback).</summary>
    public static async Task AssertNothingOpenTowardsAsync(IReadOnlyCollection<int> ports, string who)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            // This process's own sockets (Support/OwnTcpSockets: the census's kernel state without reading the whole TCP
            // tables on every poll; issue 13, CI time).
            var open = Tether.Tests.Support.OwnTcpSockets.Snapshot()
                .Where(s => s.State is Tether.Diagnostics.TcpState.Established or Tether.Diagnostics.TcpState.CloseWait
                    && ports.Contains(s.RemotePort))
                .ToList();
            if (open.Count == 0)
            {
                return;
            }

            Xunit.Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5),
                $"{who} left {open.Count} socket(s) open towards the test server(s): {string.Join(", ", open)}");
            await Task.Delay(25);
        }
    }

    /// <summary>The oracle (plain HttpClient) and Tether's FetchAsync.</summary>
    public static async Task<(Outcome Client, Outcome Tether)> CompareAsync(RequestLog log, DiffCase c, FetchSide? tether = null)
    {
        var outcomes = await RunAsync(log, c, HttpClientSide.Default, tether ?? FetchSide.Default);
        return (outcomes[0], outcomes[1]);
    }
}

/// <summary>A readable stream that cannot seek: its bytes can be read once.</summary>
public sealed class OneShotStream(byte[] bytes) : Stream
{
    private readonly MemoryStream _inner = new(bytes, writable: false);

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _inner.ReadAsync(buffer, cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
