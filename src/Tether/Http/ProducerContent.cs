using System.Net;

namespace Tether;

/// <summary>Request content written by a <see cref="FetchRequest.BodyProducer"/> straight to the connection, so each
/// write waits for the socket (backpressure). No length: sent chunked unless a Content-Length header is set.</summary>
/// <remarks>Error classification (item 12): a failure of the connection while the producer writes (an
/// <see cref="IOException"/> from the stream it was given) is a transport error and passes through unchanged, so it is
/// reported as ConnectionReset / RequestWrite like any other write failure; anything else the producer throws is
/// its own failure (<see cref="FetchErrorKind.Callback"/>).</remarks>
internal sealed class ProducerContent : HttpContent
{
    private readonly Func<Stream, CancellationToken, Task> _producer;

    public ProducerContent(Func<Stream, CancellationToken, Task> producer) => _producer = producer;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var watched = new WriteWatchStream(stream);
        try
        {
            await _producer(watched, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (watched.Failure is not null && Contains(ex, watched.Failure))
        {
            // The connection failed under the producer's write: a transport error, not the producer's.
            throw;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new CallbackException("BodyProducer", ex);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    private static bool Contains(Exception? ex, Exception failure)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ReferenceEquals(ex, failure))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The connection's request stream, remembering the exception a write or flush to it threw.</summary>
    private sealed class WriteWatchStream(Stream inner) : Stream
    {
        public Exception? Failure { get; private set; }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                Failure = ex;
                throw;
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count)
        {
            try
            {
                inner.Write(buffer, offset, count);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                Failure = ex;
                throw;
            }
        }

        public override async Task FlushAsync(CancellationToken cancellationToken)
        {
            try
            {
                await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                Failure = ex;
                throw;
            }
        }

        public override void Flush()
        {
            try
            {
                inner.Flush();
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                Failure = ex;
                throw;
            }
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
