using System.Net;
using System.Net.Sockets;
using Tether.Diagnostics;
using Xunit;

namespace Tether.Tests.Support;

/// <summary>The Clean check's socket reader (issue 13) sees what the census sees, and the check fails when a socket is
/// left open: without these, a reader that saw nothing would make every Clean check pass.</summary>
public sealed class OwnTcpSocketsTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10); // a close on loopback takes milliseconds; 10 s: load margin

    [Fact]
    public async Task Own_sockets_show_both_ends_of_a_connection_with_the_census_states_and_ports()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, port, TestContext.Current.CancellationToken);
        using var server = await listener.AcceptAsync(TestContext.Current.CancellationToken);
        var clientPort = ((IPEndPoint)client.LocalEndPoint!).Port;

        var own = OwnTcpSockets.Snapshot();
        Assert.Contains(own, s => s.State == TcpState.Listen && s.LocalPort == port && s.RemotePort == 0);
        Assert.Contains(own, s => s.State == TcpState.Established && s.LocalPort == clientPort && s.RemotePort == port);
        Assert.Contains(own, s => s.State == TcpState.Established && s.LocalPort == port && s.RemotePort == clientPort);
        Assert.True(OwnTcpSockets.AnyOpenTowards(new HashSet<int> { port }));
        Assert.Equal(1, OwnTcpSockets.Towards(port, TcpState.Established));

        // The census, which reads /proc/net/tcp and matches inodes to this process's fds, sees the same two ends.
        var census = SocketCensus.Take().TcpSockets;
        Assert.Contains(census, s => s.State == TcpState.Established && s.Local.Port == clientPort && s.Remote.Port == port);
        Assert.Contains(census, s => s.State == TcpState.Established && s.Local.Port == port && s.Remote.Port == clientPort);

        // The server closes first: the client end is CLOSE_WAIT until it closes too.
        server.Close();
        await WaitAsync(() => OwnTcpSockets.Snapshot().Any(s => s.State == TcpState.CloseWait && s.LocalPort == clientPort && s.RemotePort == port),
            "the client end to reach CLOSE_WAIT");
        Assert.True(OwnTcpSockets.AnyOpenTowards(new HashSet<int> { port }));
        Assert.Equal(1, OwnTcpSockets.Towards(port, TcpState.CloseWait));

        client.Close();
        await WaitAsync(() => !OwnTcpSockets.AnyOpenTowards(new HashSet<int> { port }), "nothing open towards the port once both ends closed");
    }

    [Fact]
    public async Task Own_sockets_read_IPv6_ports()
    {
        using var listener = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        listener.Listen();
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        using var client = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.IPv6Loopback, port, TestContext.Current.CancellationToken);
        using var server = await listener.AcceptAsync(TestContext.Current.CancellationToken);
        Assert.Equal(1, OwnTcpSockets.Towards(port, TcpState.Established));
    }

    [Fact]
    public async Task Leak_check_fails_while_a_socket_towards_its_port_is_open_and_passes_once_it_is_closed()
    {
        await using var server = await Tether.TestServer.KestrelTestServer.StartAsync();
        var check = LeakCheck.Start(server);
        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(IPAddress.Loopback, server.Port, TestContext.Current.CancellationToken);
        await WaitAsync(() => OwnTcpSockets.Towards(server.Port, TcpState.Established) == 1, "the raw connection to be ESTABLISHED");

        // A socket left open is what the check exists to find (given 1 s here for the server end to close, not 15 s).
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => check.AssertCleanAsync(TimeSpan.FromSeconds(1)));
        Assert.Contains("sockets still ESTABLISHED/CLOSE_WAIT towards port(s)", failure.Message, StringComparison.Ordinal);

        raw.Close();
        await check.AssertCleanAsync();
    }

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < Bound, $"waited {Bound.TotalSeconds:0} s for {what}");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }
}
