using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Tether.TestServer;

// The route handlers. Each one bounds itself: waits are capped and end when the client disconnects
// (RequestAborted), which StopAsync also triggers by aborting every connection.
public sealed partial class KestrelTestServer
{
    /// <summary>The body of <c>GET /hello</c> (13 bytes).</summary>
    public const string HelloText = "Hello, world!";

    /// <summary>The plain text that <c>/gzip</c>, <c>/deflate</c> and <c>/br</c> serve, compressed or not.</summary>
    public const string CompressibleText =
        "Tether compression test body. The quick brown fox jumps over the lazy dog. " +
        "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog.\n";

    /// <summary>The text that <c>/charset/{name}</c> and <c>/nocharset</c> encode.</summary>
    public const string CharsetText = "café";

    /// <summary>The user name <c>/auth/digest/{algorithm}</c> accepts.</summary>
    public const string DigestUser = "tether";

    /// <summary>The password <c>/auth/digest/{algorithm}</c> accepts.</summary>
    public const string DigestPassword = "s3cret";

    /// <summary>The realm in the digest challenge.</summary>
    public const string DigestRealm = "tether-test";

    /// <summary>Largest <c>ms</c> accepted by <c>/delay/{ms}</c> and <c>?delayMs=</c>.</summary>
    public const int MaxDelayMilliseconds = 600_000;

    /// <summary>Largest <c>n</c> accepted by <c>/bytes/{n}</c>.</summary>
    public const long MaxBytes = 4L * 1024 * 1024 * 1024;

    /// <summary>Largest <c>chunks</c> accepted by <c>/stream/{chunks}</c>.</summary>
    public const int MaxChunks = 1_000_000;

    private static readonly byte[] s_hello = Encoding.ASCII.GetBytes(HelloText);
    private static readonly Lazy<byte[]> s_gzip = new(() => Compress(s => new GZipStream(s, CompressionLevel.Optimal)));
    private static readonly Lazy<byte[]> s_deflate = new(() => Compress(s => new ZLibStream(s, CompressionLevel.Optimal)));
    private static readonly Lazy<byte[]> s_brotli = new(() => Compress(s => new BrotliStream(s, CompressionLevel.Optimal)));

    // 256 periods of the pattern: a block that can be written back to back without breaking it.
    private static readonly byte[] s_patternBlock = TestPatterns.Create(TestPatterns.Period * 256);

    static KestrelTestServer() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    private void MapEndpoints(WebApplication app)
    {
        app.MapGet("/hello", new RequestDelegate(HelloAsync));
        app.Map("/echo", new RequestDelegate(EchoAsync));
        app.Map("/echo/headers", new RequestDelegate(EchoHeadersAsync));
        app.MapGet("/delay/{ms}", new RequestDelegate(DelayAsync));
        app.MapGet("/bytes/{n}", new RequestDelegate(BytesAsync));
        app.Map("/status/{code}", new RequestDelegate(StatusAsync));
        app.MapGet("/stream/{chunks}", new RequestDelegate(StreamAsync));
        app.Map("/redirect/{n}", new RequestDelegate(RedirectAsync));
        app.Map("/redirect-to", new RequestDelegate(RedirectToAsync));
        app.Map("/redirect-loop/{side}", new RequestDelegate(RedirectLoopAsync));
        app.MapGet("/connections", ctx => TextAsync(ctx, AcceptedConnections.ToString(CultureInfo.InvariantCulture)));
        app.MapGet("/gzip", ctx => CompressedAsync(ctx, "gzip", s_gzip));
        app.MapGet("/deflate", ctx => CompressedAsync(ctx, "deflate", s_deflate));
        app.MapGet("/br", ctx => CompressedAsync(ctx, "br", s_brotli));
        app.MapGet("/charset/{name}", new RequestDelegate(CharsetAsync));
        app.MapGet("/nocharset", ctx => BytesBodyAsync(ctx, Encoding.UTF8.GetBytes(CharsetText), "text/plain"));
        app.Map("/auth/basic", new RequestDelegate(BasicAuthAsync));
        app.Map("/auth/digest/{algorithm}", ctx => _digest.HandleAsync(ctx));
        app.MapGet("/headers/user-agent", ctx => TextAsync(ctx, ctx.Request.Headers.UserAgent.ToString()));
        app.MapGet("/cookies/set", new RequestDelegate(SetCookiesAsync));
        app.MapGet("/cookies", ctx => TextAsync(ctx, ctx.Request.Headers.Cookie.Count == 0 ? "none" : ctx.Request.Headers.Cookie.ToString()));
        app.Map("/close", ctx =>
        {
            ctx.Response.Headers.Connection = "close";
            return TextAsync(ctx, "closing");
        });
        app.MapMethods("/upload", ["POST", "PUT"], new RequestDelegate(UploadAsync));
        app.Map("/expect", new RequestDelegate(ExpectAsync));
        app.MapGet("/reset/{code}", new RequestDelegate(ResetAsync));
    }

