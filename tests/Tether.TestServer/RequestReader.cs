using System.Buffers;
using System.Globalization;
using System.Text;

namespace Tether.TestServer;

/// <summary>
/// A small buffered reader over a connection's stream for the raw-socket servers: request heads (bounded
/// at 64 KiB), request bodies (Content-Length or chunked) and plain bytes, keeping what it read ahead.
/// </summary>
/// <remarks>Not thread-safe: one reader per connection, used by that connection's task only.</remarks>
internal sealed class RequestReader
{
    public const int MaxHeadBytes = 64 * 1024;
    private const int MaxLineBytes = 8 * 1024;

    private static readonly byte[] s_endOfHead = "\r\n\r\n"u8.ToArray();

    private readonly Stream _stream;
    private readonly byte[] _buffer = new byte[MaxHeadBytes + 4096];
    private int _start;
    private int _end;

    public RequestReader(Stream stream) => _stream = stream;

    /// <summary>Reads up to and including the blank line; null on a clean EOF before any byte.</summary>
    /// <exception cref="InvalidDataException">The head is over 64 KiB or the peer closed in the middle of it.</exception>
    public async ValueTask<RequestHead?> ReadHeadAsync(CancellationToken cancellationToken)
    {
        var searched = 0;
        while (true)
        {
            var found = _buffer.AsSpan(_start + searched, _end - _start - searched).IndexOf(s_endOfHead);
            if (found >= 0)
            {
                var length = searched + found + s_endOfHead.Length;
                var head = RequestHead.Parse(_buffer.AsSpan(_start, length));
                _start += length;
                return head;
            }

            searched = Math.Max(0, _end - _start - (s_endOfHead.Length - 1));
            if (_end - _start >= MaxHeadBytes)
            {
                throw new InvalidDataException($"Request head is over {MaxHeadBytes} bytes.");
            }

            if (!await FillAsync(cancellationToken).ConfigureAwait(false))
            {
                return _end == _start ? null : throw new InvalidDataException("The peer closed in the middle of a request head.");
            }
        }
    }

    /// <summary>Reads into <paramref name="destination"/> from the read-ahead first, then the stream; 0 at EOF.</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (_end > _start)
        {
            var count = Math.Min(destination.Length, _end - _start);
            _buffer.AsMemory(_start, count).CopyTo(destination);
            _start += count;
            return count;
        }

        return await _stream.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the request body the head announces and returns its decoded length. When given, the sink
    /// receives the body bytes exactly as they were on the wire (chunk framing included).
    /// </summary>
    public async ValueTask<long> ReadBodyAsync(RequestHead head, Func<ReadOnlyMemory<byte>, ValueTask>? sink, CancellationToken cancellationToken)
    {
        if (head.IsChunked)
        {
            return await ReadChunkedAsync(sink, cancellationToken).ConfigureAwait(false);
        }

        var length = head.ContentLength ?? 0;
        await CopyExactlyAsync(length, sink, cancellationToken).ConfigureAwait(false);
        return length;
    }

    /// <summary>Reads and discards until the peer closes (or the token fires).</summary>
    public async Task DrainUntilEofAsync(CancellationToken cancellationToken)
    {
        _start = _end = 0;
        var scratch = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            while (await _stream.ReadAsync(scratch, cancellationToken).ConfigureAwait(false) > 0)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private async ValueTask<long> ReadChunkedAsync(Func<ReadOnlyMemory<byte>, ValueTask>? sink, CancellationToken cancellationToken)
    {
        long total = 0;
        while (true)
        {
            var line = await ReadLineAsync(sink, cancellationToken).ConfigureAwait(false);
            var sizeText = line.Split(';')[0].Trim();
            if (!long.TryParse(sizeText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
            {
                throw new InvalidDataException($"Invalid chunk size '{sizeText}'.");
            }

            if (size == 0)
            {
                // Trailers, up to the blank line.
                while ((await ReadLineAsync(sink, cancellationToken).ConfigureAwait(false)).Length > 0)
                {
                }

                return total;
            }

            await CopyExactlyAsync(size, sink, cancellationToken).ConfigureAwait(false);
            total += size;
            if ((await ReadLineAsync(sink, cancellationToken).ConfigureAwait(false)).Length != 0)
            {
                throw new InvalidDataException("Chunk data is not followed by CRLF.");
            }
        }
    }

    private async ValueTask<string> ReadLineAsync(Func<ReadOnlyMemory<byte>, ValueTask>? sink, CancellationToken cancellationToken)
    {
        while (true)
        {
            var newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var raw = _buffer.AsMemory(_start, newline + 1);
                _start += newline + 1;
                if (sink is not null)
                {
                    await sink(raw).ConfigureAwait(false);
                }

                return Encoding.Latin1.GetString(raw.Span).TrimEnd('\r', '\n');
            }

            if (_end - _start >= MaxLineBytes)
            {
                throw new InvalidDataException($"Line is over {MaxLineBytes} bytes.");
            }

            if (!await FillAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new EndOfStreamException("The peer closed in the middle of a chunked body.");
            }
        }
    }

    private async ValueTask CopyExactlyAsync(long length, Func<ReadOnlyMemory<byte>, ValueTask>? sink, CancellationToken cancellationToken)
    {
        while (length > 0)
        {
            if (_end == _start && !await FillAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new EndOfStreamException("The peer closed in the middle of a body.");
            }

            var count = (int)Math.Min(length, _end - _start);
            if (sink is not null)
            {
                await sink(_buffer.AsMemory(_start, count)).ConfigureAwait(false);
            }

            _start += count;
            length -= count;
        }
    }

    /// <summary>Reads more bytes into the buffer (compacting it first); false at EOF.</summary>
    private async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
        _end += read;
        return read > 0;
    }
}
