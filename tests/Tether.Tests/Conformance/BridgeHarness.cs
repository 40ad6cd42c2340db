using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Tether.Diagnostics;
using Xunit;

namespace Tether.Tests.Conformance.Bridge;

/// <summary>
/// The differential harness of <see cref="BridgeConformanceTests"/> (self-contained: its own recording Kestrel server
/// and comparison, nothing shared with other conformance classes). One case is sent twice against the same loopback
/// servers: through <c>HttpClient</c> over a default <see cref="SocketsHttpHandler"/> (the oracle) and through
/// <c>HttpClient</c> over <see cref="TetherHttpMessageHandler"/>, with the same handler settings; the harness records
/// what the servers received and what the caller got, in one canonical text each, so a test compares them with one
/// assertion whose failure shows the difference.
/// </summary>
internal static class BridgeHarness
{
    /// <summary>Request headers compared between the two runs (the ones a caller's correctness depends on; Host,
    /// traceparent and the like are the transport's business).</summary>
    private static readonly string[] s_requestHeaders =
    [
        "Content-Type", "Content-Length", "Transfer-Encoding", "Cookie", "Authorization", "Proxy-Authorization",
        "Accept-Encoding", "X-Test", "Content-Language",
    ];

    /// <summary>Response headers compared (as the caller sees them, content headers included).</summary>
    private static readonly string[] s_responseHeaders =
    [
        "Content-Type", "Content-Length", "Content-Encoding", "Location", "Set-Cookie", "X-Hop",
    ];

    /// <summary>Runs <paramref name="send"/> through both handlers and returns the two observations.</summary>
    /// <param name="servers">The servers of the case (their recordings are cleared before each run).</param>
    /// <param name="settings">Handler settings applied to both handlers alike.</param>
    /// <param name="send">The caller's code: sends through the given client and returns the response (or throws).</param>
    /// <param name="ct">The test's token.</param>
    public static async Task<(Observation Oracle, Observation Tether)> RunBothAsync(
        RecordingServer[] servers, HandlerSettings settings, Func<HttpClient, CancellationToken, Task<HttpResponseMessage>> send,
        CancellationToken ct)
    {
        var oracleHandler = new SocketsHttpHandler();
        settings.Apply(oracleHandler);
        Observation oracle;
        using (var http = new HttpClient(oracleHandler))
        {
            oracle = await ObserveAsync(servers, http, send, ct);
        }

        var pool = new ConnectionPool();
        Observation tether;
        try
        {
            var handler = new TetherHttpMessageHandler(pool, o => o.Name = "bridge-conformance");
            settings.Apply(handler);
            using (var http = new HttpClient(handler))
            {
                tether = await ObserveAsync(servers, http, send, ct);

                // Every response was read or disposed by ObserveAsync: nothing of this request may still be in flight.
                Assert.True(handler.Client.InFlight == 0, $"the bridge still counts {handler.Client.InFlight} requests in flight after the case");
            }
        }
        finally
        {
            await pool.CloseAsync(ct);
        }

        // Leaves nothing behind: the pool is empty and no ledger entry points at the case's servers.
        Assert.Empty(pool.Snapshot());
        var ports = servers.Select(static s => $":{s.Port}").ToArray();
        Assert.DoesNotContain(SocketLedger.Snapshot(), e => ports.Any(p => e.HostKey.EndsWith(p, StringComparison.Ordinal)));
        return (oracle, tether);
    }

