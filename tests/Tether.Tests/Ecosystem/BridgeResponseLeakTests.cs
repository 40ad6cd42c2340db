using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Tether.Diagnostics;
using Tether.Tests.Support;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Ecosystem;

/// <summary>
/// DIAG-09 through the HttpClient bridge (newcomer review 2026-12-01, item 1): streamed responses dropped undisposed are
/// found by the GC, their connections closed and released from the ledger, and a leak warning names where they were
/// requested; a plain HttpClient over a default SocketsHttpHandler is the oracle (its sockets are finalized).
/// Each test starts its own servers; the clean check is the ledger and the census towards those ports.
/// </summary>
public sealed class BridgeResponseLeakTests
{
    private const int Dropped = 20;

    /// <summary>Bound on the wait for the GC to find the dropped responses and for their sockets to close: a full
    /// blocking collection plus 20 aborts take well under a second on a loaded 2-core machine; 30 s is only spent when
    /// the test fails.</summary>
    private static readonly TimeSpan s_gcWait = TimeSpan.FromSeconds(30);

    [Fact]
    [Trait("Spec", "HTTP-11")]
    [Trait("Spec", "DIAG-09")]
    public async Task HTTP_11_DIAG_09_dropped_streamed_bridge_responses_are_freed_by_the_GC_and_warned_like_a_plain_HttpClient()
    {
        // Newcomer review 2026-12-01, item 1: 200 undisposed ResponseHeadersRead responses through
        // `new HttpClient(new TetherHttpMessageHandler())`, dropped and collected, left 200 ESTABLISHED sockets and 200
        // ledger entries for ever, with no warning: the client's in-flight fetch held the caller's response message.
        var ct = TestContext.Current.CancellationToken;
        await using var plainServer = await KestrelTestServer.StartAsync();
        await using var tetherServer = await KestrelTestServer.StartAsync();

        // Oracle: a plain HttpClient. The dropped connections are unreachable and their sockets are finalized.
        using (var plain = new HttpClient(new SocketsHttpHandler()))
        {
            await DropStreamedResponsesAsync(plain, plainServer.Url("/bytes/1000000"), ct);
            await CollectUntilAsync(() => OpenTowards(plainServer.Port, clientSideOnly: true) == 0,
                "the plain HttpClient's dropped connections to be finalized (no ESTABLISHED/CLOSE_WAIT client socket)");
        }

        // Tether through the bridge: the same, plus the ledger empties and warnings name where the handler was made
        // (first round: the handler records no callers until one of its responses was dropped) and then the requesting
        // method (second round).
        var log = new CapturingLogger();
        using (var http = new HttpClient(new TetherHttpMessageHandler(configure: o => o.Logger = log)))
        {
            for (var round = 0; round < 2; round++)
            {
                await DropStreamedResponsesAsync(http, tetherServer.Url("/bytes/1000000"), ct);
                // No count is asserted before the explicit GC (a collection of the runtime's own may already have found
                // some); the warnings' total below proves that all were dropped undisposed and found by the GC.
                await CollectUntilAsync(
                    () => Ledger.Towards(tetherServer.Port).Count == 0 && OpenTowards(tetherServer.Port, clientSideOnly: true) == 0,
                    "the bridge's dropped responses to be collected: no ledger entry and no ESTABLISHED/CLOSE_WAIT client " +
                    "socket towards the server");
            }

            // The handler is still usable: the slots the dropped responses held are free again.
            using var after = await http.GetAsync(tetherServer.Url("/hello"), ct);
            Assert.Equal(KestrelTestServer.HelloText, await after.Content.ReadAsStringAsync(ct));
        }

        // The warning is written by the leak tracker's timer (TetherDiagnostics.LeakReportDelay, 1 s by default) to
        // the client's logger; bounded wait (30 s, a wide margin on a loaded machine).
        // A site's warning repeats at most once a minute (docs/observability.md, "reported at most once a minute"), and
        // under load a collection during the first round can find some of its responses early: the handler then records
        // callers for the rest of that round, so the requesting method's site is reported in round 1 and round 2's count
        // for it is held back for a minute (one loaded run saw 22 of 40). After the usual report delay has passed, the
        // held-back counts are flushed as an application would at shutdown (TetherDiagnostics.FlushLeakReports); the total
        // still has to be all 40.
        var named = $"{nameof(BridgeResponseLeakTests)}.{nameof(DropStreamedResponsesAsync)}";
        var sw = Stopwatch.StartNew();
        while (Warned(log) < 2 * Dropped && sw.Elapsed < s_gcWait)
        {
            await Task.Delay(50, ct);
            if (sw.Elapsed > 2 * TetherDiagnostics.LeakReportDelay)
            {
                TetherDiagnostics.FlushLeakReports();
            }
        }

        Assert.Equal(2 * Dropped, Warned(log));
        var warnings = log.Entries.Where(e => e.Id.Name == "ResponseNotDisposed").ToArray();
        Assert.Contains(warnings, w => w.Message.Contains("where the handler was created", StringComparison.Ordinal)
            && w.Message.Contains(nameof(HTTP_11_DIAG_09_dropped_streamed_bridge_responses_are_freed_by_the_GC_and_warned_like_a_plain_HttpClient), StringComparison.Ordinal));
        // One warning for the requesting method, or two when the repeat limit held part of it back (above).
        Assert.Contains(warnings, w => w.Message.Contains(named, StringComparison.Ordinal));
        var warning = warnings.First(w => w.Message.Contains(named, StringComparison.Ordinal));
        Assert.Contains("HttpResponseMessage (streamed) was garbage-collected", warning.Message, StringComparison.Ordinal);
        Assert.Contains("using var response = await http.GetAsync", warning.Message, StringComparison.Ordinal);

        await LeakCheck.Start(plainServer.Port).AssertCleanAsync();
        await LeakCheck.Start(tetherServer.Port).AssertCleanAsync();
    }

