using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Tether.Extensions.DependencyInjection;

/// <summary>Makes clients from named <see cref="TetherClientOptions"/>; always leasing from the container's pool and
/// always <see cref="ClientOwnership.Caller"/> (the scope or the caller owns them, never an ambient loop).</summary>
internal sealed class TetherClientFactory(
    IOptionsMonitor<TetherClientOptions> options, TetherPool pool, ILoggerFactory? loggerFactory = null,
    TimeProvider? timeProvider = null) : ITetherClientFactory
{
    public AsyncHttpClient CreateClient(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var source = options.Get(name);
        var target = new AsyncHttpClientOptions { MaxClients = source.MaxClients, Name = ClientName(name) };
        Copy(source.Defaults, target.Defaults);
        if (loggerFactory is not null)
        {
            target.Logger = loggerFactory.CreateLogger($"Tether.AsyncHttpClient.{(name.Length == 0 ? "Default" : name)}");
        }

        // The container's clock (issue 16 review finding); the client's own Configure may still set another.
        target.TimeProvider = timeProvider;
        source.Configure?.Invoke(target);
        target.Ownership = ClientOwnership.Caller;
        target.Pool = pool.Pool;
        // The site is the first frame outside Tether and the container (whoever resolved or created the client): a
        // stack walk, as the compiler's caller line would name this file.
        return new AsyncHttpClient(target, Diagnostics.CallSite.Capture());
    }

    internal static string ClientName(string name) => name.Length == 0 ? "Tether(default)" : $"Tether({name})";

    internal static void Copy(FetchSettings from, FetchSettings to) => FetchSettings.CopyInto(from, to);
}
