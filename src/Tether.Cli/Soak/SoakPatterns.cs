using System.Net.Http;
using Tether.TestServer;

namespace Tether.Cli.Soak;

/// <summary>One usage pattern the soak repeats: how a program builds, uses and (maybe) closes a client.</summary>
/// <param name="Name">Short name, used by <c>--patterns</c>.</param>
/// <param name="IsTether">True for Tether patterns (they must stay flat); false for the naive .NET contrast.</param>
/// <param name="Description">One line: what the pattern does.</param>
/// <param name="Start">Builds a running instance against the target URL (the instance owns any server it starts).</param>
public sealed record SoakPattern(string Name, bool IsTether, string Description, Func<Uri, Task<SoakPatternInstance>> Start);

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
            url => Simple(url, Seed)),
        new("inside", true, "client built inside the coroutine, fetched, closed",
            url => Simple(url, Inside)),
        new("shared", true, "AsyncHttpClient.Shared inside each Run, never closed by the caller (the loop closes it)",
            url => Simple(url, Shared)),
        new("never-closed", true, "client built inside the loop and never closed (the loop closes it)",
            url => Simple(url, NeverClosed)),
        new("process-pool", true, "loop-owned clients leasing ConnectionPool.Process, never closed",
            url => Simple(url, ProcessPool)),
        new("streamed-undisposed", true, "FetchStreamAsync inside a loop, response never disposed (the loop closes it)",
            url => Simple(url, StreamedUndisposed)),
        new("server-idle-close", true, "one long-lived client; the server closes idle keep-alive connections (reaper must leave no CLOSE_WAIT)",
            _ => Task.FromResult<SoakPatternInstance>(new ServerIdleClose())),
        new("naive-httpclient", false, "new HttpClient per iteration, never disposed (.NET anti-pattern, for contrast)",
            url => Task.FromResult<SoakPatternInstance>(new NaiveClientPerIteration(url))),
        new("naive-streamed", false, "one HttpClient, ResponseHeadersRead response never disposed (.NET anti-pattern, for contrast)",
            url => Task.FromResult<SoakPatternInstance>(new NaiveStreamed(url))),
    ];

    // Named methods, not lambdas in the static initializer: a leak warning names its call site, and compiler names
    // of initializer lambdas came out two ways (`SoakPatterns..cctor` and `-cctor (SoakPatterns.cs:40)`, issue 14 item 9).
    private static void Seed(string u)
    {
        var client = new AsyncHttpClient();
        EventLoop.Run(async () => { await client.FetchAsync(u).ConfigureAwait(false); client.Close(); });
    }

    private static void Inside(string u) =>
        EventLoop.Run(async () => { var client = new AsyncHttpClient(); await client.FetchAsync(u).ConfigureAwait(false); client.Close(); });

    private static void Shared(string u) =>
        EventLoop.Run(async () => await AsyncHttpClient.Shared.FetchAsync(u).ConfigureAwait(false));

    private static void NeverClosed(string u) =>
        EventLoop.Run(async () => await new AsyncHttpClient().FetchAsync(u).ConfigureAwait(false));

    private static void ProcessPool(string u) =>
        EventLoop.Run(async () => await new AsyncHttpClient(new AsyncHttpClientOptions { Pool = ConnectionPool.Process }).FetchAsync(u).ConfigureAwait(false));

    private static void StreamedUndisposed(string u) =>
        EventLoop.Run(async () => _ = await new AsyncHttpClient().FetchStreamAsync(u).ConfigureAwait(false));

    private static Task<SoakPatternInstance> Simple(Uri url, Action<string> iterate) =>
        Task.FromResult<SoakPatternInstance>(new SimpleInstance(url, iterate));

    private sealed class SimpleInstance(Uri url, Action<string> iterate) : SoakPatternInstance
    {
        private readonly string _url = url.ToString();

        public override Uri Url => url;

        public override void Iterate() => iterate(_url);
    }

    // A raw keep-alive server that closes connections idle for 20 ms; every 25th iteration waits 40 ms so the server
    // closes the pooled connection and the client is left holding a CLOSE_WAIT socket until the reaper (100 ms) runs.
    private sealed class ServerIdleClose : SoakPatternInstance
    {
        private readonly HostileServer _server = HostileServer.Start(
            HostileBehavior.IdleCloseKeepAlive, new HostileServerOptions { IdleClose = TimeSpan.FromMilliseconds(20) });

        private readonly AsyncHttpClient _client = new(new AsyncHttpClientOptions
        {
            Name = "soak-idle-close",
            PoolOptions = new ConnectionPoolOptions { ReaperInterval = TimeSpan.FromMilliseconds(100) },
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
    private sealed class NaiveClientPerIteration(Uri url) : SoakPatternInstance
    {
        private readonly List<HttpClient> _clients = [];

        public override Uri Url => url;

        public override void Iterate()
        {
            var client = new HttpClient();
            _clients.Add(client);
            _ = client.GetByteArrayAsync(url).GetAwaiter().GetResult();
        }

        public override async ValueTask DisposeAsync()
        {
            _clients.ForEach(c => c.Dispose());
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class NaiveStreamed(Uri url) : SoakPatternInstance
    {
        private readonly HttpClient _client = new();
        private readonly List<HttpResponseMessage> _responses = [];

        public override Uri Url => url;

        public override void Iterate() =>
            _responses.Add(_client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult());

        public override async ValueTask DisposeAsync()
        {
            _responses.ForEach(r => r.Dispose());
            _client.Dispose();
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }
}
