using System.Buffers;

namespace Tether;

/// <summary>Reading and dropping what is left of a body so that its connection can be reused, as
/// <see cref="SocketsHttpHandler"/> does for a response disposed before its end (its <c>MaxResponseDrainSize</c> and
/// <c>ResponseDrainTimeout</c>). Every drain in Tether uses these limits: a discarded redirect or digest-challenge
/// body (HTTP-05, in <see cref="AsyncHttpClient"/> and in its <see cref="HttpClient"/> bridge), a streamed response
/// disposed early (<see cref="ResponseBody.DisposeAsync"/>) and a bridged response disposed early. Each caller sets up
/// its own token (which deadline applies, what an abort does) and decides what a failed drain means.</summary>
internal static class BodyDrain
{
    /// <summary>The most a drain reads, 64 KiB: bodies left over or in between are small, so a drain stays cheap; past
    /// it the connection is closed instead. SocketsHttpHandler's own limit is 1 MiB.</summary>
    public const int Limit = 64 * 1024;

    /// <summary>The longest a drain waits: SocketsHttpHandler's <c>ResponseDrainTimeout</c> default, 2 s.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    /// <summary>Reads <paramref name="stream"/> and drops the bytes until its end, or until more than
    /// <paramref name="limit"/> bytes were read. Returns how many were read and whether the end came first; throws
    /// whatever a read throws (cancellation through <paramref name="cancellationToken"/> included).</summary>
    public static async Task<(long Drained, bool Ended)> ReadToEndAsync(Stream stream, long limit, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            long drained = 0;
            while (drained <= limit)
            {
                var n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    return (drained, true);
                }

                drained += n;
            }

            return (drained, false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
