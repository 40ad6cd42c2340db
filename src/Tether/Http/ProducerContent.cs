using System.Net;

namespace Tether;

/// <summary>Request content written by a <see cref="FetchRequest.BodyProducer"/> straight to the connection, so each
/// write waits for the socket (backpressure). No length: sent chunked unless a Content-Length header is set.</summary>
/// <remarks>Error classification (item 12): a failure of the connection while the producer writes (an
/// <see cref="IOException"/> from the stream it was given) is a transport error, reported as
/// <see cref="FetchErrorKind.RequestWrite"/> like any other failure to write a request body
/// (<see cref="RequestBodyWriteException"/>); anything else the producer throws is its own failure
/// (<see cref="FetchErrorKind.Callback"/>).</remarks>
internal sealed class ProducerContent : WatchedContent
{
    private readonly Func<Stream, CancellationToken, Task> _producer;

    public ProducerContent(Func<Stream, CancellationToken, Task> producer) => _producer = producer;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var watched = new WriteWatchStream(stream, this);
        try
        {
            await _producer(watched, cancellationToken).ConfigureAwait(false);
            MarkSent();
        }
        catch (Exception ex) when (watched.Caused(ex))
        {
            // The connection failed under the producer's write: a transport error, not the producer's.
            throw new RequestBodyWriteException(watched.Failure!);
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
}