    private static async Task<Observation> ObserveAsync(RecordingServer[] servers, HttpClient http,
        Func<HttpClient, CancellationToken, Task<HttpResponseMessage>> send, CancellationToken ct)
    {
        foreach (var server in servers)
        {
            server.Clear();
        }

        string caller;
        try
        {
            using var response = await send(http, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            var text = new StringBuilder();
            text.Append("status ").Append((int)response.StatusCode).Append('\n');
            text.Append("final ").Append(Describe(servers, response.RequestMessage?.RequestUri)).Append('\n');
            text.Append("final method ").Append(response.RequestMessage?.Method.Method).Append('\n');
            foreach (var name in s_responseHeaders)
            {
                if (response.Headers.NonValidated.TryGetValues(name, out var values)
                    || response.Content.Headers.NonValidated.TryGetValues(name, out values))
                {
                    text.Append(name).Append(": ").Append(string.Join(" | ", values.Select(v => Ports(servers, v)))).Append('\n');
                }
            }

            text.Append("body ").Append(body);
            caller = text.ToString();
        }
        catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
        {
            caller = ex is HttpRequestException request
                ? $"throws HttpRequestException({request.HttpRequestError})"
                : $"throws {ex.GetType().Name}";
        }

        var received = servers.SelectMany(static s => s.Requests.Select(r => (Server: s, Request: r)))
            .OrderBy(static x => x.Request.Sequence)
            .Select(x => new ReceivedRequest(x.Server.Label, x.Request.Method, x.Request.PathAndQuery,
                s_requestHeaders.Where(x.Request.Headers.ContainsKey).ToDictionary(h => h, h => x.Request.Headers[h], StringComparer.OrdinalIgnoreCase),
                x.Request.Body))
            .ToList();
        return new Observation(received, caller);
    }

    private static string Describe(RecordingServer[] servers, Uri? uri) =>
        uri is null ? "(none)" : Ports(servers, uri.GetComponents(UriComponents.SchemeAndServer | UriComponents.PathAndQuery | UriComponents.Fragment, UriFormat.UriEscaped));

    /// <summary>Replaces each server's port by its label so texts do not depend on port numbers.</summary>
    private static string Ports(RecordingServer[] servers, string text)
    {
        foreach (var server in servers)
        {
            text = text.Replace($"127.0.0.1:{server.Port}", $"server-{server.Label}", StringComparison.Ordinal);
        }

        return text;
    }

    public static byte[] Gzip(string text)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(Encoding.UTF8.GetBytes(text));
        }

        return output.ToArray();
    }

    public static byte[] Brotli(string text)
    {
        using var output = new MemoryStream();
        using (var br = new BrotliStream(output, CompressionLevel.Fastest))
        {
            br.Write(Encoding.UTF8.GetBytes(text));
        }

        return output.ToArray();
    }

    public static byte[] Zlib(string text)
    {
        using var output = new MemoryStream();
        using (var zlib = new ZLibStream(output, CompressionLevel.Fastest))
        {
            zlib.Write(Encoding.UTF8.GetBytes(text));
        }

        return output.ToArray();
    }
}

/// <summary>The handler settings a case sets on both handlers (null: the handler's default).</summary>
internal sealed record HandlerSettings(
    bool? AllowAutoRedirect = null, int? MaxAutomaticRedirections = null, bool? UseCookies = null,
    DecompressionMethods? AutomaticDecompression = null)
{
    public static HandlerSettings Default { get; } = new();

    public void Apply(SocketsHttpHandler handler)
    {
        handler.AllowAutoRedirect = AllowAutoRedirect ?? handler.AllowAutoRedirect;
        handler.MaxAutomaticRedirections = MaxAutomaticRedirections ?? handler.MaxAutomaticRedirections;
        handler.UseCookies = UseCookies ?? handler.UseCookies;
        handler.AutomaticDecompression = AutomaticDecompression ?? handler.AutomaticDecompression;
    }

    public void Apply(TetherHttpMessageHandler handler)
    {
        handler.AllowAutoRedirect = AllowAutoRedirect ?? handler.AllowAutoRedirect;
        handler.MaxAutomaticRedirections = MaxAutomaticRedirections ?? handler.MaxAutomaticRedirections;
        handler.UseCookies = UseCookies ?? handler.UseCookies;
        handler.AutomaticDecompression = AutomaticDecompression ?? handler.AutomaticDecompression;
    }
}

/// <summary>One request as a server received it (compared headers only).</summary>
internal sealed record ReceivedRequest(string Server, string Method, string PathAndQuery, Dictionary<string, string> Headers, string Body)
{
    public override string ToString() =>
        $"{Server}: {Method} {PathAndQuery}" +
        string.Concat(Headers.OrderBy(static h => h.Key, StringComparer.OrdinalIgnoreCase).Select(static h => $"\n    {h.Key}: {h.Value}")) +
        (Body.Length > 0 ? $"\n    body: {Body}" : string.Empty);
}

