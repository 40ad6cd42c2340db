using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace Tether.Cli.Soak;

/// <summary>
/// The soak's own loopback server: Kestrel serving <c>GET /hello</c> over plain HTTP/1.1 and over TLS with ALPN
/// (HTTP/1.1 and HTTP/2; certificate from a CA made at start and trusted only by the soak's clients). It counts the
/// connections it accepts and, exactly, the connections on which it saw a reset (CORE-09): a connection middleware under
/// TLS wraps the transport's input, and a read that fails with <see cref="ConnectionResetException"/> (Kestrel's socket
/// transport reports <c>ECONNRESET</c> so) counts its connection once. A clean end of stream (the client's FIN) is
/// not a reset.
/// </summary>
public sealed class SoakServer : IAsyncDisposable
{
    private static readonly byte[] Hello = "Hello, world!"u8.ToArray();
    private readonly X509Certificate2 _serverCertificate;
    private WebApplication? _app;
    private long _accepted;
    private long _resets;
    private long _clientEnds;
    private int _open;

    private SoakServer(X509Certificate2 serverCertificate, X509Certificate2 ca)
    {
        _serverCertificate = serverCertificate;
        CaCertificates = [ca];
    }

    /// <summary>Gets the plain HTTP/1.1 base URL (<c>http://127.0.0.1:PORT/</c>).</summary>
    public Uri HttpBaseUri { get; private set; } = null!;

    /// <summary>Gets the TLS base URL (<c>https://127.0.0.1:PORT/</c>, ALPN h2 and http/1.1).</summary>
    public Uri HttpsBaseUri { get; private set; } = null!;

    /// <summary>Gets the CA that signed the server certificate (public part only): trust it for <see cref="HttpsBaseUri"/>.</summary>
    public X509Certificate2Collection CaCertificates { get; }

    /// <summary>Gets the number of connections accepted on both endpoints.</summary>
    public long AcceptedConnections => Interlocked.Read(ref _accepted);

    /// <summary>Gets the number of connections open now (the count drops after the server has finished with one,
    /// so a reset on it has been counted).</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    /// <summary>Gets the number of connections on which the server read a reset (RST) from the client.</summary>
    public long ResetConnections => Interlocked.Read(ref _resets);

    /// <summary>Gets the number of connections on which the server read the client's end of stream (a FIN) before
    /// any reset: the client closed them gracefully. A connection is counted here or in <see cref="ResetConnections"/>,
    /// never both, and only once the server has read to its end.</summary>
    public long ClientEndedConnections => Interlocked.Read(ref _clientEnds);

    /// <summary>Starts the server on 127.0.0.1, two ephemeral ports.</summary>
    /// <param name="cancellationToken">Stops the start.</param>
    /// <returns>The running server.</returns>
    public static async Task<SoakServer> StartAsync(CancellationToken cancellationToken = default)
    {
        (X509Certificate2 leaf, X509Certificate2 ca) = CreateCertificates();
        var server = new SoakServer(leaf, ca);
        try
        {
            await server.StartCoreAsync(cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Gets the URL of <paramref name="path"/> for the protocol: TLS for HTTP/2, plain HTTP otherwise.</summary>
    /// <param name="path">The path, e.g. <c>/hello</c>.</param>
    /// <param name="tls">True for the TLS endpoint.</param>
    /// <returns>The URL.</returns>
    public Uri Url(string path, bool tls) => new(tls ? HttpsBaseUri : HttpBaseUri, path);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            try
            {
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5)); // bounded: open connections are aborted after it
                await _app.StopAsync(stop.Token).ConfigureAwait(false);
            }
            finally
            {
                await _app.DisposeAsync().ConfigureAwait(false);
                _app = null;
            }
        }

