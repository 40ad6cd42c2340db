using System.Text;

namespace Tether;

/// <summary>
/// Redirect rules: which codes redirect, where to, with which method and body, and what must not travel with the
/// request. One place for every rule (docs/client-guide.md "Redirects, replay, credentials and deadlines" states them
/// for users):
/// <list type="bullet">
/// <item>Codes 301, 302, 303, 307 and 308 with a usable <c>Location</c> are followed (300 is not: it asks the user to
/// choose).</item>
/// <item>Method (RFC 9110 §15.4, as dotnet/runtime <c>RedirectHandler.RequestRequiresForceGet</c>): 301 and 302 turn
/// POST, and only POST, into GET; 303 turns every method but GET and HEAD into GET; 307 and 308 keep method and body.
/// When the method changes, the body and every <c>Content-*</c> header (and <c>Transfer-Encoding</c>) are dropped, so
/// no empty body is sent.</item>
/// <item>Credentials (curl, Go's <c>net/http</c>, golang/go#73816): on a change of scheme, host or port,
/// <c>Authorization</c> (whatever its scheme, including a Digest answer computed for the first origin),
/// <c>Cookie</c> and <c>Proxy-Authorization</c> are removed and the user's credentials are forgotten for the rest of
/// the fetch, so a new origin's Digest or Basic challenge is never answered.</item>
/// <item>Location (RFC 9110 §10.2.2, RFC 3986 §5): relative, absolute-path and protocol-relative references resolve
/// against the current URL; raw UTF-8 octets in the header are read as UTF-8 and sent percent-encoded (what a plain
/// <c>HttpClient</c> requests); a fragment is inherited when the Location has none.</item>
/// </list>
/// </summary>
internal static class Redirects
{
    public static bool IsRedirect(int code) => code is 301 or 302 or 303 or 307 or 308;

    /// <summary>Whether the redirect turns the request into a GET without a body (RFC 9110 §15.4.2–15.4.4): 301 and
    /// 302 only for POST; 303 for every method but GET and HEAD. 307 and 308 never.</summary>
    public static bool ChangesToGet(int code, string method) => code switch
    {
        301 or 302 => method == "POST",
        303 => method is not ("GET" or "HEAD"),
        _ => false,
    };

    /// <summary>The method of the next hop.</summary>
    public static string MethodAfter(int code, string method) => ChangesToGet(code, method) ? "GET" : method;

    /// <summary>The Location header as the server sent it: the pool decodes header values as Latin-1 (one char per
    /// octet), so octets that form valid UTF-8 are re-read as UTF-8 (as SocketsHttpHandler does for Location with its
    /// default encodings); other octets stay Latin-1. Null when absent or empty.</summary>
    public static string? LocationOf(HttpResponseMessage message)
    {
        if (!message.Headers.NonValidated.TryGetValues("Location", out var values))
        {
            return null;
        }

        // Several Location lines: the first, as HttpClient (its Location property) and Go's Header.Get read them. A line
        // injected after the real one (response splitting) then never decides where the request goes next.
        string? raw = null;
        foreach (var value in values)
        {
            raw = value;
            break;
        }

        raw = raw?.Trim();
        return string.IsNullOrEmpty(raw) ? null : RecoverUtf8(raw);
    }

    /// <summary>Re-reads a Latin-1-decoded header value as UTF-8 when its octets are valid UTF-8.</summary>
    internal static string RecoverUtf8(string latin1)
    {
        if (latin1.AsSpan().IndexOfAnyExceptInRange('\u0000', '\u007F') < 0
            || latin1.AsSpan().IndexOfAnyExceptInRange('\u0000', '\u00FF') >= 0)
        {
            return latin1; // pure ASCII, or already decoded beyond Latin-1
        }

        var octets = Encoding.Latin1.GetBytes(latin1);
        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(octets);
        }
        catch (DecoderFallbackException)
        {
            return latin1;
        }
    }

    /// <summary>Resolves <paramref name="location"/> against <paramref name="current"/> (RFC 3986 §5.2); null when
    /// it is not a URI reference at all (the 3xx is then returned as the response, as HttpClient does).</summary>
    public static Uri? Resolve(Uri current, string location)
    {
        // Uri(Uri, string) resolves "//host/path" as a network-path reference; Uri(string, RelativeOrAbsolute) would
        // read "/path" as an absolute file path on Unix.
        if (location.StartsWith('/') || !LooksAbsolute(location))
        {
            return Uri.TryCreate(current, location, out var relative) ? relative : null;
        }

        return Uri.TryCreate(location, UriKind.Absolute, out var absolute) ? absolute : null;
    }

    private static bool LooksAbsolute(string location)
    {
        // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) followed by ':'.
        var colon = location.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || !char.IsAsciiLetter(location[0]))
        {
            return false;
        }

        for (var i = 1; i < colon; i++)
        {
            var c = location[i];
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('+' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The next URL, or a <see cref="FetchErrorKind.RedirectRefused"/> error for a scheme other than http(s)
    /// or an https→http downgrade without <see cref="FetchSettings.AllowInsecureRedirects"/>.</summary>
    public static Uri Next(FetchOperation op, Uri current, Uri next, ResolvedSettings settings) =>
        Check(current, next, settings.AllowInsecureRedirects, message =>
            new FetchException(FetchException.NoResponse, FetchErrorKind.RedirectRefused, message, op.Request));

    /// <summary>The rule of <see cref="Next"/> without a fetch (property tests).</summary>
    internal static Uri Check(Uri current, Uri next, bool allowInsecure, Func<string, Exception> refuse)
    {
        if (next.Scheme != Uri.UriSchemeHttp && next.Scheme != Uri.UriSchemeHttps)
        {
            throw refuse($"Refused a redirect from {Redaction.Uri(current)} to the scheme \"{next.Scheme}\": only http and https are followed.");
        }

        if (current.Scheme == Uri.UriSchemeHttps && next.Scheme == Uri.UriSchemeHttp && !allowInsecure)
        {
            throw refuse($"Refused a redirect from https ({Redaction.HostKey(current)}) to plain http ({Redaction.HostKey(next)}); " +
                "set AllowInsecureRedirects = true to follow it (credentials are never carried across).");
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

    /// <summary>The method changed: the body goes, and with it every header that described it.</summary>
    public static void StripContentHeaders(FetchHeaders headers)
    {
        List<string>? names = null;
        foreach (var (name, _) in headers)
        {
            if (name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase))
            {
                (names ??= []).Add(name);
            }
        }

        foreach (var name in names ?? [])
        {
            headers.Remove(name);
        }

        headers.Remove("Transfer-Encoding");
    }
}