    // HTTP/2 only: resets the request's stream with the given HTTP/2 error code (RFC 9113 §7); with ?after=N, after the
    // response head and N body bytes (flushed), else before any response frame. Over HTTP/1.1 (no reset feature) it
    // aborts the connection.
    private static async Task ResetAsync(HttpContext ctx)
    {
        int code = int.Parse((string)ctx.Request.RouteValues["code"]!, CultureInfo.InvariantCulture);
        if (int.TryParse(ctx.Request.Query["after"], NumberStyles.None, CultureInfo.InvariantCulture, out int after))
        {
            ctx.Response.ContentLength = after + 1000;
            await ctx.Response.Body.WriteAsync(new byte[after]);
            await ctx.Response.Body.FlushAsync();
        }

        if (ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResetFeature>() is { } reset)
        {
            reset.Reset(code);
        }
        else
        {
            ctx.Abort();
        }
    }

    private static Task HelloAsync(HttpContext ctx) => BytesBodyAsync(ctx, s_hello, "text/plain");

    private static async Task EchoAsync(HttpContext ctx)
    {
        var request = ctx.Request;
        var response = ctx.Response;
        response.Headers["X-Method"] = request.Method;
        response.Headers["X-Query"] = request.QueryString.HasValue ? request.QueryString.Value : "";
        response.Headers["X-Content-Length"] = request.Headers.ContentLength is long cl ? cl.ToString(CultureInfo.InvariantCulture) : "none";
        response.Headers["X-Transfer-Encoding"] = request.Headers.TransferEncoding.Count > 0 ? request.Headers.TransferEncoding.ToString() : "none";
        response.ContentType = request.ContentType ?? "application/octet-stream";
        if (request.ContentLength is long length)
        {
            response.ContentLength = length;
        }

        if (HttpMethods.IsHead(request.Method))
        {
            return;
        }

        await request.Body.CopyToAsync(response.Body, ctx.RequestAborted).ConfigureAwait(false);
    }

