using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net.Sockets;
using System.Text;

namespace Tether.TestServer;

// What each behaviour does on one accepted connection.
public sealed partial class HostileServer
{
    private const string OkResponse = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    private static readonly ConcurrentDictionary<long, Lazy<byte[]>> s_gzipBombs = new();

    private async Task BehaveAsync(Connection c, HostileBehavior behavior)
    {
        if (behavior == HostileBehavior.AcceptAndNeverAnswer)
        {
            // Read (and record) the head, then never answer; end when the client closes.
            await c.ReadHeadAsync().ConfigureAwait(false);
            await c.WaitForPeerCloseAsync().ConfigureAwait(false);
            return;
        }

        if (behavior is HostileBehavior.Respond200KeepAlive or HostileBehavior.IdleCloseKeepAlive)
        {
            await ServeKeepAliveAsync(c, behavior == HostileBehavior.IdleCloseKeepAlive ? _options.IdleClose : null).ConfigureAwait(false);
            return;
        }

        var head = await c.ReadHeadAsync().ConfigureAwait(false);
        if (head is null)
        {
            return;
        }

        var bodySize = _options.BodySize;
        switch (behavior)
        {
            case HostileBehavior.ResetAfterHeaders:
                await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n").ConfigureAwait(false);
                await c.ResetAsync(_options.ResetDelay).ConfigureAwait(false);
                break;

            case HostileBehavior.ResetMidBody:
                await c.SendAsync($"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {bodySize}\r\n\r\n").ConfigureAwait(false);
                await c.SendAsync(TestPatterns.Create(bodySize / 2)).ConfigureAwait(false);
                await c.ResetAsync(_options.ResetDelay).ConfigureAwait(false);
                break;

            case HostileBehavior.CloseBeforeResponse:
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.TrickleOneBytePerSecond:
                await TrickleAsync(c).ConfigureAwait(false);
                break;

            case HostileBehavior.GarbageStatusLine:
                await c.SendAsync(_options.GarbageVariant switch
                {
                    GarbageStatusLineVariant.NonNumericStatus => "HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n"u8.ToArray(),
                    GarbageStatusLineVariant.Binary => [0x00, 0xFF, 0x16, 0x03, 0x01, 0x02, 0x00, 0xFE, 0x80, 0x7F, 0x0D, 0x0A, 0x0D, 0x0A],
                    _ => "FOO\r\n\r\n"u8.ToArray(),
                }).ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.Http10CloseDelimited:
                await c.SendAsync("HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n").ConfigureAwait(false);
                await c.SendAsync(TestPatterns.Create(bodySize)).ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.ContentLengthLongerThanBody:
                await c.SendAsync($"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {bodySize}\r\n\r\n").ConfigureAwait(false);
                await c.SendAsync(TestPatterns.Create(bodySize / 2)).ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.InvalidChunkSize:
                await c.SendAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nabc\r\n0\r\n\r\n").ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.UnterminatedChunkedBody:
                await c.SendAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n").ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.HugeHeaderLine:
                await c.SendAsync("HTTP/1.1 200 OK\r\nX-Huge: " + new string('a', 1024 * 1024) + "\r\nContent-Length: 2\r\n\r\nok").ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.ThousandsOfHeaders:
                var many = new StringBuilder("HTTP/1.1 200 OK\r\n");
                for (var i = 0; i < 10_000; i++)
                {
                    many.Append("X-Header-").Append(i).Append(": v\r\n");
                }

                await c.SendAsync(many.Append("Content-Length: 2\r\n\r\nok").ToString()).ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.GzipBomb:
                var bomb = GetGzipBomb(_options.GzipBombInflatedSize);
                await c.SendAsync($"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Encoding: gzip\r\nContent-Length: {bomb.Length}\r\n\r\n").ConfigureAwait(false);
                await c.SendAsync(bomb).ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.ExpectContinueNeverSent:
                var received = await c.Reader.ReadBodyAsync(head, null, c.Token).ConfigureAwait(false);
                var text = received.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await c.SendAsync($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {text.Length}\r\n\r\n{text}").ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.ConflictingContentLength:
                await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!").ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.ContentLengthAndChunked:
                await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.HalfCloseAfterResponse:
                await c.SendAsync(OkResponse).ConfigureAwait(false);
                c.Socket.Shutdown(SocketShutdown.Send);
                await c.WaitForPeerCloseAsync().ConfigureAwait(false);
                break;

            case HostileBehavior.Status413AndCloseDuringUpload:
                await c.SendAsync("HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\ntoo big\n").ConfigureAwait(false);
                c.Socket.Shutdown(SocketShutdown.Send);
                await Task.Delay(_options.ResetDelay, c.Token).ConfigureAwait(false);

                // Closing with the unread upload in the receive buffer makes the kernel send RST, like a real server.
                c.Socket.Close();
                break;

            case HostileBehavior.ChunkedWithFinInSameSegment:
                await SendChunkedWithFinAsync(c).ConfigureAwait(false);
                break;

            case HostileBehavior.GzipTrailingGarbage:
                var gzip = Gzip(Encoding.UTF8.GetBytes(KestrelTestServer.CompressibleText));
                var garbage = "\0\xFFtrailing garbage after the gzip member\r\n"u8.ToArray();
                await c.SendAsync($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: {gzip.Length + garbage.Length}\r\n\r\n").ConfigureAwait(false);
                byte[] payload = [.. gzip, .. garbage];
                await c.SendAsync(payload).ConfigureAwait(false);
                await c.GracefulCloseAsync().ConfigureAwait(false);
                break;

            default:
                throw new InvalidOperationException($"Behaviour {behavior} is not handled here.");
        }
    }

    private async Task ServeRawAsync(Connection c)
    {
        while (await c.ReadRawHeadAsync().ConfigureAwait(false) is { } head)
        {
            await c.SendAsync(_respond!(head)).ConfigureAwait(false);
            if (_closeAfterRaw)
            {
                await c.GracefulCloseAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    private static async Task ServeKeepAliveAsync(Connection c, TimeSpan? idleClose)
    {
        while (true)
        {
            RequestHead? head;
            if (idleClose is { } idle)
            {
                using var idleTimer = CancellationTokenSource.CreateLinkedTokenSource(c.Token);
                idleTimer.CancelAfter(idle);
                try
                {
                    head = await c.ReadHeadAsync(idleTimer.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!c.Token.IsCancellationRequested)
                {
                    // Idle for too long: close as a real server's keep-alive timeout would.
                    await c.GracefulCloseAsync().ConfigureAwait(false);
                    return;
                }
            }
            else
            {
                head = await c.ReadHeadAsync().ConfigureAwait(false);
            }

            if (head is null)
            {
                return;
            }

            await c.Reader.ReadBodyAsync(head, null, c.Token).ConfigureAwait(false);
            var close = head.WantsClose;
            var response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n";
            await c.SendAsync(head.Method == "HEAD" ? response : response + "ok").ConfigureAwait(false);
            if (close)
            {
                await c.GracefulCloseAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    private async Task TrickleAsync(Connection c)
    {
        const int bodyLength = 60;
        var head = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {bodyLength}\r\n\r\n");
        var body = Encoding.ASCII.GetBytes(new string('t', bodyLength));
        byte[] trickled = _options.TrickleHeaders ? [.. head, .. body] : body;
        if (!_options.TrickleHeaders)
        {
            await c.SendAsync(head).ConfigureAwait(false);
        }

        for (var i = 0; i < trickled.Length; i++)
        {
            if (i > 0)
            {
                await Task.Delay(_options.TrickleInterval, c.Token).ConfigureAwait(false);
            }

            await c.SendAsync(trickled.AsMemory(i, 1)).ConfigureAwait(false);
        }

        await c.GracefulCloseAsync().ConfigureAwait(false);
    }

    private static async Task SendChunkedWithFinAsync(Connection c)
    {
        var response = new StringBuilder("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (var i = 0; i < 3; i++)
        {
            var chunk = $"chunk {i}\n";
            response.Append(chunk.Length.ToString("x", System.Globalization.CultureInfo.InvariantCulture)).Append("\r\n").Append(chunk).Append("\r\n");
        }

        response.Append("0\r\n\r\n");

        // TCP_CORK holds the data back so shutdown() can set FIN on the same, still unsent, segment.
        const int IpProtoTcp = 6, TcpCork = 3;
        var corked = false;
        if (OperatingSystem.IsLinux())
        {
            c.Socket.SetRawSocketOption(IpProtoTcp, TcpCork, BitConverter.GetBytes(1));
            corked = true;
        }

        c.Socket.Send(Encoding.ASCII.GetBytes(response.ToString()));
        c.Socket.Shutdown(SocketShutdown.Send);
        if (corked)
        {
            c.Socket.SetRawSocketOption(IpProtoTcp, TcpCork, BitConverter.GetBytes(0));
        }

        await c.WaitForPeerCloseAsync(s_drainTimeout).ConfigureAwait(false);
    }

    private static byte[] GetGzipBomb(long inflatedSize) =>
        s_gzipBombs.GetOrAdd(inflatedSize, size => new Lazy<byte[]>(() => BuildGzipBomb(size))).Value;

    private static byte[] BuildGzipBomb(long inflatedSize)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1024 * 1024];
            for (long left = inflatedSize; left > 0; left -= zeros.Length)
            {
                gzip.Write(zeros, 0, (int)Math.Min(zeros.Length, left));
            }
        }

        return output.ToArray();
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    /// <summary>One accepted connection and the helpers the behaviours share.</summary>
    private sealed class Connection(HostileServer server, long id, Socket socket, NetworkStream stream, RequestReader reader, CancellationToken token)
    {
        public Socket Socket { get; } = socket;

        public RequestReader Reader { get; } = reader;

        public CancellationToken Token { get; } = token;

        public ValueTask<RequestHead?> ReadHeadAsync() => ReadHeadAsync(Token);

        public async ValueTask<RequestHead?> ReadHeadAsync(CancellationToken cancellationToken)
        {
            var head = await Reader.ReadHeadAsync(cancellationToken).ConfigureAwait(false);
            if (head is not null)
            {
                server.RecordRequest(id, head);
            }

            return head;
        }

        public async ValueTask<byte[]?> ReadRawHeadAsync()
        {
            var head = await ReadHeadAsync().ConfigureAwait(false);
            return head is null ? null : Encoding.Latin1.GetBytes(head.Text);
        }

        public ValueTask SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

        public ValueTask SendAsync(ReadOnlyMemory<byte> bytes) => stream.WriteAsync(bytes, Token);

        /// <summary>FIN, then read until the client closes too (at most 5 s), so neither side is left in CLOSE_WAIT.</summary>
        public async Task GracefulCloseAsync()
        {
            Socket.Shutdown(SocketShutdown.Send);
            await WaitForPeerCloseAsync(s_drainTimeout).ConfigureAwait(false);
        }

        public Task WaitForPeerCloseAsync() => Reader.DrainUntilEofAsync(Token);

        public async Task WaitForPeerCloseAsync(TimeSpan timeout)
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(Token);
            limit.CancelAfter(timeout);
            try
            {
                await Reader.DrainUntilEofAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!Token.IsCancellationRequested)
            {
                // The client kept its side open; the connection task closes the socket anyway.
            }
        }

        /// <summary>Waits, then closes with linger 0 so the kernel sends RST instead of FIN.</summary>
        public async Task ResetAsync(TimeSpan delay)
        {
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, Token).ConfigureAwait(false);
            }

            Socket.LingerState = new LingerOption(true, 0);
            Socket.Close();
        }
    }
}
