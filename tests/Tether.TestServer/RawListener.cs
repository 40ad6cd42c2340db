using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Tether.TestServer;

/// <summary>
/// The raw-socket plumbing shared by <see cref="HostileServer"/>, <see cref="TlsHostileServer"/> and
/// <see cref="ProxyServer"/>: a listener on <c>127.0.0.1:0</c>, one accept loop, one task per accepted
/// connection running the owner's handler, connection counters, and a teardown that closes everything.
/// </summary>
/// <remarks>
/// The handler gets the connection's id (0, 1, 2… in accept order), the accepted socket and a token that is
/// cancelled on dispose. When the handler ends, the listener closes the socket and decrements
/// <see cref="OpenConnections"/>; the handler must not dispose the accepted socket itself. Exceptions the
/// handler lets escape end only that connection (and are ignored at teardown). <see cref="DisposeAsync"/> is
/// idempotent: it cancels the token, closes the listener, awaits the accept loop, closes every live socket
/// (accepted ones and companions added with <see cref="AddCompanion"/>) and awaits every connection task.
/// </remarks>
internal sealed class RawListener : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<long, Socket, CancellationToken, Task> _handler;
    private readonly Action<long>? _onAccepted;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<long, Socket> _sockets = new();
    private readonly ConcurrentDictionary<long, Task> _tasks = new();
    private readonly Task _acceptLoop;
    private long _accepted;
    private int _open;
    private int _disposed;

    /// <summary>Binds to <c>127.0.0.1:0</c>, listens and (unless <paramref name="accept"/> is false) starts accepting.</summary>
    /// <param name="handler">Serves one connection: its id, the accepted socket, and the stopping token.</param>
    /// <param name="backlog">The listen backlog.</param>
    /// <param name="accept">
    /// <see langword="false"/> to listen without ever accepting (connections pile up in the backlog and are never served).
    /// </param>
    /// <param name="onAccepted">
    /// Called on the accept loop with each new connection's id, in accept order, before its handler starts.
    /// </param>
    public RawListener(Func<long, Socket, CancellationToken, Task> handler, int backlog = 128, bool accept = true, Action<long>? onAccepted = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handler = handler;
        _onAccepted = onAccepted;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(backlog);
        }
        catch
        {
            _listener.Dispose();
            _stopping.Dispose();
            throw;
        }

        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = accept ? AcceptLoopAsync() : Task.CompletedTask;
    }

    /// <summary>The port the listener is bound to (127.0.0.1).</summary>
    public int Port { get; }

    /// <summary>TCP connections accepted since start.</summary>
    public long AcceptedConnections => Interlocked.Read(ref _accepted);

    /// <summary>Accepted connections whose handler has not finished yet (their socket is still open).</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    /// <summary>
    /// Registers a second socket belonging to connection <paramref name="id"/> (e.g. a proxy's upstream) so
    /// <see cref="DisposeAsync"/> closes it too. The handler still owns it: it disposes it and calls
    /// <see cref="RemoveCompanion"/> when done.
    /// </summary>
    /// <param name="id">The connection's id, as passed to the handler.</param>
    /// <param name="socket">The socket to close on dispose.</param>
    public void AddCompanion(long id, Socket socket) => _sockets[CompanionKey(id)] = socket;

    /// <summary>Forgets the companion socket of connection <paramref name="id"/> (it does not close it).</summary>
    /// <param name="id">The connection's id, as passed to the handler.</param>
    public void RemoveCompanion(long id) => _sockets.TryRemove(CompanionKey(id), out _);

    /// <summary>Cancels the token, closes the listener and every socket, and awaits every task. Idempotent.</summary>
    /// <returns>A task that completes when everything is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await IgnoreErrorsAsync(_acceptLoop).ConfigureAwait(false);
        foreach (var socket in _sockets.Values)
        {
            socket.Dispose();
        }

        foreach (var task in _tasks.Values)
        {
            await IgnoreErrorsAsync(task).ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    // Accepted sockets use keys 0, 1, 2…; companions the negative keys -1, -2, -3….
    private static long CompanionKey(long id) => -1 - id;

    private static async Task IgnoreErrorsAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Teardown: the task's failure was the point of the test or is a consequence of closing.
        }
    }

    private async Task AcceptLoopAsync()
    {
        var token = _stopping.Token;
        long nextId = 0;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var id = nextId++;
            Interlocked.Increment(ref _accepted);
            Interlocked.Increment(ref _open);
            _onAccepted?.Invoke(id);
            _sockets[id] = socket;
            var task = Task.Run(() => RunConnectionAsync(id, socket, token), CancellationToken.None);
            _tasks[id] = task;
            _ = task.ContinueWith(_ => _tasks.TryRemove(id, out var _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            if (Volatile.Read(ref _disposed) != 0)
            {
                socket.Dispose();
            }
        }
    }

    private async Task RunConnectionAsync(long id, Socket socket, CancellationToken token)
    {
        try
        {
            await _handler(id, socket, token).ConfigureAwait(false);
        }
        finally
        {
            _sockets.TryRemove(id, out _);
            socket.Dispose();
            Interlocked.Decrement(ref _open);
        }
    }
}
