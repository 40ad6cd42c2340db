using System.Net;

namespace Tether;

/// <summary>Request content written by a <see cref="FetchRequest.BodyProducer"/> straight to the connection, so each
/// write waits for the socket (backpressure). No length: sent chunked unless a Content-Length header is set.</summary>
internal sealed class ProducerContent : HttpContent
{
    private readonly Func<Stream, CancellationToken, Task> _producer;

    public ProducerContent(Func<Stream, CancellationToken, Task> producer) => _producer = producer;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        try
        {
            await _producer(stream, cancellationToken).ConfigureAwait(false);
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
