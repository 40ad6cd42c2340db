using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace Tether.TestServer;

/// <summary>
/// An in-process Kestrel server on <c>127.0.0.1:0</c> with the endpoints every Tether test, the
/// <c>tether soak</c> command and the benchmarks use (see README.md in this project).
/// </summary>
/// <example>
/// <code>
/// await using var server = await KestrelTestServer.StartAsync();
/// var url = server.Url("/hello");            // http://127.0.0.1:PORT/hello
/// // ... fetch it ...
/// Assert.Equal(1, server.AcceptedConnections);
/// </code>
/// </example>
/// <remarks>
/// Every TCP connection Kestrel accepts on any endpoint passes through a connection middleware that
/// counts it (<see cref="AcceptedConnections"/>, <see cref="OpenConnections"/>) and remembers it, so
/// <see cref="StopAsync"/> can abort every connection that is still open. Logging is off. Members are
/// thread-safe. The server owns its sockets; disposing it closes all of them.
/// </remarks>
public sealed partial class KestrelTestServer : IAsyncDisposable
{
    private static readonly TimeSpan s_stopTimeout = TimeSpan.FromSeconds(5);

    private readonly KestrelTestServerOptions _options;
    private readonly ConcurrentDictionary<string, ConnectionContext> _connections = new();
    private readonly DigestServer _digest = new();
    private WebApplication? _app;
    private ListenOptions? _http;
    private ListenOptions? _ipv6;
    private ListenOptions? _https;
    private ListenOptions? _httpsClientCert;
    private long _accepted;
    private int _open;
    private int _stopped;

    private KestrelTestServer(KestrelTestServerOptions options) => _options = options;

    /// <summary>The plain HTTP base address, <c>http://127.0.0.1:PORT/</c>.</summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary>The port of <see cref="BaseUri"/>.</summary>
    public int Port { get; private set; }

    /// <summary>The HTTPS base address (<c>https://127.0.0.1:PORT/</c>; the certificate also names localhost) when <see cref="KestrelTestServerOptions.Https"/> is set.</summary>
    public Uri? HttpsBaseUri { get; private set; }

    /// <summary>The base address of the endpoint that requires a client certificate, when enabled.</summary>
    public Uri? HttpsClientCertBaseUri { get; private set; }

    /// <summary>The IPv6 base address, <c>http://[::1]:PORT/</c>, when <see cref="KestrelTestServerOptions.IPv6"/> is set.</summary>
    public Uri? Ipv6BaseUri { get; private set; }

    /// <summary>The test CA that signs <see cref="ServerCertificate"/> and client certificates (public part only).</summary>
    public X509Certificate2 CaCertificate { get; } = TestCertificates.PublicCopy(TestCertificates.Ca);

    /// <summary>The certificate the HTTPS endpoints present (public part only), valid for localhost, 127.0.0.1 and ::1.</summary>
    public X509Certificate2 ServerCertificate { get; } = TestCertificates.PublicCopy(TestCertificates.Localhost);

    /// <summary>TCP connections accepted on any endpoint since start or the last <see cref="ResetCounters"/>.</summary>
    public long AcceptedConnections => Interlocked.Read(ref _accepted);

    /// <summary>TCP connections currently open on any endpoint.</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    /// <summary>Digest challenges (401 with <c>WWW-Authenticate: Digest</c>) issued since start or the last reset.</summary>
    public long DigestChallenges => _digest.Challenges;