    private static long Warned(CapturingLogger log) =>
        log.Entries.Where(e => e.Id.Name == "ResponseNotDisposed").Sum(e => (long)e.Fields["Count"]!);

    [Fact]
    [Trait("Spec", "HTTP-11")]
    [Trait("Spec", "DIAG-09")]
    public async Task HTTP_11_DIAG_09_dropped_streamed_bridge_responses_over_HTTP2_are_freed_by_the_GC()
    {
        // Newcomer review 2026-12-01, item 1, over HTTP/2: the handler's stream keeps the response message it made, so
        // the caller's response must be another object, or a dropped one stays reachable through the connection.
        var ct = TestContext.Current.CancellationToken;
        await using var server = await KestrelTestServer.StartAsync(new() { Https = true });
        var port = server.HttpsBaseUri!.Port;
        var log = new CapturingLogger();
        var handler = new TetherHttpMessageHandler(configure: o =>
        {
            o.Logger = log;
            o.Defaults.CaCertificates = [server.CaCertificate];
        });
        using (var http = new HttpClient(handler)
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        })
        {
            for (var round = 0; round < 2; round++) // the second round's warnings name the method (see the HTTP/1.1 test)
            {
                await DropStreamedHttp2ResponsesAsync(http, server.HttpsUrl("/bytes/1000000"), ct);
                await CollectUntilAsync(() => handler.Client.InFlight == 0,
                    "the bridge's dropped HTTP/2 responses to be collected (the handler's client has nothing in flight)");
            }

            using var after = await http.GetAsync(server.HttpsUrl("/hello"), ct);
            Assert.Equal(HttpVersion.Version20, after.Version);
            Assert.Equal(KestrelTestServer.HelloText, await after.Content.ReadAsStringAsync(ct));
        }

        var named = $"{nameof(BridgeResponseLeakTests)}.{nameof(DropStreamedHttp2ResponsesAsync)}";
        bool Named() => log.Entries.Any(e => e.Id.Name == "ResponseNotDisposed" && e.Message.Contains(named, StringComparison.Ordinal));
        var sw = Stopwatch.StartNew();
        while (!Named() && sw.Elapsed < s_gcWait)
        {
            await Task.Delay(50, ct);
        }

