namespace Tether;

/// <summary>
/// Credentials in a proxy URL's user info (<c>http://user:password@proxy:3128</c>), as curl, Go's
/// <c>http.ProxyURL</c> and Python requests read them: the part before the first <c>:</c> is the user name, the rest the
/// password, each percent-decoded (RFC 3986 §3.2.1: a <c>:</c> or <c>@</c> inside them is sent percent-encoded). They
/// supply <see cref="FetchSettings.ProxyUsername"/> and <see cref="FetchSettings.ProxyPassword"/> when those are not
/// set on the same settings; the URL the handler, the ledger and every message see has no user info.
/// </summary>
internal static class ProxyUrl
{
    /// <summary>The decoded user name and password of <paramref name="proxy"/>'s user info: (null, null) without user
    /// info; a null password when the user info has no <c>:</c>.</summary>
    public static (string? User, string? Password) Credentials(Uri? proxy)
    {
        if (proxy is null || !proxy.IsAbsoluteUri || proxy.UserInfo.Length == 0)
        {
            return (null, null);
        }

        var info = proxy.UserInfo;
        var colon = info.IndexOf(':', StringComparison.Ordinal);
        return colon < 0
            ? (Uri.UnescapeDataString(info), null)
            : (Uri.UnescapeDataString(info[..colon]), Uri.UnescapeDataString(info[(colon + 1)..]));
    }

    /// <summary><paramref name="proxy"/> without its user info (the same instance when it has none).</summary>
    public static Uri? WithoutCredentials(Uri? proxy) =>
        proxy is null || !proxy.IsAbsoluteUri || proxy.UserInfo.Length == 0
            ? proxy
            : new UriBuilder(proxy) { UserName = string.Empty, Password = string.Empty }.Uri;

    /// <summary>Validation (CLIENT-09 style): user info that names a different user name or password than the explicit
    /// options of the same settings is an error naming what to remove. Neither value is echoed.</summary>
    public static IEnumerable<string> Conflicts(FetchSettings s, string prefix)
    {
        var (user, password) = Credentials(s.Proxy);
        if (user is not null && s.ProxyUsername is { } explicitUser && !string.Equals(user, explicitUser, StringComparison.Ordinal))
        {
            yield return Conflict(s, prefix, $"names a different user than {prefix}ProxyUsername");
        }

        if (password is not null && s.ProxyPassword is { } explicitPassword && !string.Equals(password, explicitPassword, StringComparison.Ordinal))
        {
            yield return Conflict(s, prefix, $"carries a different password than {prefix}ProxyPassword");
        }
    }

    private static string Conflict(FetchSettings s, string prefix, string what) =>
        $"{prefix}Proxy = {Redaction.Uri(s.Proxy!)}: its user info {what}; give the proxy credentials once: remove the user " +
        $"info from {prefix}Proxy, or remove {prefix}ProxyUsername and {prefix}ProxyPassword.";
}