/// <summary>What the servers received and what the caller got, for one run of a case.</summary>
internal sealed record Observation(List<ReceivedRequest> Received, string Caller)
{
    /// <summary>The canonical text compared between the runs.</summary>
    public string Text => "received:\n  " + string.Join("\n  ", Received) + "\ncaller:\n  " + Caller.Replace("\n", "\n  ", StringComparison.Ordinal);

    /// <summary>This observation with one received header changed (null removes it): states an intended difference.</summary>
    public Observation WithReceivedHeader(int index, string header, string? value)
    {
        var copy = Received.Select(static r => r with { Headers = new Dictionary<string, string>(r.Headers, StringComparer.OrdinalIgnoreCase) }).ToList();
        if (value is null)
        {
            copy[index].Headers.Remove(header);
        }
        else
        {
            copy[index].Headers[header] = value;
        }

        return this with { Received = copy };
    }
}

/// <summary>
/// A Kestrel server on 127.0.0.1:0 (HTTP/1.1) that records every request (method, path and query, headers, body) and
/// answers by path; see <see cref="HandleAsync"/> for the routes. Counts requests in flight and their maximum.
/// </summary>
internal sealed class RecordingServer : IAsyncDisposable
{
    private static long s_sequence;
    private readonly ConcurrentQueue<Recorded> _requests = new();
    private WebApplication? _app;
    private int _inFlight;
    private int _maxInFlight;
    private bool _released;

    private RecordingServer(string label) => Label = label;

    public string Label { get; }

    public int Port { get; private set; }

    /// <summary>Another server that redirect routes can point at (<c>/to-other/{code}</c>).</summary>
    public RecordingServer? Other { get; set; }

    /// <summary>Requests that <c>/barrier</c> waits for before answering (0: answer at once).</summary>
    public int BarrierTarget { get; set; }

    /// <summary>The most requests that were in the handler at the same time.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public IReadOnlyList<Recorded> Requests => _requests.ToArray();

    public Uri Url(string pathAndQuery) => new($"http://127.0.0.1:{Port}{pathAndQuery}");

    public void Clear()
    {
        _requests.Clear();
        Volatile.Write(ref _maxInFlight, 0);
        Volatile.Write(ref _released, false);
    }

