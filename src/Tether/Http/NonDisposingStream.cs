namespace Tether;

/// <summary>Lets a caller-owned body stream be sent without the handler disposing it. A read of the caller's stream that
/// fails is thrown as a <see cref="CallbackException"/> ("Body stream"), so the fetch fails with
/// <see cref="FetchErrorKind.Callback"/> and the stream's exception inside, as a throwing body producer does: the
/// handler wraps it in an <see cref="HttpRequestException"/> ("Error while copying content to a stream") with an
/// <see cref="IOException"/> inside, which was reported as <see cref="FetchErrorKind.RequestWrite"/>, "the connection
/// broke", although the connection was fine (twitchax/AspNetCore.Proxy#20: which side failed cannot be told).</summary>
internal sealed class NonDisposingStream(Stream inner) : Stream
{
    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => false;
    public override long Length => inner.Length;

    public override long Position
    {
        get => inner.Position;
        set => inner.Position = value;
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        try
        {
            return inner.Read(buffer, offset, count);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new CallbackException("Body stream", ex);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new CallbackException("Body stream", ex);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
