using System.Security.Cryptography.X509Certificates;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Core;

/// <summary>Regression tests for the findings the last review of issue 16 left open (issue 16 review findings). Each
/// test starts its own servers.</summary>
public sealed class ReviewFindingsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Issue 16 review finding 1. POOL-10 is the closest item: what one client of a shared pool does with what it owns
    // (here: disposing its certificate object once done) must leave every other client of the pool usable. Before the
    // fix the pool's handler (keyed by the certificate's thumbprint) presented the first client's object on every new
    // TLS connection, so the second client's handshake failed once the first had disposed it.
    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    [Trait("Spec", "POOL-10")]
    public async Task POOL_10_a_client_disposing_its_client_certificate_does_not_break_another_client_of_the_pool(string version)
    {
        // Two servers that require a client certificate: the same handler (one per TransportKey, which holds the
        // certificate's thumbprint, not the origin) serves both, and B's fetch to the second needs a new TLS handshake.
        await using var first = await KestrelTestServer.StartAsync(
            new KestrelTestServerOptions { Https = true, RequireClientCertificateEndpoint = true }, Ct);
        await using var second = await KestrelTestServer.StartAsync(
            new KestrelTestServerOptions { Https = true, RequireClientCertificateEndpoint = true }, Ct);
        var check = LeakCheck.Start(first.HttpsClientCertBaseUri!.Port, second.HttpsClientCertBaseUri!.Port);
        var certificateA = KestrelTestServer.CreateClientCertificate();
        // The same certificate and key as a separate object, as a second component loading it from the same file has.
        using var certificateB = X509CertificateLoader.LoadPkcs12(certificateA.Export(X509ContentType.Pkcs12), password: null);
        Assert.Equal(certificateA.Thumbprint, certificateB.Thumbprint);

        await using (var pool = new ConnectionPool())
        {
            AsyncHttpClient NewClient(X509Certificate2 certificate)
            {
                var options = new AsyncHttpClientOptions { Pool = pool };
                options.Defaults.CaCertificates = [first.CaCertificate]; // one test CA signs both servers
                options.Defaults.ClientCertificate = certificate;
                options.Defaults.HttpVersion = Version.Parse(version);
                return new AsyncHttpClient(options);
            }

            await using (var a = NewClient(certificateA))
            {
                var ok = await a.FetchAsync(new Uri(first.HttpsClientCertBaseUri!, "/hello").ToString(), Ct);
                Assert.Equal((200, Version.Parse(version)), (ok.Code, ok.Version));
            }

            certificateA.Dispose(); // client A is done with its certificate

            await using (var b = NewClient(certificateB))
            {
                var response = await b.FetchAsync(new Uri(second.HttpsClientCertBaseUri!, "/hello").ToString(), Ct);
                Assert.Equal((200, KestrelTestServer.HelloText, Version.Parse(version)), (response.Code, response.Text, response.Version));
                Assert.Equal(1, second.AcceptedConnections); // a new handshake with the certificate
            }
        }

        await check.AssertCleanAsync();
    }

    // Issue 16 review finding 1, the trust store half: the handler's custom roots (CaCertificates, also in its key by
    // thumbprint) were the first client's objects too.
    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    [Trait("Spec", "POOL-10")]
    public async Task POOL_10_a_client_disposing_its_ca_certificates_does_not_break_another_client_of_the_pool(string version)
    {
        await using var first = await KestrelTestServer.StartAsync(new KestrelTestServerOptions { Https = true }, Ct);
        await using var second = await KestrelTestServer.StartAsync(new KestrelTestServerOptions { Https = true }, Ct);
        var check = LeakCheck.Start(first.HttpsBaseUri!.Port, second.HttpsBaseUri!.Port);
        var caA = X509CertificateLoader.LoadCertificate(first.CaCertificate.RawData);
        using var caB = X509CertificateLoader.LoadCertificate(first.CaCertificate.RawData);

        await using (var pool = new ConnectionPool())
        {
            AsyncHttpClient NewClient(X509Certificate2 ca)
            {
                var options = new AsyncHttpClientOptions { Pool = pool };
                options.Defaults.CaCertificates = [ca];
                options.Defaults.HttpVersion = Version.Parse(version);
                return new AsyncHttpClient(options);
            }

            await using (var a = NewClient(caA))
            {
                Assert.Equal(200, (await a.FetchAsync(first.HttpsUrl("/hello").ToString(), Ct)).Code);
            }

            caA.Dispose();

            await using (var b = NewClient(caB))
            {
                var response = await b.FetchAsync(second.HttpsUrl("/hello").ToString(), Ct);
                Assert.Equal((200, Version.Parse(version)), (response.Code, response.Version));
                Assert.Equal(1, second.AcceptedConnections); // a new handshake, validated against the roots
            }
        }

        await check.AssertCleanAsync();
    }

    // Issue 16 review finding 2. CLIENT-09: options are validated before use and an invalid value fails with one
    // exception naming it. Defaults stay settable after the first fetch, and their resolution is cached per settings
    // version: before the fix a value made invalid later was never validated (it reached the handler or was used as
    // is). Now the next fetch fails with the same OptionsValidationException a first fetch gives, and nothing is sent.
    [Theory]
    [InlineData("cached")] // a request with no values of its own (the cached resolution)
    [InlineData("request-values")] // a request with a value of its own (resolved per fetch against the defaults)
    [InlineData("ca-certificates")] // defaults holding a CA collection (resolved per fetch)
    [Trait("Spec", "CLIENT-09")]
    public async Task CLIENT_09_client_defaults_made_invalid_after_the_first_fetch_fail_the_next_fetch_and_nothing_is_sent(string path)
    {
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: Ct);
        await using var silent = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        var check = LeakCheck.Start(server.Port, silent.Port);
        FetchRequest Request(string target) =>
            path == "request-values" ? new FetchRequest(target) { UserAgent = "review-finding" } : new FetchRequest(target);

        static void Break(FetchSettings defaults)
        {
            defaults.MaxRedirects = -1;
            defaults.ConnectTimeout = TimeSpan.Zero;
        }

        // What a first fetch with the same invalid defaults gives.
        var fresh = new AsyncHttpClientOptions();
        Break(fresh.Defaults);
        OptionsValidationException expected;
        await using (var reference = new AsyncHttpClient(fresh))
        {
            expected = await Assert.ThrowsAsync<OptionsValidationException>(() => reference.FetchAsync(Request(silent.Url("/").ToString()), Ct));
        }

        var options = new AsyncHttpClientOptions();
        if (path == "ca-certificates")
        {
            options.Defaults.CaCertificates = [server.CaCertificate];
        }

        await using (var client = new AsyncHttpClient(options))
        {
            Assert.Equal(200, (await client.FetchAsync(Request(server.Url("/hello").ToString()), Ct)).Code);
            Assert.Equal(200, (await client.FetchAsync(Request(server.Url("/hello").ToString()), Ct)).Code); // resolved and cached

            Break(options.Defaults);
            var e = await Assert.ThrowsAsync<OptionsValidationException>(() => client.FetchAsync(Request(silent.Url("/").ToString()), Ct));
            Assert.Equal(expected.OptionsType, e.OptionsType);
            Assert.Equal(expected.Problems, e.Problems);
            Assert.Contains(e.Problems, p => p.StartsWith("Defaults.MaxRedirects = -1", StringComparison.Ordinal));
            Assert.Contains(e.Problems, p => p.StartsWith("Defaults.ConnectTimeout", StringComparison.Ordinal));
            // Again: a failed validation is not remembered as valid.
            await Assert.ThrowsAsync<OptionsValidationException>(() => client.FetchAsync(Request(silent.Url("/").ToString()), Ct));
            Assert.Equal(0, silent.AcceptedConnections); // nothing was sent

            // Fixed again: fetches work.
            options.Defaults.MaxRedirects = 3;
            options.Defaults.ConnectTimeout = null;
            Assert.Equal(200, (await client.FetchAsync(Request(server.Url("/hello").ToString()), Ct)).Code);
        }

        await check.AssertCleanAsync();
    }
}
