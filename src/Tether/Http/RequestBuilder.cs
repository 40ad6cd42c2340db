using System.Net.Http.Headers;
using System.Text;

namespace Tether;

/// <summary>Validates a <see cref="FetchRequest"/> and turns it into an <see cref="HttpRequestMessage"/>. Every check
/// here runs before any socket is opened.</summary>
internal static class RequestBuilder
{
    /// <summary>The codings Tether asks for when it decodes responses (the CLI's <c>-v</c> prints the same value).</summary>
    internal const string AcceptEncoding = "gzip, deflate, br";

    /// <summary>The Accept-Encoding Tether sends for a request whose headers are <paramref name="headers"/> (none set by
    /// the caller): <see cref="AcceptEncoding"/>, or <c>identity</c> when the caller asks for a Range. A range of a coded
    /// representation is a slice of the compressed bytes, which cannot be decoded from the middle (psf/requests#2632,
    /// r-lib/httr#405: a resumed download failed with a decoding error); Go's Transport asks for no coding when Range is
    /// set, and the Fetch standard sends <c>Accept-Encoding: identity</c> (denoland/deno#16197). A caller's own
    /// Accept-Encoding is sent as given.</summary>
    internal static string AcceptEncodingFor(FetchHeaders headers) => headers.Contains("Range") ? "identity" : AcceptEncoding;

    private static readonly HashSet<string> s_standardMethods = new(StringComparer.Ordinal)
    {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
    };

    private static readonly HashSet<string> s_bodyRequired = new(StringComparer.Ordinal) { "POST", "PUT", "PATCH" };
    private static readonly HashSet<string> s_bodyForbidden = new(StringComparer.Ordinal) { "GET", "HEAD", "DELETE", "OPTIONS" };

    public static ResolvedSettings Resolve(FetchRequest request, FetchSettings defaults) => Resolve(request, defaults, null, out _);

    public static ResolvedSettings Resolve(FetchRequest request, FetchSettings defaults, ResolvedSettingsCache? cache,
        out Uri target, bool cacheUrl = false)
    {
        ResolvedSettings settings;
        if (cache is not null && request.HasNoValues())
        {
            // Nothing to validate on the request; the cache validates the client's defaults whenever it resolves them anew.
            settings = cache.Get(defaults);
        }
        else
        {
            OptionChecks.ThrowIfAny(nameof(FetchRequest), SettingsValidation.Validate(request, string.Empty));
            // The defaults fill what the request leaves unset: validated again if they changed (issue 16 review finding).
            cache?.EnsureValid(defaults);
            settings = new ResolvedSettings(request, defaults);
        }

        target = cacheUrl ? ParsedUrlCache.Parse(request.Url) : ParseUrl(request.Url);
        // GET (the default) is a valid, standard method token: the usual fetch skips the character scans and set lookups.
        var isGet = request.Method == "GET";
        if (!isGet)
        {
            CheckField("Method", request.Method);
        }

        if (!isGet && (request.Method.Length == 0 || !IsToken(request.Method, separatorsAllowed: false)))
        {
            throw new ArgumentException($"Method \"{Escape(request.Method)}\" is not a valid HTTP method token.", nameof(request));
        }

        foreach (var (name, value) in request.HeadersOrEmpty.Items)
        {
            if (HasControl(name))
            {
                CheckField($"header name \"{Escape(name)}\"", name);
            }

            if (HasControl(value))
            {
                CheckField($"header \"{Escape(name)}\" value", value);
            }

            if (name.Length == 0 || !IsToken(name, separatorsAllowed: true))
            {
                throw new ArgumentException($"Header name \"{Escape(name)}\" is not a valid HTTP token.", nameof(request));
            }

            if (value.AsSpan().IndexOfAnyExceptInRange('\u0000', '\u00FF') >= 0)
            {
                throw new ArgumentException(
                    $"The value of header \"{name}\" has characters outside Latin-1, which HTTP/1.1 cannot carry; " +
                    "percent-encode it (or use RFC 8187 encoding) before sending.", nameof(request));
            }
        }

        var hasBody = request.Body is not null || request.BodyProducer is not null;
        if (request.Body is not null && request.BodyProducer is not null)
        {
            throw new ArgumentException("Set either Body or BodyProducer, not both.", nameof(request));
        }

        if (!settings.AllowNonstandardMethods)
        {
            if (!isGet && !s_standardMethods.Contains(request.Method))
            {
                throw new ArgumentException(
                    $"Method \"{request.Method}\" is not a standard method; set AllowNonstandardMethods = true to send it.",
                    nameof(request));
            }

            if (hasBody && (isGet || s_bodyForbidden.Contains(request.Method)))
            {
                throw new ArgumentException(
                    $"A {request.Method} request must not have a body; remove Body/BodyProducer or set AllowNonstandardMethods = true.",
                    nameof(request));
            }

            if (!hasBody && !isGet && s_bodyRequired.Contains(request.Method))
            {
                throw new ArgumentException(
                    $"A {request.Method} request needs a body (use Body = \"\" for an empty one), or set AllowNonstandardMethods = true.",
                    nameof(request));
            }
        }

        return settings;
    }

