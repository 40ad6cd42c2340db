using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tether.TestServer;

/// <summary>
/// A raw-socket HTTP proxy on <c>127.0.0.1:0</c>: absolute-form requests are forwarded and CONNECT
/// opens a tunnel, both to loopback targets only (anything else gets 403).
/// </summary>
/// <example>
/// <code>
/// await using var proxy = ProxyServer.Start(new ProxyServerOptions { UserName = "u", Password = "p" });
/// // fetch through proxy.BaseUri, then assert on proxy.RequestHeads and proxy.TunnelPayloads
/// </code>
/// </example>
/// <remarks>
/// Forwarded requests go upstream in origin form with <c>Proxy-Authorization</c> and <c>Proxy-Connection</c>
/// removed and <c>Connection: close</c>, and the response is relayed until the origin closes; then the
/// client connection is closed too (no keep-alive for forwarded requests). 403 and 407 answers keep the
/// connection open. <see cref="RequestHeads"/> holds every head the proxy read from clients;
/// <see cref="TunnelPayloads"/> the first 64 KiB the client sent inside each tunnel, so a test can prove
/// proxy credentials never travel inside it. Members are thread-safe.
/// </remarks>
public sealed class ProxyServer : IAsyncDisposable
{
    private const int MaxTunnelCapture = 64 * 1024;

    private readonly RawListener _listener;
    private readonly string? _expectedAuthorization;
    private readonly List<string> _requestHeads = [];
    private readonly List<MemoryStream> _tunnelPayloads = [];
    private int _tunnels;

    private ProxyServer(ProxyServerOptions options)
    {
        if (options.UserName is not null)
        {
            _expectedAuthorization = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.UserName}:{options.Password}"));
        }

