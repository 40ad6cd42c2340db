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

        // A response to HEAD and a 304 end at their header block whatever their framing headers say (RFC 9112 §6.3,
        // rule 1): their Content-Length describes the representation, not this message, so nothing here applies (Tornado
        // skips its body checks for them too; a plain HttpClient reads no body and reuses the connection).
        if (IsBodiless(message))
        {
            return;
        }

        // Unequal Content-Length values (RFC 9112 §6.3): the body length is unknowable. Values are compared as numbers
        // ("5, 05" is one length, as FramingChecks reads it); what is not a number is FramingChecks' error.
        if (hasLengths
            && !IsSingleValue(lengths)
            && lengths.SelectMany(static v => v.Split(',')).Select(Normalized).Distinct().Count() > 1)
        {
            op.DiscardOnComplete = true;
            throw new FetchException(FetchException.NoResponse, FetchErrorKind.Protocol,
                $"Protocol error ({Where(op)}): conflicting Content-Length values {string.Join(",", lengths)}; " +
                "the connection was discarded.", op.Request);
        }

        // 204 has no body by definition (RFC 9110 §15.3.5); a non-zero Content-Length means the framing is unknown.
        // "0, 0" and "00" are zero (Tornado reads the list as one value, then its number).
        if ((int)message.StatusCode == 204 && hasLengths
            && lengths.SelectMany(static v => v.Split(',')).Any(static v => Normalized(v) != "0"))
        {
            op.DiscardOnComplete = true;
            throw new FetchException(FetchException.NoResponse, FetchErrorKind.Protocol,
                $"Protocol error ({Where(op)}): a 204 No Content response announced Content-Length: {string.Join(",", lengths)}; " +
                "the connection was discarded.", op.Request);
        }
    }

    /// <summary>Whether the response ends at its header block by definition, whatever its framing headers say: the
    /// answer to a HEAD request, or a 304 (RFC 9112 §6.3, rule 1). 1xx never get here and 204 has a check of its own.
    /// </summary>
    /// <param name="message">The response head.</param>
    public static bool IsBodiless(HttpResponseMessage message) =>
        message.StatusCode == System.Net.HttpStatusCode.NotModified || message.RequestMessage?.Method == HttpMethod.Head;

    /// <summary>One Content-Length list element as a comparable number text: trimmed, without leading zeros ("0"
    /// for zero); anything else is returned trimmed, to be refused by <see cref="FramingChecks"/>.</summary>
    private static string Normalized(string value)
    {
        var trimmed = value.Trim();
        if (trimmed.Length == 0 || trimmed.AsSpan().IndexOfAnyExceptInRange('0', '9') >= 0)
        {
            return trimmed;
        }

        var digits = trimmed.TrimStart('0');
        return digits.Length == 0 ? "0" : digits;
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
