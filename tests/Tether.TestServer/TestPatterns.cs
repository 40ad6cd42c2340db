namespace Tether.TestServer;

/// <summary>
/// The deterministic byte pattern served by <c>/bytes/{n}</c> and used by the hostile servers for bodies:
/// byte <c>i</c> is <c>(byte)(i % 251)</c>. 251 is prime, so the pattern never lines up with buffer sizes.
/// </summary>
/// <remarks>Thread-safe: every member is pure.</remarks>
public static class TestPatterns
{
    /// <summary>The length of one period of the pattern.</summary>
    public const int Period = 251;

    /// <summary>Returns the pattern byte at a position.</summary>
    /// <param name="index">The zero-based position in the body.</param>
    /// <returns><c>(byte)(index % 251)</c>.</returns>
    public static byte ByteAt(long index) => (byte)(index % Period);

    /// <summary>Fills a span with the pattern, starting at a body position.</summary>
    /// <param name="destination">The span to fill.</param>
    /// <param name="offset">The body position of <paramref name="destination"/>[0].</param>
    public static void Fill(Span<byte> destination, long offset = 0)
    {
        var value = (int)(offset % Period);
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (byte)value;
            value = value == Period - 1 ? 0 : value + 1;
        }
    }

    /// <summary>Creates a new array holding the first <paramref name="length"/> pattern bytes.</summary>
    /// <param name="length">The number of bytes.</param>
    /// <returns>The pattern bytes.</returns>
    public static byte[] Create(int length)
    {
        var bytes = new byte[length];
        Fill(bytes);
        return bytes;
    }

    /// <summary>Returns whether <paramref name="data"/> matches the pattern starting at body position <paramref name="offset"/>.</summary>
    /// <param name="data">The bytes received.</param>
    /// <param name="offset">The body position of <paramref name="data"/>[0].</param>
    /// <returns><see langword="true"/> when every byte matches.</returns>
    public static bool Matches(ReadOnlySpan<byte> data, long offset = 0)
    {
        for (var i = 0; i < data.Length; i++)
        {
            if (data[i] != ByteAt(offset + i))
            {
                return false;
            }
        }

        return true;
    }
}
