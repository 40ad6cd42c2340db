namespace Tether;

/// <summary>HTTP/1.1 framing rules that <see cref="SocketsHttpHandler"/> does not enforce but Tornado does: a
/// response that breaks them fails with a protocol error and its connection is discarded, never reused.</summary>
internal static class ProtocolChecks
{
    /// <param name="message">The response head.</param>
    /// <param name="op">Its fetch.</param>
    /// <param name="hasLengths">Whether the response has Content-Length values.</param>
    /// <param name="lengths">Its Content-Length values (from <c>message.Content.Headers.NonValidated</c>).</param>
    public static void Validate(HttpResponseMessage message, FetchOperation op, bool hasLengths,
        System.Net.Http.Headers.HeaderStringValues lengths)
    {
        if (ForbidsReuse(message))
        {
            op.DiscardOnComplete = true;
        }

        // Unequal Content-Length values (RFC 9112 §6.3): the body length is unknowable.
        if (hasLengths
            && !IsSingleValue(lengths)
            && lengths.SelectMany(static v => v.Split(',')).Select(static v => v.Trim()).Distinct().Count() > 1)
        {
            op.DiscardOnComplete = true;
            throw new FetchException(FetchException.NoResponse, FetchErrorKind.Protocol,
                $"Protocol error ({Where(op)}): conflicting Content-Length values {string.Join(",", lengths)}; " +
                "the connection was discarded.", op.Request);
        }

        // 204 has no body by definition (RFC 9110 §15.3.5); a non-zero Content-Length means the framing is unknown.
        if ((int)message.StatusCode == 204 && hasLengths && lengths.Any(static v => v.Trim() != "0"))
        {
            op.DiscardOnComplete = true;
            throw new FetchException(FetchException.NoResponse, FetchErrorKind.Protocol,
                $"Protocol error ({Where(op)}): a 204 No Content response announced Content-Length: {string.Join(",", lengths)}; " +
                "the connection was discarded.", op.Request);
        }
    }

    /// <summary>One value without a comma: nothing to compare (the usual case, checked without allocating).</summary>
    private static bool IsSingleValue(System.Net.Http.Headers.HeaderStringValues values)
    {
        if (values.Count != 1)
        {
            return false;
        }

        foreach (var value in values)
        {
            return !value.Contains(',', StringComparison.Ordinal);
        }

        return true;
    }

    /// <summary>Whether the connection must not be reused after this response: HTTP/1.0 without keep-alive.</summary>
    public static bool ForbidsReuse(HttpResponseMessage message) =>
        message.Version == System.Net.HttpVersion.Version10
        && !(message.Headers.Connection.Any(static c => c.Equals("keep-alive", StringComparison.OrdinalIgnoreCase)));

    private static string Where(FetchOperation op) =>
        Uri.TryCreate(op.CurrentUrl, UriKind.Absolute, out var uri) ? $"{uri.Host}:{uri.Port}" : "?";
}
