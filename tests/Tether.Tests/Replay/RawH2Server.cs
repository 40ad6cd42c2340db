using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Tether.Tests.Replay;

/// <summary>
/// A frame-level HTTP/2 server over TLS (ALPN h2) on <c>127.0.0.1:0</c> for what Kestrel will not do on cue: a GOAWAY
/// whose last-stream-id leaves streams unprocessed, a one-off REFUSED_STREAM, a stream limit lowered mid-connection.
/// Each accepted connection runs a script (ids 0, 1, … in accept order) after the preface and both SETTINGS; answers
/// are a bare <c>:status 200</c> (HPACK static index 8) and a DATA frame. Every request HEADERS frame read is recorded
/// with its connection. Dispose closes the listener and every connection and waits for the scripts.
/// </summary>
internal sealed class RawH2Server : IAsyncDisposable
{
    // The sockets, the accept loop, the ids and the close come from ScriptServer (the HTTP/1.1 replays' server); this
    // class adds TLS with ALPN h2 and the HTTP/2 connection preface.
    private readonly ScriptServer _sockets;

    private RawH2Server(Func<RawH2Connection, CancellationToken, Task> script) =>
        _sockets = ScriptServer.Start((connection, stop) => RunAsync(connection, script, stop));

    public int Port => _sockets.Port;

    public int AcceptedConnections => (int)_sockets.AcceptedConnections;

    /// <summary>(connection id, stream id) of every request HEADERS frame read, in arrival order.</summary>
    public ConcurrentQueue<(int Connection, int Stream)> Requests { get; } = new();

    public Uri Url(string path = "/") => new($"https://127.0.0.1:{Port}{path}");

    public static RawH2Server Start(Func<RawH2Connection, CancellationToken, Task> script) => new(script);

    private async Task RunAsync(ScriptConnection accepted, Func<RawH2Connection, CancellationToken, Task> script, CancellationToken stop)
    {
        // The socket stays ScriptServer's: it closes it when this returns.
        await using var tls = new SslStream(new NetworkStream(accepted.Socket, ownsSocket: false));
        try
        {
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = H2App.Certificate,
                ApplicationProtocols = [SslApplicationProtocol.Http2],
            }, stop);
            var connection = new RawH2Connection(this, (int)accepted.Id, tls);
            await connection.HandshakeAsync(stop);
            await script(connection, stop);
        }
        catch (System.Security.Authentication.AuthenticationException)
        {
            // The client gave up on the handshake (ScriptServer ends the other ways a connection goes away).
        }
    }

    public ValueTask DisposeAsync() => _sockets.DisposeAsync();
}

/// <summary>One connection of a <see cref="RawH2Server"/>: frames in and out.</summary>
internal sealed class RawH2Connection(RawH2Server server, int id, Stream stream)
{
    public const byte Data = 0x0, Headers = 0x1, RstStream = 0x3, Settings = 0x4, Ping = 0x6, GoAway = 0x7;
    public const uint NoError = 0x0, RefusedStream = 0x7;
    private readonly SemaphoreSlim _write = new(1, 1);

    public int Id { get; } = id;

    /// <summary>Reads the client's preface, sends this server's SETTINGS (<paramref name="settings"/>) and ACKs the
    /// client's in <see cref="NextRequestAsync"/>.</summary>
    public async Task HandshakeAsync(CancellationToken token, params (ushort Id, uint Value)[] settings)
    {
        var preface = new byte[24];
        await stream.ReadExactlyAsync(preface, token);
        await SendSettingsAsync(token, settings);
    }

