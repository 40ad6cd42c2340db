namespace Tether;

/// <summary>
/// HTTP-07: a response that declares its length in a way this client cannot use must never make the fetch wait for
/// the server to close. SocketsHttpHandler falls back to "read until close" when it cannot parse a
/// <c>Content-Length</c> (<c>abc</c>, <c>-1</c>, <c>+5</c>, <c>5, 5</c>) or when <c>Transfer-Encoding</c> names a
/// coding other than a final <c>chunked</c>; RFC 9112 §6.3 says a client must treat an invalid Content-Length as an
/// unrecoverable error and may not guess the length of a transfer coding it cannot decode. So each of these is a 599
/// <see cref="FetchErrorKind.Protocol"/> at once, and the connection is discarded (the fetch's failure path).
/// Responses that have no body by definition (HEAD, 1xx, 204, 304) are not checked; over HTTP/2 and HTTP/3 framing is
/// the protocol's own and these headers carry no framing.
/// </summary>
internal static class FramingChecks
{
    public static void Validate(HttpResponseMessage message, FetchOperation op)
    {
        var code = (int)message.StatusCode;
        if (message.Version.Major != 1 || code is < 200 or 204 or 304 || message.RequestMessage?.Method == HttpMethod.Head)
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

        if (message.Content.Headers.NonValidated.TryGetValues("Content-Length", out var lengths))
        {
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
                // A list of equal values (RFC 9110 §8.6 allows a recipient to accept it, but the handler does not
                // use it and would read until close).
                throw Fail(op, $"Content-Length: {string.Join(", ", lengths)} is a list this client does not use " +
                    "(send one value)");
            }
        }
    }

    private static FetchException Fail(FetchOperation op, string what)
    {
        var where = Uri.TryCreate(op.CurrentUrl, UriKind.Absolute, out var uri) ? $"{uri.Host}:{uri.Port}" : "?";
        return new FetchException(FetchException.NoResponse, FetchErrorKind.Protocol,
            $"Protocol error ({where}): {what}; the connection was discarded. Fix the server's framing headers.", op.Request);
    }
}
