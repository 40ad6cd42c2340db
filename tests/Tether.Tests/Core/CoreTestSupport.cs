using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Tether.Diagnostics;
using Tether.Tests.Support;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Core;

/// <summary>Shared helpers of the CORE tests: protocol selection over one Kestrel server per test, and the "leaves
/// nothing behind" check scoped to the test's own pool and server port (ledger of that pool empty, no ESTABLISHED or
/// CLOSE_WAIT socket of this process towards the port).</summary>
internal static class CoreTestSupport
{
    public static Task<KestrelTestServer> StartAsync(KestrelTestServerOptions? options = null)
    {
        options ??= new KestrelTestServerOptions();
        options.Https = true;
        return KestrelTestServer.StartAsync(options, TestContext.Current.CancellationToken);
    }

    /// <summary>Client defaults for <paramref name="protocol"/>: "h1" plain HTTP/1.1, "h1tls" HTTP/1.1 over TLS, "h2"
    /// HTTP/2 over TLS (ALPN), trusting the server's test CA.</summary>
    public static void Configure(FetchSettings defaults, KestrelTestServer server, string protocol)
    {
        defaults.CaCertificates = new X509Certificate2Collection(server.CaCertificate);
        defaults.HttpVersion = protocol == "h2" ? System.Net.HttpVersion.Version20 : System.Net.HttpVersion.Version11;
    }

    public static string Url(KestrelTestServer server, string protocol, string path) =>
        (protocol == "h1" ? server.Url(path) : server.HttpsUrl(path)).ToString();

    public static int ServerPort(KestrelTestServer server, string protocol) =>
        protocol == "h1" ? server.Port : server.HttpsBaseUri!.Port;

    /// <summary>Waits (bounded) for <paramref name="condition"/>; fails with <paramref name="what"/> if it never holds.</summary>
    public static async Task WaitForAsync(Func<bool> condition, TimeSpan limit, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > limit)
            {
                Assert.Fail($"Waited {limit} for {what}.");
            }

            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    // This process's own sockets (Support/OwnTcpSockets: the census's kernel state without reading the whole TCP tables
    // on every poll; issue 13, CI time).
    public static int Towards(int port, TcpState state) => OwnTcpSockets.Towards(port, state);

    /// <summary>The pool owns no socket and the process has no ESTABLISHED or CLOSE_WAIT socket towards
    /// <paramref name="ports"/> (3 s for the closes in flight to land).</summary>
    /// <remarks>Both waits are on this process's client ends, closed by the pool itself (not by the server's reads on
    /// the thread pool, for which <c>LeakCheck</c> allows 15 s): milliseconds unloaded, so 3 s is the margin for a
    /// loaded 2-core machine.</remarks>
    public static async Task AssertCleanAsync(ConnectionPool pool, params int[] ports)
    {
        await WaitForAsync(() => pool.Count == 0, TimeSpan.FromSeconds(3), $"{pool.Name} to own no socket");
        foreach (var port in ports)
        {
            await WaitForAsync(() => Towards(port, TcpState.Established) == 0 && Towards(port, TcpState.CloseWait) == 0,
                TimeSpan.FromSeconds(3), $"no ESTABLISHED/CLOSE_WAIT socket towards port {port}");
        }
    }

    public static async Task<string> ReadToEndAsync(FetchResponse response)
    {
        using var reader = new StreamReader(response.BodyStream);
        return await reader.ReadToEndAsync(TestContext.Current.CancellationToken);
    }
}