        _listener = new RawListener(RunConnectionAsync, backlog: 128);
        Port = _listener.Port;
        BaseUri = new Uri($"http://127.0.0.1:{Port}/");
    }

    /// <summary>The proxy's port (127.0.0.1).</summary>
    public int Port { get; }

    /// <summary>The proxy address, <c>http://127.0.0.1:PORT/</c>.</summary>
    public Uri BaseUri { get; }

    /// <summary>TCP connections accepted from clients since start.</summary>
    public long AcceptedConnections => _listener.AcceptedConnections;

    /// <summary>Client connections currently open.</summary>
    public int OpenConnections => _listener.OpenConnections;

    /// <summary>CONNECT tunnels established (200 sent) since start.</summary>
    public int TunnelsOpened => Volatile.Read(ref _tunnels);

    /// <summary>Every request head read from clients (Latin-1, with the blank line), in arrival order; a snapshot.</summary>
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

    /// <summary>Per tunnel, the first 64 KiB the client sent through it (Latin-1); a snapshot.</summary>
    public IReadOnlyList<string> TunnelPayloads
    {
        get
        {
            lock (_tunnelPayloads)
            {
                return [.. _tunnelPayloads.Select(capture => Encoding.Latin1.GetString(capture.GetBuffer(), 0, (int)capture.Length))];
            }
        }
    }

    /// <summary>Starts a proxy.</summary>
    /// <param name="options">Credentials to require, or <see langword="null"/> for an open proxy.</param>
    /// <returns>The listening proxy, which the caller must dispose.</returns>
    public static ProxyServer Start(ProxyServerOptions? options = null) => new(options ?? new ProxyServerOptions());

    /// <summary>Closes the listener, every client and upstream socket, and awaits every task. Idempotent.</summary>
    /// <returns>A task that completes when everything is closed.</returns>
    public ValueTask DisposeAsync() => _listener.DisposeAsync();

    internal static bool IsLoopbackHost(string host)
    {
        host = host.Trim('[', ']');
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var address) && (address.Equals(IPAddress.Loopback) || address.Equals(IPAddress.IPv6Loopback)));
    }

    private async Task RunConnectionAsync(long id, Socket socket, CancellationToken token)
    {
        Socket? upstream = null;
        try
        {
            await using var client = new NetworkStream(socket, ownsSocket: false);
            var reader = new RequestReader(client);
            while (await reader.ReadHeadAsync(token).ConfigureAwait(false) is { } head)
            {
                lock (_requestHeads)
                {
                    _requestHeads.Add(head.Text);
                }

                var isConnect = head.Method.Equals("CONNECT", StringComparison.OrdinalIgnoreCase);
                if (_expectedAuthorization is not null && head.Get("Proxy-Authorization") != _expectedAuthorization)
                {
                    await reader.ReadBodyAsync(head, null, token).ConfigureAwait(false);
                    await WriteAsync(client, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"tether-proxy\"\r\nContent-Length: 0\r\n\r\n", token).ConfigureAwait(false);
                    continue;
                }

                if (!TryGetTarget(head, isConnect, out var host, out var port, out var originForm) || !IsLoopbackHost(host))
                {
                    await reader.ReadBodyAsync(head, null, token).ConfigureAwait(false);
                    await WriteAsync(client, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 29\r\n\r\nloopback targets only, sorry\n", token).ConfigureAwait(false);
                    continue;
                }

                upstream = new Socket(SocketType.Stream, ProtocolType.Tcp);
                _listener.AddCompanion(id, upstream);
                try
                {
                    var address = host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback : IPAddress.Parse(host.Trim('[', ']'));
                    await upstream.ConnectAsync(new IPEndPoint(address, port), token).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    await WriteAsync(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", token).ConfigureAwait(false);
                    return;
                }

                await using var target = new NetworkStream(upstream, ownsSocket: false);
                if (isConnect)
                {
                    await WriteAsync(client, "HTTP/1.1 200 Connection Established\r\n\r\n", token).ConfigureAwait(false);
                    Interlocked.Increment(ref _tunnels);
                    var capture = new MemoryStream();
                    lock (_tunnelPayloads)
                    {
                        _tunnelPayloads.Add(capture);
                    }

                    await TunnelAsync(reader, client, target, upstream, capture, token).ConfigureAwait(false);
                    return;
                }

                await ForwardAsync(head, originForm, reader, client, target, token).ConfigureAwait(false);
                return;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException or InvalidDataException)
        {
            // A peer went away, the proxy is stopping, or a client sent something unusable.
        }
        finally
        {
            if (upstream is not null)
            {
                _listener.RemoveCompanion(id);
                upstream.Dispose();
            }
        }
    }

    private static bool TryGetTarget(RequestHead head, bool isConnect, out string host, out int port, out string originForm)
    {
        host = "";
        port = 0;
        originForm = "";
        if (isConnect)
        {
            var colon = head.Target.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(head.Target.AsSpan(colon + 1), out port))
            {
                return false;
            }

            host = head.Target[..colon];
            return true;
        }

        if (!Uri.TryCreate(head.Target, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
        {
            return false;
        }

        host = uri.Host;
        port = uri.Port;
        originForm = uri.PathAndQuery;
        return true;
    }

    private static async Task ForwardAsync(RequestHead head, string originForm, RequestReader reader, NetworkStream client, NetworkStream target, CancellationToken token)
    {
        var upstreamHead = new StringBuilder($"{head.Method} {originForm} {head.Version}\r\n");
        foreach (var (name, value) in head.Headers)
        {
            if (!name.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase)
                && !name.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase)
                && !name.Equals("Connection", StringComparison.OrdinalIgnoreCase)
                && !name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase))
            {
                upstreamHead.Append(name).Append(": ").Append(value).Append("\r\n");
            }
        }

        upstreamHead.Append("Connection: close\r\n\r\n");
        await WriteAsync(target, upstreamHead.ToString(), token).ConfigureAwait(false);
        await reader.ReadBodyAsync(head, bytes => target.WriteAsync(bytes, token), token).ConfigureAwait(false);
        await target.CopyToAsync(client, token).ConfigureAwait(false);
        client.Socket.Shutdown(SocketShutdown.Send);
    }

    private static async Task TunnelAsync(RequestReader reader, NetworkStream client, NetworkStream target, Socket upstream, MemoryStream capture, CancellationToken token)
    {
        using var tunnel = CancellationTokenSource.CreateLinkedTokenSource(token);

        async Task ClientToTargetAsync(CancellationToken ct)
        {
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await reader.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                lock (capture)
                {
                    var room = (int)Math.Min(read, MaxTunnelCapture - capture.Length);
                    if (room > 0)
                    {
                        capture.Write(buffer, 0, room);
                    }
                }

                await target.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
            }

            upstream.Shutdown(SocketShutdown.Send);
        }

        async Task TargetToClientAsync(CancellationToken ct)
        {
            await target.CopyToAsync(client, ct).ConfigureAwait(false);
            client.Socket.Shutdown(SocketShutdown.Send);
        }

        var toTarget = ClientToTargetAsync(tunnel.Token);
        var toClient = TargetToClientAsync(tunnel.Token);
        var first = await Task.WhenAny(toTarget, toClient).ConfigureAwait(false);

        // A failed direction ends the tunnel at once; a half-closed one gives the other 5 s to finish.
        if (first.Status != TaskStatus.RanToCompletion)
        {
            await tunnel.CancelAsync().ConfigureAwait(false);
        }
        else
        {
            tunnel.CancelAfter(TimeSpan.FromSeconds(5));
        }

        // Awaiting both observes both, so no unobserved task exception is left behind.
        await Task.WhenAll(toTarget, toClient).ConfigureAwait(false);
    }

    private static ValueTask WriteAsync(NetworkStream stream, string text, CancellationToken token) =>
        stream.WriteAsync(Encoding.Latin1.GetBytes(text), token);
}