        Assert.True(Named(), $"no ResponseNotDisposed warning naming {named} within 30 s");
        await LeakCheck.Start(port).AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "HTTP-11")]
    public async Task HTTP_11_http2_trailers_reach_the_bridged_response_as_with_a_plain_HttpClient()
    {
        // Newcomer review 2026-12-01, item 1: over HTTP/2 the caller now gets a message of its own (the handler's stream
        // keeps the handler's); the trailers (gRPC's status, for one) must still arrive on it at the end of the body.
        var ct = TestContext.Current.CancellationToken;
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore().UseKestrelHttpsConfiguration();
        using var certificate = SelfSignedLocalhost();
        ListenOptions? https = null;
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            https = listen;
            listen.Protocols = HttpProtocols.Http2;
            listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificate = certificate });
        }));
        await using var app = builder.Build();
        app.Run(async context =>
        {
            context.Response.DeclareTrailer("x-status");
            await context.Response.WriteAsync("body", context.RequestAborted);
            context.Response.AppendTrailer("x-status", "done");
        });
        await app.StartAsync(ct);
        var port = https!.IPEndPoint!.Port;
        var url = new Uri($"https://localhost:{port}/");
        var check = LeakCheck.Start(port);

        async Task<(string Body, string? Trailer)> GetAsync(HttpMessageHandler handler)
        {
            using var http = new HttpClient(handler)
            {
                DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct);
            Assert.Equal(HttpVersion.Version20, response.Version);
            var body = await response.Content.ReadAsStringAsync(ct);
            return (body, response.TrailingHeaders.TryGetValues("x-status", out var values) ? string.Join(",", values) : null);
        }

        using var trusted = X509CertificateLoader.LoadCertificate(certificate.Export(X509ContentType.Cert));
        var plain = await GetAsync(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == trusted.Thumbprint },
        });
        var bridged = await GetAsync(new TetherHttpMessageHandler(configure: o => o.Defaults.CaCertificates = [trusted]));
        Assert.Equal(("body", "done"), plain);
        Assert.Equal(plain, bridged);
        await check.AssertCleanAsync();
    }

    /// <summary>A self-signed server certificate for localhost (its own trust anchor), made for one test.</summary>
    private static X509Certificate2 SelfSignedLocalhost()
    {
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, System.Security.Cryptography.HashAlgorithmName.SHA256,
            System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Sends <see cref="Dropped"/> streamed GETs and drops every response unread and undisposed. Not inlined,
    /// so no local of the caller keeps a response reachable.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task DropStreamedResponsesAsync(HttpClient http, Uri url, CancellationToken ct)
    {
        for (var i = 0; i < Dropped; i++)
        {
            _ = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct);
        }
    }

    /// <summary>As <see cref="DropStreamedResponsesAsync"/>, from a site of its own: a leak warning is given once a
    /// minute per allocation site, so each test drops from its own method.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task DropStreamedHttp2ResponsesAsync(HttpClient http, Uri url, CancellationToken ct)
    {
        for (var i = 0; i < Dropped; i++)
        {
            // HTTP/2 or an error: the client asks for RequestVersionExact 2.0.
            _ = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct);
        }
    }

    private static async Task CollectUntilAsync(Func<bool> done, string what)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            await Task.Yield();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            if (done())
            {
                return;
            }

            if (sw.Elapsed > s_gcWait)
            {
                Assert.Fail($"waited {s_gcWait.TotalSeconds:0} s for {what}; ledger: " +
                    string.Join("; ", SocketLedger.Snapshot()));
            }

            await Task.Delay(50);
        }
    }

    /// <summary>ESTABLISHED or CLOSE_WAIT sockets of this process towards <paramref name="port"/> (client ends only, or
    /// also the in-process server's ends).</summary>
    private static int OpenTowards(int port, bool clientSideOnly) =>
        SocketCensus.Take().TcpSockets.Count(s => s.State is TcpState.Established or TcpState.CloseWait
            && (s.Remote.Port == port || (!clientSideOnly && s.Local.Port == port)));
}
