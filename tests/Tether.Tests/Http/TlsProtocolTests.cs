using System.Security.Cryptography.X509Certificates;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Http;

/// <summary>PROTOCOL-03, the https half of PROTOCOL-26, PROTOCOL-27 and PROTOCOL-28: TLS against Kestrel with the
/// test CA (one HTTPS Kestrel per test class).</summary>
public sealed class TlsProtocolTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private KestrelTestServer _tls = null!;

    public async ValueTask InitializeAsync() =>
        _tls = await KestrelTestServer.StartAsync(new KestrelTestServerOptions { Https = true, RequireClientCertificateEndpoint = true });

    public async ValueTask DisposeAsync() => await _tls.DisposeAsync();

    private X509Certificate2Collection Trust => [_tls.CaCertificate];

    [Fact]
    [Trait("Spec", "PROTOCOL-27")]
    public async Task PROTOCOL_27_https_with_the_custom_ca_and_a_client_certificate()
    {
        await using var client = new AsyncHttpClient();
        var untrusted = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(_tls.HttpsUrl("/hello").ToString()));
        Assert.Equal((599, FetchErrorKind.Tls), (untrusted.Code, untrusted.Kind));

        var ok = await client.FetchAsync(new FetchRequest(_tls.HttpsUrl("/hello")) { CaCertificates = Trust });
        Assert.Equal(KestrelTestServer.HelloText, ok.Text);
        // Revised 2026-11-30 (issue 16, CORE-03): connect and TLS phases are not a fetch's own any more (connection
        // attempts belong to the pool), so TimeInfo reports them as zero; ConnectionReused is not known either.
        ClientApiTests.AssertPhases(ok.TimeInfo);
        var accepted = _tls.AcceptedConnections;
        var again = await client.FetchAsync(new FetchRequest(_tls.HttpsUrl("/hello")) { CaCertificates = Trust });
        Assert.Equal(accepted, _tls.AcceptedConnections);
        Assert.Equal((TimeSpan.Zero, TimeSpan.Zero), (again.TimeInfo.Connect, again.TimeInfo.Tls));

        var certUrl = new Uri(_tls.HttpsClientCertBaseUri!, "/hello");
        var refused = await Assert.ThrowsAsync<FetchException>(() =>
            client.FetchAsync(new FetchRequest(certUrl) { CaCertificates = Trust }));
        Assert.Equal(599, refused.Code);
        using var clientCert = KestrelTestServer.CreateClientCertificate();
        var withCert = await client.FetchAsync(new FetchRequest(certUrl) { CaCertificates = Trust, ClientCertificate = clientCert });
        Assert.Equal(KestrelTestServer.HelloText, withCert.Text);
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-28")]
    public async Task PROTOCOL_28_http2_is_opt_in_over_tls_by_alpn_and_http11_is_the_default()
    {
        await using var client = new AsyncHttpClient();
        var dflt = await client.FetchAsync(new FetchRequest(_tls.HttpsUrl("/hello")) { CaCertificates = Trust });
        Assert.Equal(new Version(1, 1), dflt.Version);
        var h2 = await client.FetchAsync(new FetchRequest(_tls.HttpsUrl("/hello")) { CaCertificates = Trust, HttpVersion = new Version(2, 0) });
        Assert.Equal(new Version(2, 0), h2.Version);
        Assert.Equal(KestrelTestServer.HelloText, h2.Text);
        // Over plain http there is no ALPN: the opt-in falls back to HTTP/1.1.
        var plain = await client.FetchAsync(new FetchRequest(server.Url("/hello")) { HttpVersion = new Version(2, 0) });
        Assert.Equal(new Version(1, 1), plain.Version);
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-03")]
    public async Task PROTOCOL_03_connections_are_keyed_by_tls_settings_client_certificate_and_proxy()
    {
        await using var client = new AsyncHttpClient();
        var url = _tls.HttpsUrl("/hello");
        // Revised 2026-11-30 (issue 16, CORE-03): ConnectionId/ConnectionReused are no longer known per response;
        // the servers' accepted-connection counts show which fetch got a new connection.
        var accepted = _tls.AcceptedConnections;
        await client.FetchAsync(new FetchRequest(url) { CaCertificates = Trust });
        Assert.Equal(accepted + 1, _tls.AcceptedConnections);
        await client.FetchAsync(new FetchRequest(url) { ValidateCertificate = false });
        Assert.Equal(accepted + 2, _tls.AcceptedConnections);

        using var cert = KestrelTestServer.CreateClientCertificate();
        await client.FetchAsync(new FetchRequest(url) { CaCertificates = Trust, ClientCertificate = cert });
        Assert.Equal(accepted + 3, _tls.AcceptedConnections);

        await client.FetchAsync(new FetchRequest(url) { CaCertificates = Trust });
        Assert.Equal(accepted + 3, _tls.AcceptedConnections);

        await using var proxy = ProxyServer.Start();
        var plainAccepted = server.Server.AcceptedConnections;
        await client.FetchAsync(server.Url("/hello").ToString());
        await client.FetchAsync(new FetchRequest(server.Url("/hello")) { Proxy = proxy.BaseUri });
        Assert.Equal(1, proxy.AcceptedConnections);
        var directAgain = await client.FetchAsync(server.Url("/hello").ToString());
        Assert.Equal(200, directAgain.Code);
        Assert.Equal(1, proxy.AcceptedConnections);
        Assert.Equal(plainAccepted + 2, server.Server.AcceptedConnections); // one direct (reused), one from the proxy
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-26")]
    public async Task PROTOCOL_26_https_goes_through_a_connect_tunnel_with_credentials_only_to_the_proxy()
    {
        await using var proxy = ProxyServer.Start(new ProxyServerOptions { UserName = "pu", Password = "pp" });
        await using var client = new AsyncHttpClient();
        var r = await client.FetchAsync(new FetchRequest(_tls.HttpsUrl("/echo/headers"))
        {
            CaCertificates = Trust, Proxy = proxy.BaseUri, ProxyUsername = "pu", ProxyPassword = "pp",
        });
        Assert.Equal(1, proxy.TunnelsOpened);
        Assert.Contains(proxy.RequestHeads, h => h.StartsWith($"CONNECT 127.0.0.1:{_tls.HttpsBaseUri!.Port} HTTP/1.1", StringComparison.Ordinal)
            || h.StartsWith($"CONNECT localhost:{_tls.HttpsBaseUri!.Port} HTTP/1.1", StringComparison.Ordinal));
        Assert.False(HttpTestHelpers.Headers(r).ContainsKey("Proxy-Authorization"));
    }
}