    public static async Task<RecordingServer> StartAsync(string label, CancellationToken ct)
    {
        var server = new RecordingServer(label);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore();
        ListenOptions? http = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                http = listen;
                listen.Protocols = HttpProtocols.Http1;
            });
        });
        var app = builder.Build();
        app.Run(server.HandleAsync);
        await app.StartAsync(ct);
        server._app = app;
        server.Port = http?.IPEndPoint?.Port ?? throw new IOException("Kestrel did not report its port.");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _app.StopAsync(stop.Token);
            await _app.DisposeAsync();
        }
    }

    /// <summary>Routes: <c>/echo</c> (200, body = request body); <c>/status/{code}</c>; <c>/redirect/{code}?to=X</c>
    /// (code with Location X, X_Hop header); <c>/stalled-redirect?to=X</c> (302 announcing 100 bytes, sending 3, then
    /// silent for 20 s); <c>/to-other/{code}?path=P</c> (redirect to the other server's P);
    /// <c>/loop/{n}</c> (302 to /loop/{n+1}); <c>/set-cookie?c=NAME=V</c> (200 with Set-Cookie);
    /// <c>/cookie-redirect?c=NAME=V&amp;to=X</c> (302 with Set-Cookie); <c>/gzip</c>, <c>/br</c>, <c>/deflate</c>
    /// (an encoded "hello, decoded" with Content-Encoding); <c>/barrier</c> (waits until <see cref="BarrierTarget"/>
    /// requests are in flight, at most 20 s, then 200).</summary>
    private async Task HandleAsync(HttpContext context)
    {
        var now = Interlocked.Increment(ref _inFlight);
        InterlockedMax(ref _maxInFlight, now);
        try
        {
            var request = context.Request;
            using var reader = new StreamReader(request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            _requests.Enqueue(new Recorded(
                Interlocked.Increment(ref s_sequence), request.Method, request.Path + request.QueryString,
                request.Headers.ToDictionary(static h => h.Key, static h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                body));
            var segments = request.Path.Value!.Split('/', StringSplitOptions.RemoveEmptyEntries);
            var response = context.Response;
            switch (segments.FirstOrDefault())
            {
                case "echo":
                    response.ContentType = "text/plain";
                    await response.WriteAsync($"{request.Method} {body}", context.RequestAborted);
                    break;
                case "status":
                    response.StatusCode = int.Parse(segments[1], System.Globalization.CultureInfo.InvariantCulture);
                    await response.WriteAsync($"status {response.StatusCode}", context.RequestAborted);
                    break;
                case "redirect":
                    response.StatusCode = int.Parse(segments[1], System.Globalization.CultureInfo.InvariantCulture);
                    response.Headers.Location = request.Query["to"].ToString();
                    response.Headers["X-Hop"] = "redirect";
                    await response.WriteAsync("moved", context.RequestAborted);
                    break;
                case "to-other":
                    response.StatusCode = int.Parse(segments[1], System.Globalization.CultureInfo.InvariantCulture);
                    response.Headers.Location = Other!.Url(request.Query["path"].ToString()).ToString();
                    break;
                case "stalled-redirect":
                    // A 302 that announces 100 body bytes, sends 3 and stalls (issue 15 item 5's shape).
                    response.StatusCode = 302;
                    response.Headers.Location = request.Query["to"].ToString();
                    response.ContentLength = 100;
                    await response.Body.WriteAsync("abc"u8.ToArray(), context.RequestAborted);
                    await response.Body.FlushAsync(context.RequestAborted);
                    await Task.Delay(TimeSpan.FromSeconds(20), context.RequestAborted);
                    break;
                case "loop":
                    var n = int.Parse(segments[1], System.Globalization.CultureInfo.InvariantCulture);
                    response.StatusCode = 302;
                    response.Headers.Location = $"/loop/{n + 1}";
                    break;
                case "set-cookie":
                    response.Headers.SetCookie = request.Query["c"].ToString() + "; Path=/";
                    await response.WriteAsync("cookie set", context.RequestAborted);
                    break;
                case "cookie-redirect":
                    response.StatusCode = 302;
                    response.Headers.SetCookie = request.Query["c"].ToString() + "; Path=/";
                    response.Headers.Location = request.Query["to"].ToString();
                    break;
                case "gzip" or "br" or "deflate":
                    var coding = segments[0];
                    var bytes = coding switch
                    {
                        "gzip" => BridgeHarness.Gzip("hello, decoded"),
                        "br" => BridgeHarness.Brotli("hello, decoded"),
                        _ => BridgeHarness.Zlib("hello, decoded"),
                    };
                    response.ContentType = "text/plain";
                    response.Headers.ContentEncoding = coding;
                    response.ContentLength = bytes.Length;
                    await response.Body.WriteAsync(bytes, context.RequestAborted);
                    break;
                case "barrier":
                    var deadline = DateTime.UtcNow.AddSeconds(20);
                    while (!Volatile.Read(ref _released) && DateTime.UtcNow < deadline)
                    {
                        if (Volatile.Read(ref _inFlight) >= BarrierTarget)
                        {
                            // Latched: the first answer lowers the count, and the others must not wait again.
                            Volatile.Write(ref _released, true);
                            break;
                        }

                        await Task.Delay(10, context.RequestAborted);
                    }

                    await response.WriteAsync("released", context.RequestAborted);
                    break;
                default:
                    response.StatusCode = 404;
                    break;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    /// <summary>One recorded request.</summary>
    internal sealed record Recorded(long Sequence, string Method, string PathAndQuery, Dictionary<string, string> Headers, string Body);
}