    /// <summary>Starts a server; the returned server is listening.</summary>
    /// <param name="options">Optional switches; <see langword="null"/> means plain HTTP on 127.0.0.1 only.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running server, which the caller must dispose.</returns>
    /// <exception cref="IOException">An endpoint could not be bound.</exception>
    public static async Task<KestrelTestServer> StartAsync(KestrelTestServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        var server = new KestrelTestServer(options ?? new KestrelTestServerOptions());
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

    /// <summary>Builds an absolute plain-HTTP URL on this server.</summary>
    /// <param name="pathAndQuery">A path such as <c>/hello?x=1</c>; a missing leading slash is added.</param>
    /// <returns>The absolute URL.</returns>
    public Uri Url(string pathAndQuery) => Combine(BaseUri, pathAndQuery);

    /// <summary>Builds an absolute HTTPS URL on this server.</summary>
    /// <param name="pathAndQuery">A path such as <c>/hello</c>.</param>
    /// <returns>The absolute URL.</returns>
    /// <exception cref="InvalidOperationException">The server was started without HTTPS.</exception>
    public Uri HttpsUrl(string pathAndQuery) => Combine(
        HttpsBaseUri ?? throw new InvalidOperationException("Start the server with KestrelTestServerOptions.Https = true."), pathAndQuery);

    /// <summary>Creates a new client certificate, signed by <see cref="CaCertificate"/>, that the client-certificate endpoint accepts.</summary>
    /// <param name="subjectName">The certificate subject's common name.</param>
    /// <returns>A certificate with its private key; the caller owns and disposes it.</returns>
    public static X509Certificate2 CreateClientCertificate(string subjectName = "tether-client") =>
        TestCertificates.CreateClientCertificate(subjectName);

    /// <summary>Sets <see cref="AcceptedConnections"/> and <see cref="DigestChallenges"/> to zero (open connections stay counted).</summary>
    public void ResetCounters()
    {
        Interlocked.Exchange(ref _accepted, 0);
        _digest.ResetCounters();
    }

    /// <summary>Stops listening and closes every accepted connection. Idempotent.</summary>
    /// <returns>A task that completes when Kestrel has stopped.</returns>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0 || _app is null)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(s_stopTimeout);
        var stopping = _app.StopAsync(timeout.Token);
        AbortAll();
        try
        {
            await stopping.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Kestrel aborts what is left when the token fires; nothing else to do.
        }

        AbortAll();
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Same as <see cref="StopAsync"/>.</summary>
    /// <returns>A task that completes when Kestrel has stopped.</returns>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    internal static Uri Combine(Uri baseUri, string pathAndQuery) =>
        new(baseUri, pathAndQuery.StartsWith('/') ? pathAndQuery : "/" + pathAndQuery);

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore().UseKestrelHttpsConfiguration();
        builder.Services.AddRoutingCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = _options.MaxRequestBodySize;
            kestrel.Limits.KeepAliveTimeout = _options.KeepAliveTimeout;
            kestrel.Limits.Http2.MaxStreamsPerConnection = _options.Http2MaxStreamsPerConnection;
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                _http = listen;
                Count(listen);
                listen.Protocols = HttpProtocols.Http1;
            });
            if (_options.IPv6)
            {
                kestrel.Listen(IPAddress.IPv6Loopback, 0, listen =>
                {
                    _ipv6 = listen;
                    Count(listen);
                    listen.Protocols = HttpProtocols.Http1;
                });
            }

            if (_options.Https)
            {
                kestrel.Listen(IPAddress.Loopback, 0, listen =>
                {
                    _https = listen;
                    Count(listen);
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificate = TestCertificates.Localhost });
                });
            }

            if (_options.RequireClientCertificateEndpoint)
            {
                kestrel.Listen(IPAddress.Loopback, 0, listen =>
                {
                    _httpsClientCert = listen;
                    Count(listen);
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    listen.UseHttps(new HttpsConnectionAdapterOptions
                    {
                        ServerCertificate = TestCertificates.Localhost,
                        ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                        ClientCertificateValidation = (certificate, _, _) => TestCertificates.ChainsToCa(certificate),
                    });
                });
            }
        });

        _app = builder.Build();
        MapEndpoints(_app);
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);

        Port = PortOf(_http);
        BaseUri = new Uri($"http://127.0.0.1:{Port}/");
        if (_ipv6 is not null)
        {
            Ipv6BaseUri = new Uri($"http://[::1]:{PortOf(_ipv6)}/");
        }

        if (_https is not null)
        {
            HttpsBaseUri = new Uri($"https://127.0.0.1:{PortOf(_https)}/");
        }

        if (_httpsClientCert is not null)
        {
            HttpsClientCertBaseUri = new Uri($"https://127.0.0.1:{PortOf(_httpsClientCert)}/");
        }
    }

    private static int PortOf(ListenOptions? listen) =>
        listen?.IPEndPoint?.Port is int port and > 0 ? port : throw new IOException("Kestrel did not report the port it bound.");

    private void Count(ListenOptions listen) => listen.Use(next => async connection =>
    {
        Interlocked.Increment(ref _accepted);
        Interlocked.Increment(ref _open);
        _connections[connection.ConnectionId] = connection;
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(connection.ConnectionId, out _);
            Interlocked.Decrement(ref _open);
        }
    });

    private void AbortAll()
    {
        foreach (var connection in _connections.Values)
        {
            connection.Abort(new ConnectionAbortedException("The Tether test server is stopping."));
        }
    }
}