    public async Task SendSettingsAsync(CancellationToken token, params (ushort Id, uint Value)[] settings)
    {
        var payload = new byte[6 * settings.Length];
        for (var i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(6 * i), settings[i].Id);
            BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(6 * i + 2), settings[i].Value);
        }

        await SendFrameAsync(Settings, 0, 0, payload, token);
    }

    /// <summary>Reads frames until a request HEADERS frame arrives and returns its stream id; SETTINGS and PING are
    /// acknowledged, everything else (WINDOW_UPDATE, DATA of a body, RST_STREAM) is skipped. Null when the client
    /// closed the connection.</summary>
    public async Task<int?> NextRequestAsync(CancellationToken token) =>
        await ReadAsync(stopAtPingAck: false, token) is [var streamId] ? streamId : null;

    /// <summary>A fence: sends a PING and reads frames until its ACK, returning the stream ids of the request HEADERS
    /// read meanwhile (the client processes frames in order, so whatever it did about the frames sent before the PING
    /// is done when the ACK arrives). Null when the client closed the connection first.</summary>
    public async Task<List<int>?> PingFenceAsync(CancellationToken token)
    {
        await SendFrameAsync(Ping, 0, 0, new byte[8], token);
        var seen = await ReadAsync(stopAtPingAck: true, token);
        return seen.Count > 0 && seen[^1] == -1 ? seen[..^1] : null;
    }

    // Reads frames: until one request HEADERS (its stream id), or with stopAtPingAck until a PING ACK (the HEADERS
    // before it, then -1). An empty or unterminated list when the client closed the connection.
    private async Task<List<int>> ReadAsync(bool stopAtPingAck, CancellationToken token)
    {
        var seen = new List<int>();
        var header = new byte[9];
        while (true)
        {
            try
            {
                await stream.ReadExactlyAsync(header, token);
            }
            catch (EndOfStreamException)
            {
                return seen;
            }

            var length = (header[0] << 16) | (header[1] << 8) | header[2];
            var (type, flags) = (header[3], header[4]);
            var streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(5)) & 0x7fffffff);
            var payload = new byte[length];
            await stream.ReadExactlyAsync(payload, token);
            switch (type)
            {
                case Settings when (flags & 0x1) == 0:
                    await SendFrameAsync(Settings, 0x1, 0, [], token);
                    break;
                case Ping when (flags & 0x1) == 0:
                    await SendFrameAsync(Ping, 0x1, 0, payload, token);
                    break;
                case Ping when stopAtPingAck:
                    seen.Add(-1);
                    return seen;
                case Headers:
                    server.Requests.Enqueue((Id, streamId));
                    seen.Add(streamId);
                    if (!stopAtPingAck)
                    {
                        return seen;
                    }

                    break;
            }
        }
    }

    /// <summary>A 200 with <paramref name="body"/> on <paramref name="streamId"/>, ending the stream.</summary>
    public async Task RespondAsync(int streamId, string body, CancellationToken token)
    {
        await SendFrameAsync(Headers, 0x4, streamId, [0x88], token); // END_HEADERS; ":status: 200" (static index 8)
        await SendFrameAsync(Data, 0x1, streamId, System.Text.Encoding.ASCII.GetBytes(body), token); // END_STREAM
    }

    /// <summary>A 103 Early Hints header block on <paramref name="streamId"/> (not ending it), with a Link field:
    /// HPACK literals without indexing, names from the static table (8 ":status", 45 "link").</summary>
    public Task SendEarlyHintsAsync(int streamId, CancellationToken token)
    {
        const string link = "</hinted.css>; rel=preload; as=style";
        byte[] block = [0x08, 0x03, (byte)'1', (byte)'0', (byte)'3', 0x0F, 45 - 15, (byte)link.Length, .. System.Text.Encoding.ASCII.GetBytes(link)];
        return SendFrameAsync(Headers, 0x4, streamId, block, token); // END_HEADERS only
    }

    public Task ResetAsync(int streamId, uint code, CancellationToken token)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, code);
        return SendFrameAsync(RstStream, 0, streamId, payload, token);
    }

    public Task GoAwayAsync(int lastStreamId, uint code, CancellationToken token)
    {
        var payload = new byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)lastStreamId);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(4), code);
        return SendFrameAsync(GoAway, 0, 0, payload, token);
    }

    private async Task SendFrameAsync(byte type, byte flags, int streamId, byte[] payload, CancellationToken token)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(5), (uint)streamId);
        payload.CopyTo(frame, 9);
        await _write.WaitAsync(token);
        try
        {
            await stream.WriteAsync(frame, token);
            await stream.FlushAsync(token);
        }
        finally
        {
            _write.Release();
        }
    }
}