    public static Uri ParseUrl(string url)
    {
        CheckField("URL", url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new ArgumentException(
                $"\"{Redaction.Url(url)}\" is not an absolute URL; use the form http://host:port/path.", nameof(url));
        }

        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException(
                $"\"{Redaction.Url(url)}\" uses the scheme \"{uri.Scheme}\"; only http and https are supported.", nameof(url));
        }

        return uri;
    }

    private static bool HasControl(string value) => value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0;

    /// <summary>No control, non-ASCII or space character, no ':'; and without <paramref name="separatorsAllowed"/>
    /// none of the RFC 9110 separators either (a method token).</summary>
    private static bool IsToken(string value, bool separatorsAllowed)
    {
        foreach (var c in value)
        {
            if (c <= ' ' || c >= 127 || c == ':' || (!separatorsAllowed && "()<>@,;:\\\"/[]?={}".Contains(c)))
            {
                return false;
            }
        }

        return true;
    }

    private static void CheckField(string field, string value)
    {
        var bad = value.AsSpan().IndexOfAny('\r', '\n', '\0'); // the span form: no char[] per call
        if (bad >= 0)
        {
            var what = value[bad] switch { '\r' => "CR", '\n' => "LF", _ => "NUL" };
            throw new ArgumentException(
                $"The {field} contains a {what} character at position {bad}; CR, LF and NUL are not allowed (header injection).");
        }
    }

    private static string Escape(string s) => s.Replace("\r", "\\r", StringComparison.Ordinal)
        .Replace("\n", "\\n", StringComparison.Ordinal).Replace("\0", "\\0", StringComparison.Ordinal);

    /// <summary>Credentials from the settings, else from the URL's userinfo (percent-decoded).</summary>
    public static (string? User, string? Password) Credentials(Uri uri, ResolvedSettings settings)
    {
        if (settings.AuthUsername is not null)
        {
            return (settings.AuthUsername, settings.AuthPassword);
        }

        if (string.IsNullOrEmpty(uri.UserInfo))
        {
            return (null, null);
        }

        var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
        return colon < 0
            ? (Uri.UnescapeDataString(uri.UserInfo), string.Empty)
            : (Uri.UnescapeDataString(uri.UserInfo[..colon]), Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]));
    }

    public static HttpRequestMessage Build(Uri target, string method, FetchHeaders headers, FetchBody? body,
        Func<Stream, CancellationToken, Task>? producer, ResolvedSettings settings, string? user, string? password)
    {
        var uri = string.IsNullOrEmpty(target.UserInfo) ? target : new UriBuilder(target) { UserName = "", Password = "" }.Uri;
        var message = new TetherRequestMessage(MethodOf(method), uri)
        {
            Version = settings.HttpVersion,
            VersionPolicy = settings.HttpVersion == System.Net.HttpVersion.Version20
                ? HttpVersionPolicy.RequestVersionOrLower
                : HttpVersionPolicy.RequestVersionExact,
        };

        HttpContent? content = body switch
        {
            // Watched, so a connection that fails under the body's writes is a RequestWrite (RequestBodyWriteException).
            { Bytes: { } bytes } => new WriteWatchedContent(new ReadOnlyMemoryContent(bytes)),
            { Stream: { } stream } => new WriteWatchedContent(new StreamContent(new NonDisposingStream(stream))),
            _ => producer is null ? null : new ProducerContent(producer),
        };

        foreach (var (name, value) in headers.Items)
        {
            if (IsContentHeader(name))
            {
                content ??= new ReadOnlyMemoryContent(ReadOnlyMemory<byte>.Empty);
                content.Headers.TryAddWithoutValidation(name, value);
            }
            else if (!message.Headers.TryAddWithoutValidation(name, value))
            {
                throw new ArgumentException($"Header \"{name}\" cannot be set on a request.");
            }
        }

        if (content is not null && string.Equals(method, "POST", StringComparison.Ordinal) && !headers.Contains("Content-Type"))
        {
            // Tornado's rule (simple_httpclient, curl_httpclient): a POST without a Content-Type is sent as a form, which
            // is also what curl -d sends. RFC 9110 §8.3 asks a sender of content for a Content-Type; servers that parse
            // forms (ASP.NET [FromForm], PHP $_POST) read nothing without one. Other methods send none, as Tornado.
            content.Headers.TryAddWithoutValidation("Content-Type", "application/x-www-form-urlencoded");
        }

        message.Content = content;
        if (!headers.Contains("User-Agent") && settings.UserAgent.Length > 0)
        {
            message.Headers.TryAddWithoutValidation("User-Agent", settings.UserAgent);
        }

        if (settings.DecompressResponse && !headers.Contains("Accept-Encoding"))
        {
            message.Headers.TryAddWithoutValidation("Accept-Encoding", AcceptEncodingFor(headers));
        }

        if (settings.ExpectContinue && content is not null)
        {
            message.Headers.ExpectContinue = true;
        }

        if (user is not null && settings.AuthMode == AuthMode.Basic && !headers.Contains("Authorization"))
        {
            var normalized = $"{user}:{password}".Normalize(NormalizationForm.FormC);
            message.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes(normalized)));
        }

        return message;
    }

    private static HttpMethod MethodOf(string method) => method switch
    {
        "GET" => HttpMethod.Get,
        "HEAD" => HttpMethod.Head,
        "POST" => HttpMethod.Post,
        "PUT" => HttpMethod.Put,
        "DELETE" => HttpMethod.Delete,
        "OPTIONS" => HttpMethod.Options,
        "PATCH" => HttpMethod.Patch,
        _ => new HttpMethod(method),
    };

    private static bool IsContentHeader(string name) =>
        name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Expires", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Last-Modified", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Allow", StringComparison.OrdinalIgnoreCase);
}

