using System.Security.Cryptography.X509Certificates;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Core;

/// <summary>
/// Review of the fetch hot-path caches (process-wide shared resolution, caller-line call sites): cases where a cache
/// keyed by equality hands one caller what belongs to another.
/// </summary>
public sealed class HotPathReviewTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AsyncHttpClient WithClientCertificate(X509Certificate2 certificate)
    {
        var options = new AsyncHttpClientOptions();
        options.Defaults.ValidateCertificate = false; // no CaCertificates: those bypass the cache
        options.Defaults.ClientCertificate = certificate;
        return new AsyncHttpClient(options);
    }

    [Fact]
    public async Task A_client_keeps_presenting_its_own_certificate_after_another_client_disposes_an_equal_one()
    {
        await using var server = await KestrelTestServer.StartAsync(
            new KestrelTestServerOptions { Https = true, RequireClientCertificateEndpoint = true }, Ct);
        var url = new Uri(server.HttpsClientCertBaseUri!, "/hello").ToString();
        byte[] pfx;
        using (var created = KestrelTestServer.CreateClientCertificate("hot-path-review"))
        {
            pfx = created.Export(X509ContentType.Pkcs12);
        }

        // The same certificate file loaded by two clients: the objects are Equal (issuer, serial number, and the same
        // thumbprint), but each belongs to its own client and is disposed with it.
        var first = X509CertificateLoader.LoadPkcs12(pfx, null);
        using var second = X509CertificateLoader.LoadPkcs12(pfx, null);
        var a = WithClientCertificate(first);
        await using var b = WithClientCertificate(second);
        Assert.Equal(200, (await a.FetchAsync(url, Ct)).Code);
        var once = new FetchRequest(url);
        once.Headers.Add("Connection", "close"); // the next fetch of b needs a new TLS handshake
        Assert.Equal(200, (await b.FetchAsync(once, Ct)).Code);

        await a.DisposeAsync();
        first.Dispose();

        Assert.Equal(200, (await b.FetchAsync(url, Ct)).Code);
    }

    [Fact]
    public void Each_blocking_client_names_its_own_allocation_site()
    {
        static string MadeHere()
        {
            using var blocking = new BlockingHttpClient();
            return blocking.Client.AllocationSite;
        }

        static string MadeThere()
        {
            using var blocking = new BlockingHttpClient();
            return blocking.Client.AllocationSite;
        }

        var here = MadeHere();
        var there = MadeThere();
        Assert.Contains(nameof(MadeHere), here);
        Assert.Contains(nameof(MadeThere), there); // not the first blocking client's site, cached by Tether's own line
    }

    [Fact]
    public void Each_message_handler_names_its_own_allocation_site()
    {
        static string MadeHere()
        {
            using var handler = new TetherHttpMessageHandler();
            return handler.Client.AllocationSite;
        }

        static string MadeThere()
        {
            using var handler = new TetherHttpMessageHandler();
            return handler.Client.AllocationSite;
        }

        Assert.Contains(nameof(MadeHere), MadeHere());
        Assert.Contains(nameof(MadeThere), MadeThere());
    }

    [Fact]
    public async Task Threads_reading_a_new_responses_headers_at_once_all_get_them()
    {
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: Ct);
        await using var client = new AsyncHttpClient();
        var url = server.Url("/hello").ToString();
        Assert.Equal(200, (await client.FetchAsync(url, Ct)).Code);

        // Responses as a fetch builds them, each read for the first time by two threads at once (the headers are
        // copied out of the handler's message at the first read).
        var request = new FetchRequest(url);
        var op = new FetchOperation(client, null, request, RequestBuilder.Resolve(request, client.Options.Defaults));
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        for (var i = 0; i < 2000 && failures.IsEmpty; i++)
        {
            var message = new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
            for (var h = 0; h < 40; h++)
            {
                message.Headers.TryAddWithoutValidation($"X-Review-{h}", "value");
            }

            var response = FetchResponse.Buffered(op, message, new Uri(url), []);
            using var start = new Barrier(2);
            FetchHeaders? seen1 = null, seen2 = null;
            void Read(ref FetchHeaders? seen)
            {
                start.SignalAndWait();
                try
                {
                    seen = response.Headers;
                }
                catch (Exception ex)
                {
                    failures.Add(ex.GetType().Name);
                }
            }

            var other = Task.Run(() => Read(ref seen2));
            Read(ref seen1);
            await other;
            if (failures.IsEmpty && !ReferenceEquals(seen1, seen2))
            {
                failures.Add("two copies");
            }
        }

        Assert.Empty(failures);
    }
}
