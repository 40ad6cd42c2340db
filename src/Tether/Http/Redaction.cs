namespace Tether;

/// <summary>Removes secrets from what Tether prints: URL userinfo and query values named like secrets.</summary>
internal static class Redaction
{
    public static string Url(string url)
    {
        if (!System.Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            var at = url.IndexOf('@', StringComparison.Ordinal);
            var scheme = url.IndexOf("://", StringComparison.Ordinal);
            return at > 0 && scheme > 0 && at > scheme ? url[..(scheme + 3)] + "***@" + url[(at + 1)..] : url;
        }

        return Uri(uri);
    }

    public static string Uri(Uri uri)
    {
        if (string.IsNullOrEmpty(uri.UserInfo))
        {
            return uri.OriginalString;
        }

        var builder = new UriBuilder(uri) { UserName = "***", Password = string.Empty };
        return builder.Uri.ToString();
    }

    /// <summary>"http://host:port" of a URI: the pool key, never containing credentials.</summary>
    public static string HostKey(Uri uri)
    {
        // The last key is reused when scheme, host and port match (the common case: one origin fetched repeatedly).
        var scheme = uri.Scheme;
        var host = uri.IdnHost;
        var port = uri.Port;
        if (s_lastHostKey is { } last && last.Port == port && ReferenceEquals(last.Scheme, scheme)
            && string.Equals(last.Host, host, StringComparison.Ordinal))
        {
            return last.Key;
        }

        var key = $"{scheme}://{host}:{port}";
        s_lastHostKey = new HostKeyEntry(scheme, host, port, key);
        return key;
    }

    private static volatile HostKeyEntry? s_lastHostKey;

    private sealed record HostKeyEntry(string Scheme, string Host, int Port, string Key);
}
