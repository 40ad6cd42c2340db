using System.Net;
using System.Text;
using System.Text.Json;
using Tether.Diagnostics;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Sec;

/// <summary>
/// Credentials in the user info of the <see cref="FetchSettings.Proxy"/> URL (newcomer review 2026-12-01, item 2): they
/// were silently ignored (407 from a proxy demanding auth, no Proxy-Authorization sent), while curl, Go and Python
/// requests send them. Each test starts its own origin and proxy; the clean check is the ledger and census towards them.
/// </summary>
public sealed class ProxyUrlCredentialTests
{
    // A password that needs percent-encoding in a URL (@, :, space) and must never show anywhere.
    private const string User = "pu";
    private const string Password = "pp@s:s w0rd-7c1e";
    private const string EncodedPassword = "pp%40s%3As%20w0rd-7c1e";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Uri ProxyUrl(ProxyServer proxy, string password = EncodedPassword) =>
        new($"http://{User}:{password}@127.0.0.1:{proxy.Port}/");

    [Fact]
    [Trait("Spec", "SEC-11")]
    public async Task SEC_11_user_info_in_the_proxy_url_is_sent_to_the_proxy_only_decoded_and_a_plain_HttpClient_ignores_it()
    {
        // Newcomer review 2026-12-01, item 2: Proxy = http://pu:pp@127.0.0.1:Q against a proxy demanding auth gave 407.
        await using var origin = await KestrelTestServer.StartAsync();
        await using var proxy = ProxyServer.Start(new ProxyServerOptions { UserName = User, Password = Password });
        var check = LeakCheck.Start(origin.Port, proxy.Port);
        var expected = "Proxy-Authorization: Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));

        // Oracle: a default SocketsHttpHandler with a WebProxy of the same URL sends no credentials (it reads user info
        // only from the http_proxy environment variables): the proxy's 407 comes back. Tether differs on purpose, as
        // curl, Go and requests do (docs/client-guide.md "Proxy").
        using (var plain = new HttpClient(new SocketsHttpHandler { Proxy = new WebProxy(ProxyUrl(proxy)), UseProxy = true }))
        using (var refused = await plain.GetAsync(origin.Url("/echo/headers"), Ct))
        {
            Assert.Equal(HttpStatusCode.ProxyAuthenticationRequired, refused.StatusCode);
        }

        Assert.DoesNotContain(proxy.RequestHeads, h => h.Contains(expected, StringComparison.Ordinal));
        var headsBefore = proxy.RequestHeads.Count;

        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions { Defaults = { Proxy = ProxyUrl(proxy) } }))
        {
            var response = await client.FetchAsync(origin.Url("/echo/headers").ToString(), Ct);
            Assert.Equal(200, response.Code);
            var seenByOrigin = JsonSerializer.Deserialize<Dictionary<string, string[]>>(response.Body)!;
            Assert.False(seenByOrigin.ContainsKey("Proxy-Authorization"), "the origin saw Proxy-Authorization");
        }

        var heads = proxy.RequestHeads.Skip(headsBefore).ToArray();
        Assert.NotEmpty(heads);
        Assert.Contains(heads, h => h.Contains(expected, StringComparison.Ordinal));
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "SEC-12")]
    public async Task SEC_12_the_password_of_a_proxy_url_is_in_no_message_ToString_or_ledger_entry()
    {
        // Newcomer review 2026-12-01, item 2: once user info is honoured it must be redacted everywhere the proxy URL
        // could appear: errors (connect refused to the proxy, a 407), the settings' transport key, the ledger.
        await using var origin = await KestrelTestServer.StartAsync();
        await using var proxy = ProxyServer.Start(new ProxyServerOptions { UserName = User, Password = Password });
        var closed = HostileServer.GetClosedPort();
        var check = LeakCheck.Start(origin.Port, proxy.Port);
        var seen = new List<string>();
        await using (var client = new AsyncHttpClient())
        {
            // A proxy that refuses the connection.
            var refused = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(
                new FetchRequest(origin.Url("/hello").ToString()) { Proxy = new Uri($"http://{User}:{EncodedPassword}@127.0.0.1:{closed}/") }, Ct));
            seen.Add(refused.ToString());

            // A wrong password in the URL: the proxy's 407 is the error (the right password is never sent).
            var wrong = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(
                new FetchRequest(origin.Url("/hello").ToString()) { Proxy = ProxyUrl(proxy, "wrong%40" + EncodedPassword) }, Ct));
            Assert.Equal(407, wrong.Code);
            seen.Add(wrong.ToString());

            // An open streamed response through the proxy: its ledger entry.
            await using var streamed = await client.FetchStreamAsync(
                new FetchRequest(origin.Url("/hello").ToString()) { Proxy = ProxyUrl(proxy) }, Ct);
            Assert.Equal(200, streamed.Code);
            var entries = SocketLedger.Snapshot().Where(e => e.RemoteEndPoint?.Port == proxy.Port).ToArray();
            Assert.NotEmpty(entries);
            seen.AddRange(entries.Select(e => e.ToString()));
            seen.Add(streamed.Request.ToString()!);
            await streamed.BodyStream.CopyToAsync(Stream.Null, Ct);
        }

        Assert.All(seen, text =>
        {
            Assert.DoesNotContain(Password, text, StringComparison.Ordinal);
            Assert.DoesNotContain(EncodedPassword, text, StringComparison.Ordinal);
        });
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "CLIENT-09")]
    public async Task CLIENT_09_proxy_user_info_and_a_different_ProxyUsername_or_ProxyPassword_is_a_typed_error_naming_what_to_remove()
    {
        // Newcomer review 2026-12-01, item 2: two sources of proxy credentials that disagree are an error before any
        // socket is opened (the proxy accepts nothing), never a silent choice; equal values are allowed.
        await using var origin = await KestrelTestServer.StartAsync();
        await using var proxy = ProxyServer.Start(new ProxyServerOptions { UserName = User, Password = Password });
        var check = LeakCheck.Start(origin.Port, proxy.Port);
        var url = origin.Url("/hello").ToString();

        await using (var client = new AsyncHttpClient(new AsyncHttpClientOptions
        {
            Defaults = { Proxy = ProxyUrl(proxy), ProxyPassword = "another-secret-9d" },
        }))
        {
            var error = await Assert.ThrowsAsync<OptionsValidationException>(() => client.FetchAsync(url, Ct));
            Assert.Contains("Defaults.Proxy", error.Message, StringComparison.Ordinal);
            Assert.Contains("remove the user info from Defaults.Proxy, or remove Defaults.ProxyUsername and Defaults.ProxyPassword",
                error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(Password, error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(EncodedPassword, error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("another-secret-9d", error.Message, StringComparison.Ordinal);
        }

        await using (var client = new AsyncHttpClient())
        {
            var error = await Assert.ThrowsAsync<OptionsValidationException>(() => client.FetchAsync(
                new FetchRequest(url) { Proxy = ProxyUrl(proxy), ProxyUsername = "someone-else" }, Ct));
            Assert.Contains("different user than ProxyUsername", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(Password, error.Message, StringComparison.Ordinal);

            // The same credentials given twice are not a conflict.
            var response = await client.FetchAsync(new FetchRequest(url)
            {
                Proxy = ProxyUrl(proxy), ProxyUsername = User, ProxyPassword = Password,
            }, Ct);
            Assert.Equal(200, response.Code);
        }

        Assert.Equal(1, proxy.AcceptedConnections); // only the last, valid fetch reached the proxy
        await check.AssertCleanAsync();
    }
}
