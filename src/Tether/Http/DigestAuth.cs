using System.Security.Cryptography;
using System.Text;

namespace Tether;

/// <summary>RFC 7616 Digest access authentication (MD5 and SHA-256, qop=auth), answering one challenge.</summary>
internal static class DigestAuth
{
    public static bool TryRespond(HttpResponseMessage challenge, string method, Uri target, string user, string password,
        out string authorization)
    {
        authorization = string.Empty;
        foreach (var header in challenge.Headers.WwwAuthenticate)
        {
            if (!header.Scheme.Equals("Digest", StringComparison.OrdinalIgnoreCase) || header.Parameter is null)
            {
                continue;
            }

            var p = ParseParameters(header.Parameter);
            if (!p.TryGetValue("nonce", out var nonce) || !p.TryGetValue("realm", out var realm))
            {
                continue;
            }

            var algorithm = p.GetValueOrDefault("algorithm") ?? "MD5";
            Func<string, string>? hash = algorithm.ToUpperInvariant() switch
            {
                "MD5" => static s => Hex(MD5.HashData(Encoding.UTF8.GetBytes(s))),
                "SHA-256" => static s => Hex(SHA256.HashData(Encoding.UTF8.GetBytes(s))),
                _ => null,
            };
            if (hash is null)
            {
                continue;
            }

            var qop = p.GetValueOrDefault("qop");
            var useQop = qop is not null && qop.Split(',').Any(static q => q.Trim() == "auth");
            var uri = target.PathAndQuery;
            var ha1 = hash($"{user}:{realm}:{password}");
            var ha2 = hash($"{method}:{uri}");
            var cnonce = Hex(RandomNumberGenerator.GetBytes(8));
            const string nc = "00000001";
            var response = useQop ? hash($"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}") : hash($"{ha1}:{nonce}:{ha2}");
            var sb = new StringBuilder("Digest ");
            sb.Append($"username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm={algorithm}, response=\"{response}\"");
            if (useQop)
            {
                sb.Append($", qop=auth, nc={nc}, cnonce=\"{cnonce}\"");
            }

            if (p.TryGetValue("opaque", out var opaque))
            {
                sb.Append($", opaque=\"{opaque}\"");
            }

            authorization = sb.ToString();
            return true;
        }

        return false;
    }

    /// <summary>Parses <c>key=value, key="quoted, value"</c> lists.</summary>
    internal static Dictionary<string, string> ParseParameters(string s)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (i < s.Length)
        {
            while (i < s.Length && (s[i] == ',' || char.IsWhiteSpace(s[i])))
            {
                i++;
            }

            var eq = s.IndexOf('=', i);
            if (eq < 0)
            {
                break;
            }

            var key = s[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < s.Length && s[i] == '"')
            {
                var sb = new StringBuilder();
                i++;
                while (i < s.Length && s[i] != '"')
                {
                    if (s[i] == '\\' && i + 1 < s.Length)
                    {
                        i++;
                    }

                    sb.Append(s[i++]);
                }

                i++;
                value = sb.ToString();
            }
            else
            {
                var end = s.IndexOf(',', i);
                end = end < 0 ? s.Length : end;
                value = s[i..end].Trim();
                i = end;
            }

            result[key] = value;
        }

        return result;
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}
