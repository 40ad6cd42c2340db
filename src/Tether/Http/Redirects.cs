namespace Tether;

/// <summary>Redirect rules: which codes redirect, where to, and what must not travel with the request.</summary>
internal static class Redirects
{
    public static bool IsRedirect(int code) => code is 301 or 302 or 303 or 307 or 308;

    /// <summary>301, 302 and 303 turn into GET without a body (HEAD stays HEAD); 307 and 308 keep method and body.</summary>
    public static bool ChangesToGet(int code, string method) =>
        code == 303 ? method != "HEAD" : code is 301 or 302 && method is not ("GET" or "HEAD");

    public static Uri Next(FetchOperation op, Uri current, Uri location, ResolvedSettings settings)
    {
        var next = location.IsAbsoluteUri ? location : new Uri(current, location);
        if (next.Scheme != Uri.UriSchemeHttp && next.Scheme != Uri.UriSchemeHttps)
        {
            throw new FetchException(FetchException.NoResponse, FetchErrorKind.RedirectRefused,
                $"Refused a redirect from {Redaction.Uri(current)} to the scheme \"{next.Scheme}\": only http and https are followed.",
                op.Request);
        }

        if (current.Scheme == Uri.UriSchemeHttps && next.Scheme == Uri.UriSchemeHttp && !settings.AllowInsecureRedirects)
        {
            throw new FetchException(FetchException.NoResponse, FetchErrorKind.RedirectRefused,
                $"Refused a redirect from https ({Redaction.HostKey(current)}) to plain http ({Redaction.HostKey(next)}); " +
                "set AllowInsecureRedirects = true to follow it (credentials are never carried across).",
                op.Request);
        }

        if (current.Fragment.Length > 0 && next.Fragment.Length == 0)
        {
            next = new UriBuilder(next) { Fragment = current.Fragment[1..] }.Uri;
        }

        return next;
    }

    public static bool SameOrigin(Uri a, Uri b) =>
        a.Scheme == b.Scheme && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    /// <summary>Credentials never cross an origin change, however they were set.</summary>
    public static void StripCredentials(FetchHeaders headers)
    {
        headers.Remove("Authorization");
        headers.Remove("Cookie");
        headers.Remove("Proxy-Authorization");
    }
}