    private static async Task EchoHeadersAsync(HttpContext ctx)
    {
        using var buffer = new MemoryStream();
        await using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var header in ctx.Request.Headers)
            {
                json.WriteStartArray(header.Key);
                foreach (var value in header.Value)
                {
                    json.WriteStringValue(value);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        await BytesBodyAsync(ctx, buffer.ToArray(), "application/json").ConfigureAwait(false);
    }

    private static async Task DelayAsync(HttpContext ctx)
    {
        if (!TryRouteInt(ctx, "ms", 0, MaxDelayMilliseconds, out var ms))
        {
            await BadRequestAsync(ctx, $"ms must be 0..{MaxDelayMilliseconds}").ConfigureAwait(false);
            return;
        }

        await Task.Delay(ms, ctx.RequestAborted).ConfigureAwait(false);
        await TextAsync(ctx, "done").ConfigureAwait(false);
    }

    private static async Task BytesAsync(HttpContext ctx)
    {
        if (!long.TryParse(ctx.Request.RouteValues["n"] as string, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > MaxBytes)
        {
            await BadRequestAsync(ctx, $"n must be 0..{MaxBytes}").ConfigureAwait(false);
            return;
        }

        ctx.Response.ContentType = "application/octet-stream";
        ctx.Response.ContentLength = n;
        for (long sent = 0; sent < n;)
        {
            var count = (int)Math.Min(s_patternBlock.Length, n - sent);
            await ctx.Response.Body.WriteAsync(s_patternBlock.AsMemory(0, count), ctx.RequestAborted).ConfigureAwait(false);
            sent += count;
        }
    }

    private static async Task StatusAsync(HttpContext ctx)
    {
        if (!TryRouteInt(ctx, "code", 200, 599, out var code))
        {
            await BadRequestAsync(ctx, "code must be 200..599").ConfigureAwait(false);
            return;
        }

        ctx.Response.StatusCode = code;
        if (code is 204 or 304 || HttpMethods.IsHead(ctx.Request.Method))
        {
            return;
        }

        await TextAsync(ctx, $"status {code}", code).ConfigureAwait(false);
    }

    private static async Task StreamAsync(HttpContext ctx)
    {
        var query = ctx.Request.Query;
        if (!TryRouteInt(ctx, "chunks", 0, MaxChunks, out var chunks)
            || !TryQueryInt(query["delayMs"], 0, MaxDelayMilliseconds, out var delayMs)
            || !TryQueryInt(query["stallAfter"], 0, MaxChunks, out var stallAfter))
        {
            await BadRequestAsync(ctx, "chunks, delayMs and stallAfter must be small non-negative integers").ConfigureAwait(false);
            return;
        }

        var stall = query.ContainsKey("stallAfter");
        ctx.Response.ContentType = "text/plain";
        await ctx.Response.StartAsync(ctx.RequestAborted).ConfigureAwait(false);
        for (var i = 0; i < chunks; i++)
        {
            if (stall && i == stallAfter)
            {
                break;
            }

            if (i > 0 && delayMs > 0)
            {
                await Task.Delay(delayMs, ctx.RequestAborted).ConfigureAwait(false);
            }

            await ctx.Response.WriteAsync($"chunk {i}\n", ctx.RequestAborted).ConfigureAwait(false);
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
        }

        if (stall)
        {
            // Hangs until the client goes away or the server stops (both abort the request).
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ConfigureAwait(false);
        }
    }

    private static Task RedirectAsync(HttpContext ctx)
    {
        if (!TryRouteInt(ctx, "n", 0, 1000, out var n))
        {
            return BadRequestAsync(ctx, "n must be 0..1000");
        }

        return n == 0 ? TextAsync(ctx, "redirected") : RedirectWithAsync(ctx, $"/redirect/{n - 1}", StatusCodes.Status302Found);
    }

    private static Task RedirectToAsync(HttpContext ctx)
    {
        var url = ctx.Request.Query["url"].ToString();
        var statusText = ctx.Request.Query["status"].ToString();
        var status = statusText.Length == 0 ? 302 : int.TryParse(statusText, CultureInfo.InvariantCulture, out var s) ? s : -1;
        if (url.Length == 0 || status is not (301 or 302 or 303 or 307 or 308))
        {
            return BadRequestAsync(ctx, "url is required and status must be 301, 302, 303, 307 or 308");
        }

        return RedirectWithAsync(ctx, url, status);
    }

    private static Task RedirectLoopAsync(HttpContext ctx) => (ctx.Request.RouteValues["side"] as string) switch
    {
        "a" => RedirectWithAsync(ctx, "/redirect-loop/b", StatusCodes.Status302Found),
        "b" => RedirectWithAsync(ctx, "/redirect-loop/a", StatusCodes.Status302Found),
        _ => BadRequestAsync(ctx, "side must be a or b"),
    };

    private static Task RedirectWithAsync(HttpContext ctx, string location, int status)
    {
        ctx.Response.Headers.Location = location;
        return TextAsync(ctx, $"redirect to {location}", status);
    }

    private static Task CompressedAsync(HttpContext ctx, string coding, Lazy<byte[]> compressed)
    {
        ctx.Response.Headers.Vary = "Accept-Encoding";
        var accepted = ctx.Request.Headers.AcceptEncoding.ToString()
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Any(token => token.Split(';')[0].Trim().Equals(coding, StringComparison.OrdinalIgnoreCase) && !token.Replace(" ", "", StringComparison.Ordinal).EndsWith(";q=0", StringComparison.Ordinal));
        if (!accepted)
        {
            return BytesBodyAsync(ctx, Encoding.UTF8.GetBytes(CompressibleText), "text/plain; charset=utf-8");
        }

        ctx.Response.Headers.ContentEncoding = coding;
        return BytesBodyAsync(ctx, compressed.Value, "text/plain; charset=utf-8");
    }

    private static Task CharsetAsync(HttpContext ctx)
    {
        var name = ctx.Request.RouteValues["name"] as string ?? "";
        Encoding encoding;
        try
        {
            encoding = Encoding.GetEncoding(name);
        }
        catch (ArgumentException)
        {
            return BadRequestAsync(ctx, $"unknown charset '{name}'");
        }

        return BytesBodyAsync(ctx, encoding.GetBytes(CharsetText), $"text/plain; charset={name}");
    }

    private static Task BasicAuthAsync(HttpContext ctx)
    {
        var header = ctx.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
                return TextAsync(ctx, decoded);
            }
            catch (FormatException)
            {
                // Falls through to the challenge.
            }
        }

        ctx.Response.Headers.WWWAuthenticate = "Basic realm=\"tether\"";
        return TextAsync(ctx, "authentication required", StatusCodes.Status401Unauthorized);
    }

