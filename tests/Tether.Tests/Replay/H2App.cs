using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Tether.Tests.Replay;

/// <summary>
/// A Kestrel server speaking only HTTP/2 over TLS (ALPN h2) on <c>127.0.0.1:0</c>, running one request delegate: the
/// server side of an HTTP/2 bug replay that needs a handler of its own (a response before the body is read, a GOAWAY
/// while streams are open, a body never read). The certificate is self-signed for 127.0.0.1, so Tether
/// trusts it through <see cref="CaCertificates"/> and a plain <see cref="HttpClient"/> through
/// <see cref="NewPlainHandler"/>. Dispose stops Kestrel (it closes every connection it holds).
/// </summary>
internal sealed class H2App : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stopping = new();
    private int _accepted;
    private int _closed;

    private H2App(WebApplication app) => _app = app;

    public int Port { get; private set; }

    /// <summary>TCP connections Kestrel accepted so far.</summary>
    public int AcceptedConnections => Volatile.Read(ref _accepted);

    /// <summary>Connections Kestrel is done with (closed its side) so far.</summary>
    public int ClosedConnections => Volatile.Read(ref _closed);

    public Uri Url(string path = "/") => new($"https://127.0.0.1:{Port}{path}");

    /// <summary>The server's certificate without its key: Tether's trust anchor for it.</summary>
    public X509Certificate2Collection CaCertificates => ServerCertificates;

    /// <summary>The servers' certificate without its key (for a server that is not an H2App, such as RawH2Server).</summary>
    public static X509Certificate2Collection ServerCertificates => [X509CertificateLoader.LoadCertificate(s_certificate.Value.Export(X509ContentType.Cert))];

    // One self-signed certificate for 127.0.0.1 (its own trust anchor) for every H2App of the run.
    private static readonly Lazy<X509Certificate2> s_certificate = new(CreateCertificate);

    /// <summary>The servers' certificate with its key (also the raw HTTP/2 server's).</summary>
    internal static X509Certificate2 Certificate => s_certificate.Value;

    /// <summary>Starts the server; <paramref name="configure"/> may set Kestrel's limits (HTTP/2 streams, windows);
    /// <paramref name="protocols"/> replaces HTTP/2 (for the same case over HTTP/1.1 on TLS).</summary>
    public static async Task<H2App> StartAsync(RequestDelegate handler, Action<KestrelServerLimits>? configure = null,
        HttpProtocols protocols = HttpProtocols.Http2) =>
        await StartAsync((context, _) => handler(context), configure, protocols);

    /// <summary>Starts the server with a handler that is given a token cancelled when its request is aborted or when
    /// the server is being disposed: a handler that waits on it never holds up the dispose (Kestrel's graceful stop
    /// would wait for it, and over HTTP/1.1 a request whose body Kestrel stopped reading is not seen aborted).</summary>
    public static async Task<H2App> StartAsync(Func<HttpContext, CancellationToken, Task> handler,
        Action<KestrelServerLimits>? configure = null, HttpProtocols protocols = HttpProtocols.Http2)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore().UseKestrelHttpsConfiguration();
        ListenOptions? listenOptions = null;
        H2App? self = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            configure?.Invoke(kestrel.Limits);
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listenOptions = listen;
                listen.Protocols = protocols;
                listen.Use(next => async context =>
                {
                    Interlocked.Increment(ref self!._accepted);
                    try
                    {
                        await next(context);
                    }
                    finally
                    {
                        Interlocked.Increment(ref self._closed);
                    }
                });
                listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificate = s_certificate.Value });
            });
        });
        var app = builder.Build();
        self = new H2App(app);
        app.Run(async context =>
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, self._stopping.Token);
            await handler(context, linked.Token);
        });
        await app.StartAsync(Xunit.TestContext.Current.CancellationToken);
        self.Port = listenOptions!.IPEndPoint!.Port;
        return self;
    }

    /// <summary>The oracle's handler: a default <see cref="SocketsHttpHandler"/> trusting only the server's certificate.</summary>
    public static SocketsHttpHandler NewPlainHandler() => new() { SslOptions = { RemoteCertificateValidationCallback = TrustServer } };

    /// <summary>Accepts exactly the servers' certificate (for a <see cref="SocketsHttpHandler"/> set up by the test).</summary>
    public static bool TrustServer(object sender, X509Certificate? certificate, X509Chain? chain, System.Net.Security.SslPolicyErrors errors) =>
        certificate?.GetCertHashString() == s_certificate.Value.Thumbprint;

    private static X509Certificate2 CreateCertificate()
    {
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, System.Security.Cryptography.HashAlgorithmName.SHA256,
            System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}
