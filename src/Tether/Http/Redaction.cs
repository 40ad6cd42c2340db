namespace Tether;

/// <summary>Removes secrets from what Tether prints (messages, logs, ledger entries): URL userinfo becomes
/// <c>***@</c>, and the value of every query parameter whose name is a well-known secret name becomes <c>***</c>.</summary>
/// <remarks>The names, compared without regard to case: token, access_token, refresh_token, id_token, auth, api_key,
/// apikey, api-key, key, password, passwd, pwd, secret, client_secret, sig, signature, x-amz-signature,
/// x-amz-credential, and x-amz-security-token (the AWS SigV4 query parameters). Parameters with other names are
/// printed as they are: a secret under another name is not recognised.</remarks>
internal static class Redaction
{
    private static readonly HashSet<string> s_secretNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "token", "access_token", "refresh_token", "id_token", "auth", "api_key", "apikey", "api-key", "key", "password",
        "passwd", "pwd", "secret", "client_secret", "sig", "signature", "x-amz-signature", "x-amz-credential",
        "x-amz-security-token",
    };

    public static string Url(string url)
    {
        if (!System.Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            var at = url.IndexOf('@', StringComparison.Ordinal);
            var scheme = url.IndexOf("://", StringComparison.Ordinal);
            return Query(at > 0 && scheme > 0 && at > scheme ? url[..(scheme + 3)] + "***@" + url[(at + 1)..] : url);
        }

        return Uri(uri);
    }

    public static string Uri(Uri uri)
    {
        if (string.IsNullOrEmpty(uri.UserInfo))
        {
            return Query(uri.OriginalString);
        }

        var builder = new UriBuilder(uri) { UserName = "***", Password = string.Empty };
        return Query(builder.Uri.ToString());
    }

    /// <summary>Replaces the values of secret-named query parameters in <paramref name="url"/> with <c>***</c>.</summary>
    internal static string Query(string url)
    {
        var q = url.IndexOf('?', StringComparison.Ordinal);
        if (q < 0)
        {
            return url;
        }

        var hash = url.IndexOf('#', q);
        var end = hash < 0 ? url.Length : hash;
        var query = url.AsSpan(q + 1, end - q - 1);
        if (!HasSecret(query))
        {
            return url;
        }

        var builder = new System.Text.StringBuilder(url.Length);
        builder.Append(url, 0, q + 1);
        var first = true;
        foreach (var range in query.Split('&'))
        {
            var pair = query[range];
            if (!first)
            {
                builder.Append('&');
            }

            first = false;
            var eq = pair.IndexOf('=');
            if (eq > 0 && IsSecretName(pair[..eq]))
            {
                builder.Append(pair[..(eq + 1)]).Append("***");
            }
            else
            {
                builder.Append(pair);
            }
        }

        builder.Append(url, end, url.Length - end);
        return builder.ToString();
    }

    private static bool HasSecret(ReadOnlySpan<char> query)
    {
        foreach (var range in query.Split('&'))
        {
            var pair = query[range];
            var eq = pair.IndexOf('=');
            if (eq > 0 && IsSecretName(pair[..eq]))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsSecretName(ReadOnlySpan<char> name)
    {
        var decoded = name.Contains('%') || name.Contains('+') ? System.Uri.UnescapeDataString(name.ToString().Replace('+', ' ')) : name.ToString();
        return s_secretNames.Contains(decoded);
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
