using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Support;

/// <summary>One Kestrel test server on 127.0.0.1:0 for the whole test assembly, started before the first test and
/// stopped after the last.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public KestrelTestServer Server { get; private set; } = null!;

    public Uri Url(string pathAndQuery) => Server.Url(pathAndQuery);

    public async ValueTask InitializeAsync() => Server = await KestrelTestServer.StartAsync();

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