/// <summary>A request Tether built: carries its fetch to the pool's connect callback in a field instead of an
/// <see cref="HttpRequestMessage.Options"/> dictionary per request.</summary>
internal sealed class TetherRequestMessage(HttpMethod method, Uri uri) : HttpRequestMessage(method, uri)
{
    private volatile FetchOperation? _operation;

    /// <summary>The fetch sending this request, until it completes (see <see cref="FetchOperation.Name"/>).</summary>
    public FetchOperation? Operation { get => _operation; set => _operation = value; }

    /// <summary>What a connection attempt for this request takes from its fetch; set before the request is sent and kept
    /// after the fetch is over (default: never sent by a fetch).</summary>
    public AttemptSettings? Attempt { get; set; }
}

/// <summary>URLs already parsed and checked, with their <see cref="Uri"/> (immutable, so shared by every fetch and
/// every client of that URL): a URL fetched repeatedly, or by a new client per call, is parsed once. Bounded: past the
/// bound a URL is parsed per fetch as before.</summary>
internal static class ParsedUrlCache
{
    private const int MaxEntries = 1024;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Uri> s_parsed = new(StringComparer.Ordinal);
    private static int s_count;

    /// <summary><see cref="RequestBuilder.ParseUrl"/> of <paramref name="url"/>, from the cache when it was parsed
    /// before.</summary>
    public static Uri Parse(string url)
    {
        if (s_parsed.TryGetValue(url, out var uri))
        {
            return uri;
        }

        uri = RequestBuilder.ParseUrl(url);
        // A URL with credentials in it is not kept for the life of the process.
        if (uri.UserInfo.Length == 0 && Volatile.Read(ref s_count) < MaxEntries && s_parsed.TryAdd(url, uri))
        {
            Interlocked.Increment(ref s_count);
        }

        return uri;
    }
}
