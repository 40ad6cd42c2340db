using System.Net.Sockets;

namespace Tether;

/// <summary>
/// The stream <see cref="ConnectionPool"/> hands to <c>SocketsHttpHandler</c> from its connect callback. It owns the
/// socket, ties each request the handler writes to the <see cref="FetchOperation"/> that sent it (through the
/// ambient <see cref="FetchOperation.Current"/>), and removes the ledger entry when the handler disposes it.
/// </summary>
internal sealed class LedgerStream : Stream
{
    private readonly NetworkStream _inner;
    private readonly TrackedConnection _connection;

    public LedgerStream(Socket socket, TrackedConnection connection)
    {
        _inner = new NetworkStream(socket, ownsSocket: true);
        _connection = connection;
    }

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

    private void OnWrite()
    {
        // The handler writes a request from inside the fetch's SendAsync flow, so the ambient operation is the one
        // whose request this is. Writes of the same request (headers, body chunks) find it already attached.
        if (FetchOperation.Current is { } operation && _connection.Lease != operation)
        {
            if (!_connection.Attach(operation))
            {
                operation.MarkWroteOnClosedConnection();
            }
        }
    }

    private void OnRead(int bytes)
    {
        if (bytes > 0)
        {
            _connection.Lease?.OnFirstByte();
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

    // Pooled state machine: a pending socket read (the usual case: waiting for the response) allocates no box.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        OnRead(n);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        OnWrite();
        _inner.Write(buffer, offset, count);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        OnWrite();
        _inner.Write(buffer);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        OnWrite();
        return _inner.WriteAsync(buffer, cancellationToken);
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
