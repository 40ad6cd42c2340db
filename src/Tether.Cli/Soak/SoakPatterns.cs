using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Tether.TestServer;

namespace Tether.Cli.Soak;

/// <summary>One usage pattern the soak repeats: how a program builds, uses and (maybe) closes a client.</summary>
/// <param name="Name">Short name, used by <c>--patterns</c>.</param>
/// <param name="IsTether">True for Tether patterns (they must stay flat); false for the naive .NET contrast.</param>
/// <param name="Description">One line: what the pattern does.</param>
/// <param name="Start">Builds a running instance against the target (the instance owns any server it starts).</param>
public sealed record SoakPattern(string Name, bool IsTether, string Description, Func<SoakTarget, Task<SoakPatternInstance>> Start)
{
    /// <summary>Gets whether the pattern's clients take <see cref="SoakTarget.CloseMode"/> (their pools close idle
    /// connections with it); false when the pattern's pool is fixed (<c>shared</c>, <c>process-pool</c>: graceful) or
    /// it is not Tether.</summary>
    public bool TakesCloseMode { get; init; }

    /// <summary>Gets whether the pattern can run over HTTP/2 (TLS with ALPN on the soak's own server).</summary>
    public bool SupportsHttp2 { get; init; } = true;
}

/// <summary>What one soak row runs against: URL, protocol, trust and the idle-close mode of the pattern's pools.</summary>
/// <param name="Url">The URL every iteration fetches (loopback).</param>
/// <param name="Http2">True to fetch with HTTP/2 over TLS (ALPN h2), false for HTTP/1.1.</param>
/// <param name="CaCertificates">The roots to trust for an https <paramref name="Url"/>; null for plain http.</param>
/// <param name="CloseMode">The <see cref="ConnectionPoolOptions.IdleCloseMode"/> of the pools the pattern creates.</param>
/// <param name="Server">The soak's own server behind <paramref name="Url"/> (it counts resets); null for <c>--url</c>.</param>
public sealed record SoakTarget(Uri Url, bool Http2, X509Certificate2Collection? CaCertificates, IdleCloseMode CloseMode, SoakServer? Server)
{
    /// <summary>Gets the protocol label: <c>HTTP/2</c> or <c>HTTP/1.1</c>.</summary>
    public string Protocol => Http2 ? "HTTP/2" : "HTTP/1.1";

    /// <summary>Gets whether a plain <c>FetchAsync(url)</c> is enough (plain HTTP/1.1, no trust settings).</summary>
    public bool IsPlain => !Http2 && CaCertificates is null;

    /// <summary>Gets new client options whose private pool closes idle connections with <see cref="CloseMode"/>.</summary>
    public AsyncHttpClientOptions ClientOptions => new() { PoolOptions = new ConnectionPoolOptions { IdleCloseMode = CloseMode } };

    /// <summary>A request for <see cref="Url"/> with the protocol and trust of this target.</summary>
    /// <returns>The request.</returns>
    public FetchRequest Request() => new(Url.ToString())
    {
        HttpVersion = Http2 ? HttpVersion.Version20 : HttpVersion.Version11,
        CaCertificates = CaCertificates,
    };

    /// <summary>A plain <see cref="HttpClient"/> for the naive patterns, speaking this target's protocol and trusting
    /// exactly its roots.</summary>
    /// <returns>The client (the caller disposes it, or deliberately does not).</returns>
    public HttpClient NewHttpClient()
    {
        if (CaCertificates is null && !Http2)
        {
            return new HttpClient();
        }

        X509Certificate2Collection? roots = CaCertificates;
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            if (roots is null || certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            return certificate is X509Certificate2 leaf
                ? chain.Build(leaf)
                : chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
        };
        return new HttpClient(handler)
        {
            DefaultRequestVersion = Http2 ? HttpVersion.Version20 : HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }
}

/// <summary>A running pattern: one call to <see cref="Iterate"/> is one iteration.</summary>
public abstract class SoakPatternInstance : IAsyncDisposable
{
    /// <summary>Gets the URL every iteration fetches.</summary>
    public abstract Uri Url { get; }

    /// <summary>Runs one iteration (synchronously, on the soak thread).</summary>
    public abstract void Iterate();

    /// <summary>Releases what the pattern kept (servers, the naive patterns' undisposed clients).</summary>
    /// <returns>A task.</returns>
    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}

/// <summary>The patterns <c>tether soak</c> knows, in run order (Tether first, then the naive contrast).</summary>
public static class SoakPatterns
{
    /// <summary>Gets every pattern.</summary>
    public static IReadOnlyList<SoakPattern> All { get; } =
    [
        new("seed", true, "client built outside EventLoop.Run, fetched and closed inside (the seed scenario)",
            t => Simple(t, Seed)) { TakesCloseMode = true },
        new("inside", true, "client built inside the coroutine, fetched, closed",
            t => Simple(t, Inside)) { TakesCloseMode = true },
        new("shared", true, "AsyncHttpClient.Shared inside each Run, never closed by the caller (the loop closes it)",
            t => Simple(t, Shared)),
        new("never-closed", true, "client built inside the loop and never closed (the loop closes it)",
            t => Simple(t, NeverClosed)) { TakesCloseMode = true },
        new("process-pool", true, "loop-owned clients leasing ConnectionPool.Process, never closed",
            t => Simple(t, ProcessPool)),
        new("streamed-undisposed", true, "FetchStreamAsync inside a loop, response never disposed (the loop closes it)",
            t => Simple(t, StreamedUndisposed)) { TakesCloseMode = true },
        new("server-idle-close", true, "one long-lived client; the server closes idle keep-alive connections (reaper must leave no CLOSE_WAIT)",
            t => Task.FromResult<SoakPatternInstance>(new ServerIdleClose(t.CloseMode))) { TakesCloseMode = true, SupportsHttp2 = false },
        new("naive-httpclient", false, "new HttpClient per iteration, never disposed (.NET anti-pattern, for contrast)",
            t => Task.FromResult<SoakPatternInstance>(new NaiveClientPerIteration(t))),
        new("naive-streamed", false, "one HttpClient, ResponseHeadersRead response never disposed (.NET anti-pattern, for contrast)",
            t => Task.FromResult<SoakPatternInstance>(new NaiveStreamed(t))) { SupportsHttp2 = false }, // HTTP/2: the 101st undisposed stream would wait forever
    ];

