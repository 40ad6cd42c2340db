using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Tether.Tests.Core;

/// <summary>
/// A loopback TCP relay (127.0.0.1:0 to a target port) whose existing connections can be made silent: a silent
/// connection keeps both sockets open and keeps reading, but forwards nothing in either direction, which is what a
/// server (or a middlebox) that died without closing looks like to the client. New connections accepted after
/// <see cref="SilenceExisting"/> forward normally.
/// </summary>
/// <remarks>Owns its listener, both sockets of every pair and their pump tasks; <see cref="DisposeAsync"/> closes all
/// of them and waits for the pumps. Thread-safe.</remarks>
internal sealed class CoreNetSilentRelay : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly int _targetPort;
    private readonly ConcurrentDictionary<int, Pair> _pairs = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private int _nextId;

    private CoreNetSilentRelay(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>The relay's listening port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _nextId);

    /// <summary>Connections whose client side has been closed by the client (it read end of stream or a reset).</summary>
    public int ClosedByClient => _pairs.Values.Count(static p => p.ClientClosed);

    public static CoreNetSilentRelay Start(int targetPort) => new(targetPort);

    /// <summary>From now on, every connection accepted so far forwards nothing (sockets stay open).</summary>
    public void SilenceExisting()
    {
        foreach (var pair in _pairs.Values)
        {
            pair.Silent = true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (var pair in _pairs.Values)
        {
            pair.Close();
        }

        try
        {
            await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(5));
            await Task.WhenAll(_pairs.Values.Select(static p => p.Pumps)).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            // The pumps end with the sockets closed under them.
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                using var connectDeadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                connectDeadline.CancelAfter(TimeSpan.FromSeconds(5));
                await upstream.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _targetPort), connectDeadline.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                upstream.Dispose();
                client.Dispose();
                continue;
            }

            var pair = new Pair(client, upstream);
            _pairs[Interlocked.Increment(ref _nextId)] = pair;
            pair.Pumps = Task.WhenAll(PumpAsync(pair, client, upstream, fromClient: true), PumpAsync(pair, upstream, client, fromClient: false));
        }
    }

    private static async Task PumpAsync(Pair pair, Socket from, Socket to, bool fromClient)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    break;
                }

                if (!pair.Silent)
                {
                    await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Reset or closed by DisposeAsync: the pair ends.
        }

        if (fromClient && !pair.IsClosed)
        {
            pair.ClientClosed = true;
        }

        pair.Close();
    }

    private sealed class Pair(Socket client, Socket upstream)
    {
        private int _closed;

        public volatile bool Silent;
        public volatile bool ClientClosed;
        public Task Pumps = Task.CompletedTask;

        public bool IsClosed => Volatile.Read(ref _closed) != 0;

        public void Close()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                client.Dispose();
                upstream.Dispose();
            }
        }
    }
}
