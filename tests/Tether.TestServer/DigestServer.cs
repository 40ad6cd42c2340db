using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Tether.TestServer;

/// <summary>
/// The RFC 7616 digest endpoint behind <c>/auth/digest/{algorithm}</c> (MD5 or SHA-256, qop=auth).
/// </summary>
/// <remarks>
/// A request without valid credentials gets a 401 with a fresh nonce and opaque value. A request with
/// credentials is accepted only when the username, realm, a nonce this server issued, the opaque value,
/// the algorithm, qop=auth, an 8-hex-digit nc, a cnonce, the uri (equal to the request target) and the
/// response hash all check out; otherwise it gets a new challenge. Nonce counts are not tracked for
/// replay: tests need to prove the client computes the hash, not that the server resists replays.
/// Thread-safe.
/// </remarks>
internal sealed class DigestServer
{
    private readonly ConcurrentDictionary<string, string> _opaqueByNonce = new(StringComparer.Ordinal);
    private long _challenges;

    public long Challenges => Interlocked.Read(ref _challenges);

    public void ResetCounters() => Interlocked.Exchange(ref _challenges, 0);

    public static string Hash(string algorithm, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var hash = algorithm.Equals("MD5", StringComparison.OrdinalIgnoreCase) ? MD5.HashData(bytes) : SHA256.HashData(bytes);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>The RFC 7616 §3.4.1 response value for qop=auth.</summary>
    public static string ComputeResponse(
        string algorithm, string user, string realm, string password, string method, string uri, string nonce, string nc, string cnonce)
    {
        var ha1 = Hash(algorithm, $"{user}:{realm}:{password}");
        var ha2 = Hash(algorithm, $"{method}:{uri}");
        return Hash(algorithm, $"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}");
    }

    /// <summary>Splits a digest credentials string (after "Digest ") into its parameters.</summary>
    public static Dictionary<string, string> ParseParameters(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i])))
            {
                i++;
            }

            var eq = text.IndexOf('=', i);
            if (eq < 0)
            {
                break;
            }

            var name = text[i..eq].Trim();
            i = eq + 1;
            var value = new StringBuilder();
            if (i < text.Length && text[i] == '"')
            {
                for (i++; i < text.Length && text[i] != '"'; i++)
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }

                    value.Append(text[i]);
                }

                i++; // closing quote
            }
            else
            {
                for (; i < text.Length && text[i] != ','; i++)
                {
                    value.Append(text[i]);
                }
            }

            result[name] = value.ToString().Trim();
        }

        return result;
    }

    public Task HandleAsync(HttpContext ctx)
    {
        var routeAlgorithm = ctx.Request.RouteValues["algorithm"] as string ?? "";
        string algorithm;
        if (routeAlgorithm.Equals("MD5", StringComparison.OrdinalIgnoreCase))
        {
            algorithm = "MD5";
        }
        else if (routeAlgorithm.Equals("SHA-256", StringComparison.OrdinalIgnoreCase))
        {
            algorithm = "SHA-256";
        }
        else
        {
            ctx.Response.StatusCode = StatusCodes.Status404NotFound;
            return ctx.Response.WriteAsync("algorithm must be MD5 or SHA-256", ctx.RequestAborted);
        }

        var header = ctx.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Digest ", StringComparison.OrdinalIgnoreCase) && IsValid(ctx, algorithm, ParseParameters(header["Digest ".Length..])))
        {
            return Write(ctx, StatusCodes.Status200OK, "digest ok");
        }

        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var opaque = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        _opaqueByNonce[nonce] = opaque;
        Interlocked.Increment(ref _challenges);
        ctx.Response.Headers.WWWAuthenticate =
            $"Digest realm=\"{KestrelTestServer.DigestRealm}\", qop=\"auth\", algorithm={algorithm}, nonce=\"{nonce}\", opaque=\"{opaque}\"";
        return Write(ctx, StatusCodes.Status401Unauthorized, "digest required");
    }

    private bool IsValid(HttpContext ctx, string algorithm, Dictionary<string, string> p)
    {
        string Get(string name) => p.TryGetValue(name, out var value) ? value : "";

        var target = ctx.Features.Get<IHttpRequestFeature>()?.RawTarget ?? ctx.Request.Path + ctx.Request.QueryString;
        var nonce = Get("nonce");
        var nc = Get("nc");
        if (Get("username") != KestrelTestServer.DigestUser
            || Get("realm") != KestrelTestServer.DigestRealm
            || !_opaqueByNonce.TryGetValue(nonce, out var opaque)
            || Get("opaque") != opaque
            || !(p.ContainsKey("algorithm") ? Get("algorithm").Equals(algorithm, StringComparison.OrdinalIgnoreCase) : algorithm == "MD5")
            || Get("qop") != "auth"
            || nc.Length != 8 || !nc.All(Uri.IsHexDigit)
            || Get("cnonce").Length == 0
            || Get("uri") != target)
        {
            return false;
        }

        var expected = ComputeResponse(
            algorithm, KestrelTestServer.DigestUser, KestrelTestServer.DigestRealm, KestrelTestServer.DigestPassword,
            ctx.Request.Method, Get("uri"), nonce, nc, Get("cnonce"));
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(Get("response").ToLowerInvariant()));
    }

    private static Task Write(HttpContext ctx, int status, string text)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/plain; charset=utf-8";
        ctx.Response.ContentLength = Encoding.UTF8.GetByteCount(text);
        return ctx.Response.WriteAsync(text, ctx.RequestAborted);
    }
}
