using System.Net;
using System.Net.Sockets;

namespace Tether.TestServer;

/// <summary>
/// A raw-socket HTTP/1.1 server on <c>127.0.0.1:0</c> that misbehaves in exactly one way
/// (<see cref="HostileBehavior"/>), or answers with bytes the test supplies (<see cref="StartRaw(byte[], bool)"/>).
/// </summary>
/// <example>
/// <code>
/// await using var server = HostileServer.Start(HostileBehavior.ResetAfterHeaders);
/// // fetch server.Url("/") and expect a reset 599
/// </code>
/// </example>
/// <remarks>
/// One task accepts; one task per connection reads the request head (bounded at 64 KiB) and then
/// misbehaves. Every wait ends when the client closes or the server is disposed. <see cref="DisposeAsync"/>
/// closes the listener and every accepted socket and awaits every task. Members are thread-safe.
/// </remarks>
public sealed partial class HostileServer : IAsyncDisposable
{
    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(5);

    private readonly RawListener _listener;
    private readonly HostileBehavior? _behavior;
    private readonly HostileServerOptions _options;
    private readonly Func<ReadOnlyMemory<byte>, byte[]>? _respond;
    private readonly bool _closeAfterRaw;
    private readonly List<int> _requestsOnConnection = [];
    private readonly List<string> _requestHeads = [];

    private HostileServer(HostileBehavior? behavior, HostileServerOptions? options, Func<ReadOnlyMemory<byte>, byte[]>? respond, bool closeAfterRaw)
    {
        _behavior = behavior;
        _options = options ?? new HostileServerOptions();
        _respond = respond;
        _closeAfterRaw = closeAfterRaw;
        var neverAccept = behavior == HostileBehavior.NeverAccept;
        _listener = new RawListener(RunConnectionAsync, backlog: neverAccept ? 1 : 512, accept: !neverAccept, onAccepted: OnAccepted);
        Port = _listener.Port;
    }

    /// <summary>The port the server listens on (127.0.0.1).</summary>
    public int Port { get; }

    /// <summary>TCP connections accepted since start.</summary>
    public long AcceptedConnections => _listener.AcceptedConnections;

    /// <summary>Accepted connections not yet closed by the server.</summary>
    public int OpenConnections => _listener.OpenConnections;

    /// <summary>Requests read per accepted connection, in accept order (a snapshot). Two requests on entry 0 prove reuse.</summary>
    public IReadOnlyList<int> RequestsOnConnection
    {
        get
        {
            lock (_requestsOnConnection)
            {
                return [.. _requestsOnConnection];
            }
        }
    }

    /// <summary>Every request head read so far (Latin-1, including the blank line), in arrival order (a snapshot, at most 10,000).</summary>
    public IReadOnlyList<string> RequestHeads
    {
        get
        {
            lock (_requestHeads)
            {
                return [.. _requestHeads];
            }
        }
    }

    /// <summary>Starts a server with one misbehaviour.</summary>
    /// <param name="behavior">What the server does wrong.</param>
    /// <param name="options">Knobs for the behaviour; <see langword="null"/> for the defaults.</param>
    /// <returns>The listening server, which the caller must dispose.</returns>
    public static HostileServer Start(HostileBehavior behavior, HostileServerOptions? options = null) =>
        new(behavior, options, null, closeAfterRaw: true);

    /// <summary>Starts a server that answers every request head with the bytes <paramref name="respond"/> returns.</summary>
    /// <param name="respond">Given the raw request head (including the blank line), returns the exact bytes to send.</param>
    /// <param name="closeAfter">Close (FIN) after sending; otherwise wait for the next request on the same connection.</param>
    /// <returns>The listening server, which the caller must dispose.</returns>
    public static HostileServer StartRaw(Func<ReadOnlyMemory<byte>, byte[]> respond, bool closeAfter = true)
    {
        ArgumentNullException.ThrowIfNull(respond);
        return new(null, null, respond, closeAfter);
    }

    /// <summary>Starts a server that answers every request with exactly <paramref name="rawResponse"/>.</summary>
    /// <param name="rawResponse">The bytes to send, unchanged.</param>
    /// <param name="closeAfter">Close (FIN) after sending; otherwise wait for the next request on the same connection.</param>
    /// <returns>The listening server, which the caller must dispose.</returns>
    public static HostileServer StartRaw(byte[] rawResponse, bool closeAfter = true)
    {
        ArgumentNullException.ThrowIfNull(rawResponse);
        return StartRaw(_ => rawResponse, closeAfter);
    }

    /// <summary>Returns a loopback port that nothing listens on (bound to port 0, read, closed).</summary>
    /// <returns>The port; connecting to it is refused unless something else grabs it meanwhile.</returns>
    public static int GetClosedPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>Builds <c>http://127.0.0.1:PORT/path</c>.</summary>
    /// <param name="path">The path and query; a missing leading slash is added.</param>
    /// <returns>The absolute URL.</returns>
    public Uri Url(string path = "/") => KestrelTestServer.Combine(new Uri($"http://127.0.0.1:{Port}/"), path);

    /// <summary>Closes the listener and every accepted socket, and waits for every connection task. Idempotent.</summary>
    /// <returns>A task that completes when everything is closed.</returns>
    public ValueTask DisposeAsync() => _listener.DisposeAsync();

    private void OnAccepted(long id)
    {
        lock (_requestsOnConnection)
        {
            _requestsOnConnection.Add(0);
        }
    }

    private async Task RunConnectionAsync(long id, Socket socket, CancellationToken token)
    {
        try
        {
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var reader = new RequestReader(stream);
            var connection = new Connection(this, id, socket, stream, reader, token);
            if (_respond is not null)
            {
                await ServeRawAsync(connection).ConfigureAwait(false);
            }
            else
            {
                await BehaveAsync(connection, _behavior!.Value).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException or InvalidDataException)
        {
            // The peer went away, the server is stopping, or the client sent something unusable.
        }
    }

    private void RecordRequest(long id, RequestHead head)
    {
        lock (_requestsOnConnection)
        {
            _requestsOnConnection[(int)id]++;
        }

        lock (_requestHeads)
        {
            if (_requestHeads.Count < 10_000)
            {
                _requestHeads.Add(head.Text);
            }
        }
    }
}
