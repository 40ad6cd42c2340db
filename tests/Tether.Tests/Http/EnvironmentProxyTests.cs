using System.Diagnostics;
using System.Globalization;
using Tether.TestServer;
using Tether.Tests.Cli;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Http;

/// <summary>
/// The environment's proxy (wandb/weave#5849, request/request#1347 replayed on loopback): with <c>http_proxy</c> set,
/// a plain <see cref="HttpClient"/> sends through the proxy, and so must the bridge (HTTP-11); <c>no_proxy</c>
/// covering the host sends both direct. FetchAsync keeps Tornado's default (no environment proxy) unless
/// <see cref="FetchSettings.UseDefaultProxy"/> is set; <c>tether fetch</c> honours the environment as curl does.
/// </summary>
/// <remarks>The variables are process-wide and <see cref="HttpClient.DefaultProxy"/> reads them once, so this
/// process never sets them: each scenario runs in a child (Tether.ExitProbe proxy-env, or the tether CLI) given its
/// own environment. Targets and proxy are real servers on 127.0.0.1.</remarks>
public sealed class EnvironmentProxyTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static readonly string[] s_proxyVariables =
        ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"];

    private string Target => server.Url("/hello").ToString();

    private static bool ReachedProxy(ProxyServer proxy, string url) =>
        proxy.RequestHeads.Any(h => h.StartsWith($"GET {url} HTTP/1.1\r\n", StringComparison.Ordinal));

    [Fact]
    [Trait("Spec", "HTTP-11")]
    [Trait("Spec", "PROTOCOL-26")]
    public async Task HTTP_11_bridge_sends_through_http_proxy_from_the_environment_as_plain_HttpClient_does()
    {
        await using var proxy = ProxyServer.Start();
        var check = LeakCheck.Start(server, proxy.Port);
        var lines = RunProbe(("http_proxy", proxy.BaseUri.ToString()));

        // Differential: the plain HttpClient and the bridge both reach the proxy, in absolute form.
        Assert.True(ReachedProxy(proxy, Target + "?via=plain"), Heads(proxy));
        Assert.True(ReachedProxy(proxy, Target + "?via=bridge"), Heads(proxy));
        Assert.Equal("200", lines["plain"].Status);
        Assert.Equal("200", lines["bridge"].Status);
        // The bridge's connection is the proxy's, recorded in the ledger like an explicit proxy's.
        Assert.Equal(Port(proxy.Port), lines["bridge"].Remote);

        // UseProxy = false (as on SocketsHttpHandler) connects directly, whatever the environment says.
        Assert.False(ReachedProxy(proxy, Target + "?via=bridge-noproxy"), Heads(proxy));
        Assert.Equal("200", lines["bridge-noproxy"].Status);
        Assert.Equal(Port(server.Server.Port), lines["bridge-noproxy"].Remote);

        // FetchAsync keeps Tornado's default (direct) and opts in with UseDefaultProxy.
        Assert.False(ReachedProxy(proxy, Target + "?via=fetch"), Heads(proxy));
        Assert.Equal(Port(server.Server.Port), lines["fetch"].Remote);
        Assert.True(ReachedProxy(proxy, Target + "?via=fetch-env"), Heads(proxy));
        Assert.Equal("200", lines["fetch-env"].Status);
        Assert.Equal(Port(proxy.Port), lines["fetch-env"].Remote);
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "HTTP-11")]
    [Trait("Spec", "PROTOCOL-26")]
    public async Task HTTP_11_no_proxy_covering_the_host_sends_plain_HttpClient_and_bridge_direct()
    {
        await using var proxy = ProxyServer.Start();
        var check = LeakCheck.Start(server, proxy.Port);
        var accepted = server.Server.AcceptedConnections;
        var lines = RunProbe(("http_proxy", proxy.BaseUri.ToString()), ("no_proxy", "127.0.0.1"));

        Assert.Empty(proxy.RequestHeads);
        Assert.Equal(0, proxy.AcceptedConnections);
        foreach (var name in new[] { "plain", "bridge", "bridge-noproxy", "fetch", "fetch-env" })
        {
            Assert.True(lines[name].Status == "200", $"{name}: {lines[name]}");
        }

        foreach (var name in new[] { "bridge", "bridge-noproxy", "fetch", "fetch-env" })
        {
            Assert.True(lines[name].Remote == Port(server.Server.Port), $"{name}: {lines[name]}");
        }

        // Every one of the five went to the real target directly.
        Assert.True(server.Server.AcceptedConnections - accepted >= 5, $"server accepted {server.Server.AcceptedConnections - accepted}");
        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "HTTP-11")]
    public async Task HTTP_11_UseProxy_is_true_by_default_and_false_turns_off_the_environment_and_an_explicit_proxy()
    {
        var check = LeakCheck.Start(server);
        using (var handler = new TetherHttpMessageHandler())
        {
            Assert.True(handler.UseProxy);
            Assert.True(handler.Client.Options.Defaults.UseDefaultProxy);
        }

        using (var handler = new TetherHttpMessageHandler(configure: o => o.Defaults.UseDefaultProxy = false))
        {
            Assert.False(handler.UseProxy);
        }

        using (var handler = new TetherHttpMessageHandler(configure: o => o.Defaults.Proxy = new Uri("http://127.0.0.1:9/")))
        {
            Assert.True(handler.UseProxy);
            handler.UseProxy = false;
            Assert.Null(handler.Client.Options.Defaults.Proxy);
            Assert.False(handler.Client.Options.Defaults.UseDefaultProxy);
            Assert.False(handler.UseProxy);

            // Direct to the real server: the discard-port proxy would refuse.
            using var http = new HttpClient(handler, disposeHandler: false);
            Assert.Equal(KestrelTestServer.HelloText, await http.GetStringAsync(Target, TestContext.Current.CancellationToken));
            Assert.Throws<InvalidOperationException>(() => handler.UseProxy = true);
        }

        await using (var client = new AsyncHttpClient())
        {
            Assert.Null(client.Options.Defaults.UseDefaultProxy); // FetchAsync: Tornado's default, resolved as false
        }

        await check.AssertCleanAsync();
    }

    [Fact]
    [Trait("Spec", "PROTOCOL-26")]
    [Trait("Spec", "CLI-01")]
    public async Task CLI_01_tether_fetch_honours_http_proxy_and_no_proxy_from_the_environment_as_curl_does()
    {
        await using var proxy = ProxyServer.Start();
        var check = LeakCheck.Start(server, proxy.Port);
        var (code, _, err) = RunCli([Target + "?via=cli"], ("http_proxy", proxy.BaseUri.ToString()));
        Assert.True(code == 0, err);
        Assert.True(ReachedProxy(proxy, Target + "?via=cli"), Heads(proxy));

        (code, _, err) = RunCli([Target + "?via=cli-no-proxy"], ("http_proxy", proxy.BaseUri.ToString()), ("no_proxy", "127.0.0.1"));
        Assert.True(code == 0, err);
        Assert.False(ReachedProxy(proxy, Target + "?via=cli-no-proxy"), Heads(proxy));
        await check.AssertCleanAsync();
    }

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static string Heads(ProxyServer proxy) => "proxy saw: " + string.Join(" | ", proxy.RequestHeads.Select(h => h.Split("\r\n")[0]));

    private sealed record Line(string Status, string Remote);

    private Dictionary<string, Line> RunProbe(params (string Name, string Value)[] environment)
    {
        var probe = CliProcess.ExitProbeDll;
        Assert.True(File.Exists(probe), $"missing {probe}");
        var (code, output, errors) = Run(probe, ["proxy-env", Target], environment);
        Assert.True(code == 0, $"probe exited {code}; stdout: {output}; stderr: {errors}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split(' '))
            .ToDictionary(p => p[0], p => new Line(p[1]["status=".Length..], p[2]["remote=".Length..]));
    }

    private static (int Code, string Out, string Err) RunCli(string[] args, params (string Name, string Value)[] environment) =>
        Run(CliProcess.Dll, ["fetch", .. args], environment);

    /// <summary>`dotnet dll args` with exactly the given proxy variables (any inherited ones removed), bounded at 2
    /// minutes (a hang guard: each takes about a second unloaded).</summary>
    private static (int Code, string Out, string Err) Run(string dll, string[] args, (string Name, string Value)[] environment) =>
        CliProcess.RunChild(args, TimeSpan.FromMinutes(2), dll,
        [
            .. s_proxyVariables.Select(static name => new KeyValuePair<string, string?>(name, null)),
            .. environment.Select(static e => new KeyValuePair<string, string?>(e.Name, e.Value)),
        ]);
}
