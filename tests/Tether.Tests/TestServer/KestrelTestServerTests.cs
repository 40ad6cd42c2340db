using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.TestServer;

// Self-checks of the Kestrel test server, using HttpClient and raw sockets (not Tether).
public sealed class KestrelTestServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Hello_serves_the_13_byte_body_and_connections_counts_one_keep_alive_connection()
    {
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: Ct);
        using var client = new HttpClient();

        var hello = await client.GetByteArrayAsync(server.Url("/hello"), Ct);
        var count = await client.GetStringAsync(server.Url("/connections"), Ct);

        Assert.Equal("Hello, world!", Encoding.ASCII.GetString(hello));
        Assert.Equal(13, hello.Length);
        Assert.Equal("1", count);
        Assert.Equal(1, server.OpenConnections);
        Assert.StartsWith("http://127.0.0.1:", server.BaseUri.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_closes_every_accepted_connection_including_a_stalled_stream()
    {
        var server = await KestrelTestServer.StartAsync(cancellationToken: Ct);
        using var client = new HttpClient();
        using var response = await client.GetAsync(server.Url("/stream/5?stallAfter=2"), HttpCompletionOption.ResponseHeadersRead, Ct);
        await using var body = await response.Content.ReadAsStreamAsync(Ct);
        var first = new byte[8];
        await body.ReadExactlyAsync(first, Ct);
        Assert.Equal("chunk 0\n", Encoding.ASCII.GetString(first));

        await server.DisposeAsync();
        await server.DisposeAsync(); // idempotent

        Assert.Equal(0, server.OpenConnections);
        // The aborted connection ends the chunked body early: the read fails instead of hanging.
        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            while (await body.ReadAsync(new byte[1024], Ct) > 0)
            {
            }
        });
    }

    [Fact]
    public async Task Bytes_echo_status_and_redirect_endpoints_behave_as_documented()
    {
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: Ct);
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false });

        var bytes = await client.GetByteArrayAsync(server.Url("/bytes/100000"), Ct);
        Assert.Equal(100000, bytes.Length);
        Assert.True(TestPatterns.Matches(bytes));

        using var echo = await client.PostAsync(server.Url("/echo?a=1"), new StringContent("ping"), Ct);
        Assert.Equal("ping", await echo.Content.ReadAsStringAsync(Ct));
        Assert.Equal("POST", echo.Headers.GetValues("X-Method").Single());
        Assert.Equal("?a=1", echo.Headers.GetValues("X-Query").Single());
        Assert.Equal("4", echo.Headers.GetValues("X-Content-Length").Single());

        using var status = await client.GetAsync(server.Url("/status/418"), Ct);
        Assert.Equal((HttpStatusCode)418, status.StatusCode);
        Assert.Equal("status 418", await status.Content.ReadAsStringAsync(Ct));

        using var redirect = await client.GetAsync(server.Url("/redirect/3"), Ct);
        Assert.Equal(HttpStatusCode.Found, redirect.StatusCode);
        Assert.Equal("/redirect/2", redirect.Headers.Location!.OriginalString);

        using var gzip = new HttpClient(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.All });
        Assert.Equal(KestrelTestServer.CompressibleText, await gzip.GetStringAsync(server.Url("/gzip"), Ct));
        Assert.Equal(KestrelTestServer.CompressibleText, await gzip.GetStringAsync(server.Url("/br"), Ct));
        Assert.Equal(KestrelTestServer.CompressibleText, await gzip.GetStringAsync(server.Url("/deflate"), Ct));

        var latin1 = await client.GetByteArrayAsync(server.Url("/charset/iso-8859-1"), Ct);
        Assert.Equal([0x63, 0x61, 0x66, 0xE9], latin1);
    }

    [Theory]
    [InlineData("MD5")]
    [InlineData("SHA-256")]
    public async Task Digest_endpoint_accepts_a_hand_computed_response_and_rejects_a_wrong_password(string algorithm)
    {
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: Ct);
        using var client = new HttpClient();
        var path = $"/auth/digest/{algorithm}";

        using var challenge = await client.GetAsync(server.Url(path), Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, challenge.StatusCode);
        var header = challenge.Headers.WwwAuthenticate.Single();
        Assert.Equal("Digest", header.Scheme);
        var p = ParseChallenge(header.Parameter!);
        Assert.Equal("tether-test", p["realm"]);
        Assert.Equal("auth", p["qop"]);
        Assert.Equal(algorithm, p["algorithm"]);

        string Authorization(string password)
        {
            string H(string s) => Convert.ToHexStringLower(algorithm == "MD5"
                ? System.Security.Cryptography.MD5.HashData(Encoding.UTF8.GetBytes(s))
                : System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(s)));
            const string nc = "00000001", cnonce = "0a4f113b";
            var response = H($"{H($"tether:tether-test:{password}")}:{p["nonce"]}:{nc}:{cnonce}:auth:{H($"GET:{path}")}");
            return $"username=\"tether\", realm=\"tether-test\", nonce=\"{p["nonce"]}\", uri=\"{path}\", algorithm={algorithm}, " +
                $"qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\", opaque=\"{p["opaque"]}\"";
        }

        using var good = new HttpRequestMessage(HttpMethod.Get, server.Url(path));
        good.Headers.TryAddWithoutValidation("Authorization", "Digest " + Authorization(KestrelTestServer.DigestPassword));
        using var ok = await client.SendAsync(good, Ct);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("digest ok", await ok.Content.ReadAsStringAsync(Ct));

        using var bad = new HttpRequestMessage(HttpMethod.Get, server.Url(path));
        bad.Headers.TryAddWithoutValidation("Authorization", "Digest " + Authorization("wrong"));
        using var rejected = await client.SendAsync(bad, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, rejected.StatusCode);
        Assert.Equal(2, server.DigestChallenges);
    }

    [Fact]
    public async Task Https_endpoints_present_a_CA_signed_leaf_and_require_a_client_certificate_where_asked()
    {
        await using var server = await KestrelTestServer.StartAsync(
            new KestrelTestServerOptions { Https = true, RequireClientCertificateEndpoint = true }, Ct);
        using var clientCertificate = KestrelTestServer.CreateClientCertificate();

        SocketsHttpHandler Handler(X509Certificate2? clientCert) => new()
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust,
                    CustomTrustStore = { server.CaCertificate },
                    RevocationMode = X509RevocationMode.NoCheck,
                },
                ClientCertificates = clientCert is null ? null : new X509CertificateCollection { clientCert },
            },
        };

        using var trusting = new HttpClient(Handler(null));
        Assert.Equal("Hello, world!", await trusting.GetStringAsync(server.HttpsUrl("/hello"), Ct));

        using var withCert = new HttpClient(Handler(clientCertificate));
        Assert.Equal("Hello, world!", await withCert.GetStringAsync(new Uri(server.HttpsClientCertBaseUri!, "/hello"), Ct));

        using var withoutCert = new HttpClient(Handler(null));
        await Assert.ThrowsAsync<HttpRequestException>(() => withoutCert.GetStringAsync(new Uri(server.HttpsClientCertBaseUri!, "/hello"), Ct));

        using var untrusting = new HttpClient();
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => untrusting.GetStringAsync(server.HttpsUrl("/hello"), Ct));
        Assert.IsType<System.Security.Authentication.AuthenticationException>(error.InnerException);
    }

    internal static Dictionary<string, string> ParseChallenge(string parameters) =>
        parameters.Split(',', StringSplitOptions.TrimEntries)
            .Select(part => part.Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv[1].Trim('"'));
}