        _serverCertificate.Dispose();
        foreach (X509Certificate2 c in CaCertificates)
        {
            c.Dispose();
        }
    }

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore().UseKestrelHttpsConfiguration();
        builder.Services.AddRoutingCore();
        ListenOptions? http = null, https = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                http = listen;
                listen.Protocols = HttpProtocols.Http1;
                listen.Use(Count);
            });
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                https = listen;
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.Use(Count); // under TLS: sees the raw transport
                listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificate = _serverCertificate });
            });
        });

        _app = builder.Build();
        // A fixed-length body, written in one piece with the head: when a client has the response, the server has sent
        // all of it and is waiting for the next request, so a client's reset is read there and counted. (Chunked, the
        // terminating chunk went out after the client could already have aborted; the send then failed, Kestrel
        // dropped the connection without reading again, and the reset went uncounted: 295 of 300 once.)
        _app.MapGet("/hello", static (HttpContext context) =>
        {
            context.Response.ContentLength = Hello.Length;
            return context.Response.Body.WriteAsync(Hello, context.RequestAborted).AsTask();
        });
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        HttpBaseUri = new Uri($"http://127.0.0.1:{PortOf(http)}/");
        HttpsBaseUri = new Uri($"https://127.0.0.1:{PortOf(https)}/");
    }

    private static int PortOf(ListenOptions? listen) =>
        listen?.IPEndPoint?.Port is int port and > 0 ? port : throw new IOException("Kestrel did not report the port it bound.");

    private ConnectionDelegate Count(ConnectionDelegate next) => async connection =>
    {
        Interlocked.Increment(ref _accepted);
        Interlocked.Increment(ref _open);
        connection.Transport = new ResetCountingPipe(connection.Transport, this);
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    };

    private void OnReset() => Interlocked.Increment(ref _resets);

    private void OnClientEnd() => Interlocked.Increment(ref _clientEnds);

    private static (X509Certificate2 Leaf, X509Certificate2 Ca) CreateCertificates()
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using ECDsa caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=tether soak CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using X509Certificate2 ca = caRequest.CreateSelfSigned(now.AddHours(-1), now.AddDays(2));

        using ECDsa leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=localhost", leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        using X509Certificate2 leaf = leafRequest.Create(ca, now.AddHours(-1), now.AddDays(1), serial);
        using X509Certificate2 leafWithKey = leaf.CopyWithPrivateKey(leafKey);

        // Kestrel on Linux wants a certificate whose key it can use for TLS: round-trip through PKCS#12.
        X509Certificate2 usable = X509CertificateLoader.LoadPkcs12(leafWithKey.Export(X509ContentType.Pkcs12), null);
        return (usable, X509CertificateLoader.LoadCertificate(ca.RawData));
    }

    private sealed class ResetCountingPipe(IDuplexPipe inner, SoakServer server) : IDuplexPipe
    {
        public PipeReader Input { get; } = new ResetCountingReader(inner.Input, server);

        public PipeWriter Output => inner.Output;
    }

    private sealed class ResetCountingReader(PipeReader inner, SoakServer server) : PipeReader
    {
        private int _counted;

        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                return Seen(await inner.ReadAsync(cancellationToken).ConfigureAwait(false));
            }
            catch (Exception ex) when (IsReset(ex))
            {
                Count(reset: true);
                throw;
            }
        }

        public override bool TryRead(out ReadResult result)
        {
            try
            {
                bool read = inner.TryRead(out result);
                if (read)
                {
                    Seen(result);
                }

                return read;
            }
            catch (Exception ex) when (IsReset(ex))
            {
                Count(reset: true);
                throw;
            }
        }

        // The end of the stream, not cancelled: the client's FIN (a reset surfaces as an exception instead).
        private ReadResult Seen(ReadResult result)
        {
            if (result.IsCompleted && !result.IsCanceled)
            {
                Count(reset: false);
            }

            return result;
        }

        private static bool IsReset(Exception ex) =>
            ex is ConnectionResetException
            || ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset };

        // Once per connection: whichever the server read first, the end of stream or a reset.
        private void Count(bool reset)
        {
            if (Interlocked.Exchange(ref _counted, 1) == 0)
            {
                if (reset)
                {
                    server.OnReset();
                }
                else
                {
                    server.OnClientEnd();
                }
            }
        }
    }
}