    private static Task SetCookiesAsync(HttpContext ctx)
    {
        foreach (var (name, values) in ctx.Request.Query)
        {
            ctx.Response.Headers.Append("Set-Cookie", $"{name}={values}; Path=/");
        }

        return TextAsync(ctx, "cookies set");
    }

    private static async Task UploadAsync(HttpContext ctx)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var length = await ReadBodyAsync(ctx, hash).ConfigureAwait(false);
        await TextAsync(ctx, $"{length} {Convert.ToHexStringLower(hash.GetHashAndReset())}").ConfigureAwait(false);
    }

    private static async Task ExpectAsync(HttpContext ctx)
    {
        // Kestrel sends "100 Continue" when the handler starts reading a body whose request asked for it.
        var length = await ReadBodyAsync(ctx, null).ConfigureAwait(false);
        await TextAsync(ctx, length.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
    }

    private static async Task<long> ReadBodyAsync(HttpContext ctx, IncrementalHash? hash)
    {
        var buffer = new byte[64 * 1024];
        long length = 0;
        int read;
        while ((read = await ctx.Request.Body.ReadAsync(buffer, ctx.RequestAborted).ConfigureAwait(false)) > 0)
        {
            hash?.AppendData(buffer, 0, read);
            length += read;
        }

        return length;
    }

    private static Task TextAsync(HttpContext ctx, string text, int status = StatusCodes.Status200OK)
    {
        ctx.Response.StatusCode = status;
        return BytesBodyAsync(ctx, Encoding.UTF8.GetBytes(text), "text/plain; charset=utf-8");
    }

    private static Task BadRequestAsync(HttpContext ctx, string message) => TextAsync(ctx, message, StatusCodes.Status400BadRequest);

    private static Task BytesBodyAsync(HttpContext ctx, byte[] body, string contentType)
    {
        ctx.Response.ContentType = contentType;
        ctx.Response.ContentLength = body.Length;
        return HttpMethods.IsHead(ctx.Request.Method) ? Task.CompletedTask : ctx.Response.Body.WriteAsync(body, ctx.RequestAborted).AsTask();
    }

    private static bool TryRouteInt(HttpContext ctx, string name, int min, int max, out int value) =>
        int.TryParse(ctx.Request.RouteValues[name] as string, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;

    private static bool TryQueryInt(Microsoft.Extensions.Primitives.StringValues raw, int min, int max, out int value)
    {
        value = 0;
        return raw.Count == 0 || (int.TryParse(raw.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max);
    }

    private static byte[] Compress(Func<Stream, Stream> wrap)
    {
        using var output = new MemoryStream();
        using (var compressor = wrap(output))
        {
            compressor.Write(Encoding.UTF8.GetBytes(CompressibleText));
        }

        return output.ToArray();
    }
}
