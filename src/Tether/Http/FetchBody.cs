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

/// <summary>
/// Sends a request body again on a 307/308 redirect or a Digest 401 retry, or says it cannot (HTTP-02; the rule is in
/// docs/client-guide.md "Redirects, replay, credentials and deadlines"): bytes and strings always; a seekable stream
/// from the position it had when the fetch started; a <see cref="FetchRequest.BodyProducer"/> by calling it again; a
/// non-seekable stream never (its bytes are gone), so the 3xx or 401 is returned as the response, as Go's
/// <c>net/http</c> does when a body has no <c>GetBody</c>.
/// </summary>
internal readonly struct BodyReplay
{
    private readonly Stream? _stream;
    private readonly long _origin;

    private BodyReplay(Stream? stream, long origin)
    {
        _stream = stream;
        _origin = origin;
    }

    /// <summary>Records a seekable stream's position before anything reads it.</summary>
    public static BodyReplay Capture(FetchBody? body) =>
        body?.Stream is { } stream ? new BodyReplay(stream, stream.CanSeek ? stream.Position : -1) : default;

    /// <summary>Whether the body (if any) can be sent again unchanged.</summary>
    public bool CanReplay => _stream is null || _origin >= 0;

    /// <summary>Puts a seekable stream back at its original position (a no-op for other bodies).</summary>
    public void Rewind()
    {
        if (_stream is not null && _origin >= 0 && _stream.Position != _origin)
        {
            _stream.Position = _origin;
        }
    }
}
