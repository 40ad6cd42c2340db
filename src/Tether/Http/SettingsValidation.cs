namespace Tether;

/// <summary>Validation of <see cref="FetchSettings"/> values, shared by client defaults and requests.</summary>
internal static class SettingsValidation
{
    /// <summary>Every problem of <paramref name="s"/>, each named with <paramref name="prefix"/>; an empty list (no
    /// allocation) when the values are valid or none is set.</summary>
    public static IReadOnlyList<string> Validate(FetchSettings s, string prefix)
    {
        if (s.CurrentValues() is null)
        {
            return [];
        }

        List<string>? problems = null;
        OptionChecks.Timeout(ref problems, prefix, nameof(s.ConnectTimeout), s.ConnectTimeout);
        OptionChecks.Timeout(ref problems, prefix, nameof(s.RequestTimeout), s.RequestTimeout);
        OptionChecks.Timeout(ref problems, prefix, nameof(s.QueueTimeout), s.QueueTimeout);
        OptionChecks.Timeout(ref problems, prefix, nameof(s.BodyTimeout), s.BodyTimeout);
        if (s.MaxRedirects is < 0)
        {
            (problems ??= []).Add($"{prefix}MaxRedirects = {s.MaxRedirects}: must be 0 or more (default 5).");
        }

        if (s.MaxHeaderSize is < 1024)
        {
            (problems ??= []).Add($"{prefix}MaxHeaderSize = {s.MaxHeaderSize}: must be at least 1024 bytes (default 65536).");
        }

        if (s.MaxBodySize is <= 0)
        {
            (problems ??= []).Add($"{prefix}MaxBodySize = {s.MaxBodySize}: must be 1 or more bytes (default 104857600).");
        }

        if (s.HttpVersion is { } v && v != System.Net.HttpVersion.Version11 && v != System.Net.HttpVersion.Version20)
        {
            (problems ??= []).Add($"{prefix}HttpVersion = {v}: must be 1.1 or 2.0.");
        }

        if (s.AuthMode is { } mode && !Enum.IsDefined(mode))
        {
            (problems ??= []).Add($"{prefix}AuthMode = {(int)mode}: not a known mode; use AuthMode.Basic or AuthMode.Digest.");
        }

        if (s.Proxy is { } proxy && (!proxy.IsAbsoluteUri || proxy.Scheme != Uri.UriSchemeHttp))
        {
            (problems ??= []).Add($"{prefix}Proxy = {Redaction.Uri(proxy)}: must be an absolute http:// URL of the proxy.");
        }
        else if (s.Proxy is not null)
        {
            foreach (var conflict in ProxyUrl.Conflicts(s, prefix))
            {
                (problems ??= []).Add(conflict);
            }
        }

        return (IReadOnlyList<string>?)problems ?? [];
    }
}
