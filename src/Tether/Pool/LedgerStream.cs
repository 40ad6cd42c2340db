using System.Net.Sockets;

namespace Tether;

/// <summary>
/// The stream <see cref="ConnectionPool"/> hands to <c>SocketsHttpHandler</c> from its connect callback. It owns the
/// socket, counts bytes and last activity for the ledger where the kernel does not (<see cref="TcpInfo"/>), maps a
/// read or write failed by the handshake deadline to a connect timeout, and removes the ledger entry when the handler
/// disposes it.
/// It attributes nothing: which request a write or read belongs to is the handler's business (CORE-03).
/// </summary>
internal sealed class LedgerStream : Stream
{
    private readonly NetworkStream _inner;
    private readonly TrackedConnection _connection;
    private readonly TimeSpan _connectTimeout;

    // The kernel counts this socket's bytes (TcpInfo): once the setup is done, reads and writes go straight to the
    // socket's stream, with no wrapper state machine and no counting (issue 16: cost per fetch).
    private readonly bool _kernelCounts;

    public LedgerStream(Socket socket, TrackedConnection connection, TimeSpan connectTimeout)
    {
        _inner = new NetworkStream(socket, ownsSocket: true);
        _connection = connection;
        _connectTimeout = connectTimeout;
        _kernelCounts = connection.KernelCounts;
    }

    /// <summary>Reads and writes need nothing from this wrapper: the kernel counts, and no handshake deadline can
    /// fire any more (it is disarmed when the setup completes).</summary>
    private bool PassThrough => _kernelCounts && _connection.SetupDone && !_connection.HandshakeTimedOut;

    /// <summary>A read or write that failed because the attempt's own deadline aborted the socket during the TLS
    /// handshake surfaces as a connect timeout (the handler wraps it; <see cref="FetchErrors"/> finds it).</summary>
    private Exception? HandshakeTimeout(Exception ex) => _connection.HandshakeTimedOut
        ? new ConnectTimeoutException(_connectTimeout, _connection.HostKey,
            new TimeoutException($"The TLS handshake did not complete within ConnectTimeout = {_connectTimeout}.", ex), duringTls: true)
        : null;

    public TrackedConnection Connection => _connection;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    private void OnRead(int bytes)
    {
        if (!_kernelCounts)
        {
            _connection.OnRead(bytes);
        }
    }

    private void OnWrite(int bytes)
    {
        if (!_kernelCounts)
        {
            _connection.OnWrite(bytes);
        }
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = _inner.Read(buffer, offset, count);
        OnRead(n);
        return n;
    }

    public override int Read(Span<byte> buffer)
    {
        var n = _inner.Read(buffer);
        OnRead(n);
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (PassThrough)
        {
            return _inner.ReadAsync(buffer, cancellationToken);
        }

        // Data already buffered in the socket: no state machine at all (the common case for a response body).
        ValueTask<int> pending;
        try
        {
            pending = _inner.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception ex) when (HandshakeTimeout(ex) is { } timeout)
        {
            return ValueTask.FromException<int>(timeout);
        }

        if (pending.IsCompletedSuccessfully)
        {
            var n = pending.Result;
            OnRead(n);
            return new ValueTask<int>(n);
        }

        return AwaitReadAsync(pending);
    }

    // Pooled state machine: a pending socket read (the usual case: waiting for the response) allocates no box.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> AwaitReadAsync(ValueTask<int> pending)
    {
        int n;
        try
        {
            n = await pending.ConfigureAwait(false);
        }
        catch (Exception ex) when (HandshakeTimeout(ex) is { } timeout)
        {
            throw timeout;
        }

        OnRead(n);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        OnWrite(count);
        _inner.Write(buffer, offset, count);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        OnWrite(buffer.Length);
        _inner.Write(buffer);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (PassThrough)
        {
            return _inner.WriteAsync(buffer, cancellationToken);
        }

        OnWrite(buffer.Length);
        ValueTask write;
        try
        {
            write = _inner.WriteAsync(buffer, cancellationToken);
        }
        catch (Exception ex) when (HandshakeTimeout(ex) is { } timeout)
        {
            // The handshake deadline aborted the socket before the handler wrote its ClientHello (a deadline with
            // almost nothing left; found on a fake clock, issue 13): a connect timeout, not a TLS failure.
            throw timeout;
        }

        // A completed write (the usual case) is handed back as it is (the caller consumes it, as before); a pending one
        // is mapped the same way if the deadline aborts it.
        return write.IsCompletedSuccessfully ? write : AwaitWriteAsync(write);
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AwaitWriteAsync(ValueTask write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception ex) when (HandshakeTimeout(ex) is { } timeout)
        {
            throw timeout;
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() => _inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _connection.BeginClose();
            _inner.Dispose();
            _connection.OnSocketClosed();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
