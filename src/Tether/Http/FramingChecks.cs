using System.Globalization;
using System.Net;

namespace Tether;

/// <summary>
/// HTTP-07: a response that declares its length in a way this client cannot use must never make the fetch wait for
/// the server to close. SocketsHttpHandler falls back to "read until close" when it cannot parse a
/// <c>Content-Length</c> (<c>abc</c>, <c>-1</c>, <c>+5</c>; and <c>5, 5</c>, which is used as 5) or when <c>Transfer-Encoding</c> names a
/// coding other than a final <c>chunked</c>; RFC 9112 §6.3 says a client must treat an invalid Content-Length as an
/// unrecoverable error and may not guess the length of a transfer coding it cannot decode. So each of these is a 599
/// <see cref="FetchErrorKind.Protocol"/> at once, and the connection is discarded (the fetch's failure path); a list
/// of equal values is read as that one length (<see cref="DeclaredLengthContent"/>).
/// Responses that have no body by definition (HEAD, 1xx, 204, 304) are not checked; over HTTP/2 and HTTP/3 framing is
/// the protocol's own and these headers carry no framing.
/// </summary>
internal static class FramingChecks
{
    /// <param name="message">The response head.</param>
    /// <param name="op">Its fetch.</param>
    /// <param name="hasLengths">Whether the response has Content-Length values.</param>
    /// <param name="lengths">Its Content-Length values (from <c>message.Content.Headers.NonValidated</c>).</param>
    public static void Validate(HttpResponseMessage message, FetchOperation op, bool hasLengths,
        System.Net.Http.Headers.HeaderStringValues lengths)
    {
        var code = (int)message.StatusCode;
        if (message.Version.Major != 1 || code is < 200 or 204 || ProtocolChecks.IsBodiless(message))
        {
            return;
        }

        if (message.Headers.NonValidated.TryGetValues("Transfer-Encoding", out var codings))
        {
            string? last = null;
            foreach (var value in codings)
            {
                foreach (var part in value.Split(','))
                {
                    if (part.Trim().Length > 0)
                    {
                        last = part.Trim();
                    }
                }
            }

            if (!string.Equals(last, "chunked", StringComparison.OrdinalIgnoreCase))
            {
                throw Fail(op, $"Transfer-Encoding: {string.Join(", ", codings)} does not end in chunked, so the body " +
                    "length is unknowable (RFC 9112 §6.3 would read until the server closes)");
            }

            return; // chunked framing: a Content-Length beside it is refused by the body reader (smuggling)
        }

        if (hasLengths)
        {
            if (IsOneNumber(lengths))
            {
                return; // the usual case, checked without allocating: one value, only digits
            }

            foreach (var value in lengths)
            {
                foreach (var part in value.Split(','))
                {
                    var digits = part.Trim();
                    if (digits.Length == 0 || digits.Length > 18 || digits.AsSpan().IndexOfAnyExceptInRange('0', '9') >= 0)
                    {
                        throw Fail(op, $"Content-Length: {string.Join(", ", lengths)} is not a number of bytes (RFC 9112 §6.3)");
                    }
                }
            }

            if (message.Content.Headers.ContentLength is null)
            {
                // A list of equal values ("5, 5", or two equal lines that the handler could not merge): RFC 9110 §8.6
                // lets a recipient use the one value (PROTOCOL-20), but the handler falls back to reading until close.
                // Read exactly that many bytes instead, and close the connection afterwards (the handler's idea of
                // where the message ends is not ours, so it must not be reused). Unequal values never get here
                // (ProtocolChecks).
                var length = long.Parse(lengths.SelectMany(static v => v.Split(',')).First().Trim(), CultureInfo.InvariantCulture);
                message.Content = new DeclaredLengthContent(message.Content, length);
                op.DiscardOnComplete = true;
            }
        }
    }

    /// <summary>One Content-Length value of 1 to 18 digits and nothing else (no list, no sign, no space).</summary>
    private static bool IsOneNumber(System.Net.Http.Headers.HeaderStringValues values)
    {
        if (values.Count != 1)
        {
            return false;
        }

        foreach (var value in values)
        {
            return value.Length is > 0 and <= 18 && value.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0;
        }

        return false;
    }

    private static FetchException Fail(FetchOperation op, string what)
    {
        var where = Uri.TryCreate(op.CurrentUrl, UriKind.Absolute, out var uri) ? $"{uri.Host}:{uri.Port}" : "?";
        return new FetchException(FetchException.NoResponse, FetchErrorKind.Protocol,
            $"Protocol error ({where}): {what}; the connection was discarded. Fix the server's framing headers.", op.Request);
    }
}

/// <summary>A response body read to its declared length although the handler would read it until the connection
/// closes (see <see cref="FramingChecks"/>): at most <c>length</c> bytes, and fewer is a truncated body.</summary>
internal sealed class DeclaredLengthContent : HttpContent
{
    private readonly HttpContent _inner;
    private readonly long _length;

    public DeclaredLengthContent(HttpContent inner, long length)
    {
        _inner = inner;
        _length = length;
        foreach (var (name, values) in inner.Headers.NonValidated)
        {
            if (!name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                Headers.TryAddWithoutValidation(name, values);
            }
        }

        Headers.ContentLength = length;
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var body = CreateContentReadStream(cancellationToken);
        await using (body.ConfigureAwait(false))
        {
            await body.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) =>
        new LimitedStream(_inner.ReadAsStream(cancellationToken), _length);

    protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult(CreateContentReadStream(CancellationToken.None));

    protected override bool TryComputeLength(out long length)
    {
        length = _length;
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private sealed class LimitedStream(Stream inner, long length) : ReadOnlyStream
    {
        private long _left = length;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_left == 0 || buffer.Length == 0)
            {
                return 0;
            }

            var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new HttpIOException(HttpRequestError.ResponseEnded,
                    $"The connection closed {_left} bytes before the end of the declared Content-Length.");
            }

            _left -= n;
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
