using System.Text;

namespace Tether;

/// <summary>A request body: bytes, UTF-8 text, or a stream. Implicitly converts from <see cref="string"/> and
/// <see cref="byte"/>[].</summary>
public sealed class FetchBody
{
    private FetchBody(ReadOnlyMemory<byte>? bytes, Stream? stream)
    {
        Bytes = bytes;
        Stream = stream;
    }

    /// <summary>The body bytes, when the body is not a stream.</summary>
    public ReadOnlyMemory<byte>? Bytes { get; }

    /// <summary>The body stream, when the body is a stream (sent as is; chunked unless a Content-Length header is set).</summary>
    public Stream? Stream { get; }

    /// <summary>A UTF-8 body; Content-Length counts bytes, not characters.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The body.</returns>
    public static FetchBody FromString(string text) => new(Encoding.UTF8.GetBytes(text), null);

    /// <summary>A byte body, sent unchanged.</summary>
    /// <param name="bytes">The bytes.</param>
    /// <returns>The body.</returns>
    public static FetchBody FromBytes(ReadOnlyMemory<byte> bytes) => new(bytes, null);

    /// <summary>A stream body, sent unchanged. The caller keeps ownership of the stream.</summary>
    /// <param name="stream">A readable stream.</param>
    /// <returns>The body.</returns>
    public static FetchBody FromStream(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return new(null, stream);
    }

    /// <summary>Converts UTF-8 text to a body.</summary>
    /// <param name="text">The text.</param>
    public static implicit operator FetchBody(string text) => FromString(text);

    /// <summary>Converts bytes to a body.</summary>
    /// <param name="bytes">The bytes.</param>
    public static implicit operator FetchBody(byte[] bytes) => FromBytes(bytes);
}