    // Named methods, not lambdas in the static initializer: a leak warning names its call site, and compiler names
    // of initializer lambdas came out two ways (`SoakPatterns..cctor` and `-cctor (SoakPatterns.cs:40)`, issue 14 item 9).
    // Each takes the target: plain HTTP/1.1 with the default close mode fetches exactly as the documented shape does.
    private static void Seed(SoakTarget t)
    {
        var client = new AsyncHttpClient(t.ClientOptions);
        EventLoop.Run(async () => { await Fetch(client, t).ConfigureAwait(false); client.Close(); });
    }

    private static void Inside(SoakTarget t) =>
        EventLoop.Run(async () => { var client = new AsyncHttpClient(t.ClientOptions); await Fetch(client, t).ConfigureAwait(false); client.Close(); });

    private static void Shared(SoakTarget t) =>
        EventLoop.Run(async () => await Fetch(AsyncHttpClient.Shared, t).ConfigureAwait(false));

    private static void NeverClosed(SoakTarget t) =>
        EventLoop.Run(async () => await Fetch(new AsyncHttpClient(t.ClientOptions), t).ConfigureAwait(false));

    private static void ProcessPool(SoakTarget t) =>
        EventLoop.Run(async () => await Fetch(new AsyncHttpClient(new AsyncHttpClientOptions { Pool = ConnectionPool.Process }), t).ConfigureAwait(false));

    private static void StreamedUndisposed(SoakTarget t) =>
        EventLoop.Run(async () =>
        {
            if (t.IsPlain)
            {
                _ = await new AsyncHttpClient(t.ClientOptions).FetchStreamAsync(t.Url.ToString()).ConfigureAwait(false);
            }
            else
            {
                _ = await new AsyncHttpClient(t.ClientOptions).FetchStreamAsync(t.Request()).ConfigureAwait(false);
            }
        });

    private static Task<FetchResponse> Fetch(AsyncHttpClient client, SoakTarget t) =>
        t.IsPlain ? client.FetchAsync(t.Url.ToString()) : client.FetchAsync(t.Request());

    private static Task<SoakPatternInstance> Simple(SoakTarget target, Action<SoakTarget> iterate) =>
        Task.FromResult<SoakPatternInstance>(new SimpleInstance(target, iterate));

    private sealed class SimpleInstance(SoakTarget target, Action<SoakTarget> iterate) : SoakPatternInstance
    {
        public override Uri Url => target.Url;

        public override void Iterate() => iterate(target);
    }

    // A raw keep-alive server that closes connections idle for 20 ms; every 25th iteration waits 40 ms so the server
    // closes the pooled connection and the client is left holding a CLOSE_WAIT socket until the reaper (100 ms) runs.
    // The reaper closes it with the close mode (the server closed first, so any TIME_WAIT is the server's).
    private sealed class ServerIdleClose(IdleCloseMode mode) : SoakPatternInstance
    {
        private readonly HostileServer _server = HostileServer.Start(
            HostileBehavior.IdleCloseKeepAlive, new HostileServerOptions { IdleClose = TimeSpan.FromMilliseconds(20) });

        private readonly AsyncHttpClient _client = new(new AsyncHttpClientOptions
        {
            Name = "soak-idle-close",
            PoolOptions = new ConnectionPoolOptions { ReaperInterval = TimeSpan.FromMilliseconds(100), IdleCloseMode = mode },
        });

        private int _n;

        public override Uri Url => _server.Url("/");

        public override void Iterate()
        {
            if (++_n % 25 == 0)
            {
                Thread.Sleep(40);
            }

            string url = Url.ToString();
            EventLoop.Run(async () => await _client.FetchAsync(url).ConfigureAwait(false));
        }

        public override async ValueTask DisposeAsync()
        {
            await _client.DisposeAsync().ConfigureAwait(false);
            await _server.DisposeAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }

    // Undisposed clients are kept referenced only so the soak can dispose them after the pattern; during the run
    // nothing touches them, which (with no GC, as in a short program) is what dropping the reference does too.
    private sealed class NaiveClientPerIteration(SoakTarget target) : SoakPatternInstance
    {
        private readonly List<HttpClient> _clients = [];

        public override Uri Url => target.Url;

        public override void Iterate()
        {
            HttpClient client = target.NewHttpClient();
            _clients.Add(client);
            _ = client.GetByteArrayAsync(target.Url).GetAwaiter().GetResult();
        }

        public override async ValueTask DisposeAsync()
        {
            _clients.ForEach(c => c.Dispose());
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class NaiveStreamed(SoakTarget target) : SoakPatternInstance
    {
        private readonly HttpClient _client = target.NewHttpClient();
        private readonly List<HttpResponseMessage> _responses = [];

        public override Uri Url => target.Url;

        public override void Iterate() =>
            _responses.Add(_client.GetAsync(target.Url, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult());

        public override async ValueTask DisposeAsync()
        {
            _responses.ForEach(r => r.Dispose());
            _client.Dispose();
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }
}
