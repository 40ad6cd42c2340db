using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.TestServer;

// Self-checks of the raw-socket servers (hostile, TLS, proxy) and the leaker helper, using raw sockets and HttpClient.
public sealed class RawServersTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Hostile_ResetAfterHeaders_sends_the_head_then_a_real_reset()
    {
        await using var server = HostileServer.Start(HostileBehavior.ResetAfterHeaders);
        using var socket = await ConnectAsync(server.Port);
        await socket.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), Ct);

        var received = new StringBuilder();
        var error = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            var buffer = new byte[4096];
            int read;
            while ((read = await socket.ReceiveAsync(buffer, Ct)) > 0)
            {
                received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        });

        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", received.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, server.AcceptedConnections);
    }

    [Fact]
    public async Task Hostile_Respond200KeepAlive_proves_reuse_and_closed_port_refuses()
    {
        await using var server = HostileServer.Start(HostileBehavior.Respond200KeepAlive);
        using (var client = new HttpClient())
        {
            Assert.Equal("ok", await client.GetStringAsync(server.Url("/a"), Ct));
            Assert.Equal("ok", await client.GetStringAsync(server.Url("/b"), Ct));
        }

        Assert.Equal([2], server.RequestsOnConnection);
        Assert.StartsWith("GET /b HTTP/1.1\r\n", server.RequestHeads[1], StringComparison.Ordinal);

        using var refused = new Socket(SocketType.Stream, ProtocolType.Tcp);
        var error = await Assert.ThrowsAsync<SocketException>(() => refused.ConnectAsync(IPAddress.Loopback, HostileServer.GetClosedPort(), Ct).AsTask());
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    [Fact]
    public async Task Hostile_raw_mode_sends_exact_bytes_and_dispose_closes_a_never_answering_connection()
    {
        await using (var raw = HostileServer.StartRaw("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"u8.ToArray()))
        using (var client = new HttpClient())
        {
            Assert.Equal("abc", await client.GetStringAsync(raw.Url(), Ct));
        }

        var silent = HostileServer.Start(HostileBehavior.AcceptAndNeverAnswer);
        using var socket = await ConnectAsync(silent.Port);
        await socket.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), Ct);
        await WaitUntilAsync(() => silent.RequestHeads.Count == 1, "the silent server to read the request head");
        Assert.Equal(1, silent.OpenConnections);

        await silent.DisposeAsync();
        await silent.DisposeAsync();

        Assert.Equal(0, silent.OpenConnections);
        // Closed by the server, no hang: a FIN (0 bytes), or a reset when the close happened while the server's read
        // was still pending (seen under a CPU hog, issue 13's stress run). Either way no byte of a response arrives.
        int received;
        try
        {
            received = await socket.ReceiveAsync(new byte[16], Ct);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            received = 0;
        }

        Assert.Equal(0, received);
    }

    [Fact]
    public async Task Hostile_ChunkedWithFinInSameSegment_is_a_complete_chunked_body()
    {
        await using var server = HostileServer.Start(HostileBehavior.ChunkedWithFinInSameSegment);
        using var client = new HttpClient();
        Assert.Equal("chunk 0\nchunk 1\nchunk 2\n", await client.GetStringAsync(server.Url(), Ct));
    }

    [Theory]
    [InlineData(TlsHostileBehavior.SelfSigned, SslPolicyErrors.RemoteCertificateChainErrors, X509ChainStatusFlags.UntrustedRoot)]
    [InlineData(TlsHostileBehavior.Expired, SslPolicyErrors.RemoteCertificateChainErrors, X509ChainStatusFlags.NotTimeValid)]
    [InlineData(TlsHostileBehavior.WrongHost, SslPolicyErrors.RemoteCertificateNameMismatch, X509ChainStatusFlags.NoError)]
    [InlineData(TlsHostileBehavior.Valid, SslPolicyErrors.None, X509ChainStatusFlags.NoError)]
    public async Task Tls_certificates_fail_validation_for_the_right_reason_while_the_CA_is_trusted(
        TlsHostileBehavior behavior, SslPolicyErrors expectedErrors, X509ChainStatusFlags expectedStatus)
    {
        await using var server = TlsHostileServer.Start(behavior);
        using var socket = await ConnectAsync(server.Port);
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        var errors = SslPolicyErrors.None;
        var status = X509ChainStatusFlags.NoError;
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                CustomTrustStore = { server.CaCertificate },
                RevocationMode = X509RevocationMode.NoCheck,
            },
            RemoteCertificateValidationCallback = (_, _, chain, policyErrors) =>
            {
                errors = policyErrors;
                foreach (var element in chain!.ChainStatus)
                {
                    status |= element.Status;
                }

                return policyErrors == SslPolicyErrors.None;
            },
        };

        if (expectedErrors == SslPolicyErrors.None)
        {
            await ssl.AuthenticateAsClientAsync(options, Ct);
        }
        else
        {
            await Assert.ThrowsAsync<AuthenticationException>(() => ssl.AuthenticateAsClientAsync(options, Ct));
        }

        Assert.Equal(expectedErrors, errors);
        Assert.Equal(expectedStatus, status & expectedStatus);
    }

    [Fact]
    public async Task Tls_NeverHandshake_accepts_tcp_and_never_answers_the_client_hello()
    {
        await using var server = TlsHostileServer.Start(TlsHostileBehavior.NeverHandshake);
        using var socket = await ConnectAsync(server.Port);
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, timeout.Token));
        Assert.Equal(1, server.AcceptedConnections);
    }

    [Fact]
    public async Task Proxy_tunnels_CONNECT_to_kestrel_and_keeps_credentials_out_of_the_tunnel()
    {
        await using var kestrel = await KestrelTestServer.StartAsync(cancellationToken: Ct);
        await using var proxy = ProxyServer.Start(new ProxyServerOptions { UserName = "proxyuser", Password = "proxypass" });
        using var socket = await ConnectAsync(proxy.Port);
        var credentials = Convert.ToBase64String("proxyuser:proxypass"u8.ToArray());
        await socket.SendAsync(Encoding.ASCII.GetBytes($"CONNECT 127.0.0.1:{kestrel.Port} HTTP/1.1\r\nHost: 127.0.0.1:{kestrel.Port}\r\n\r\n"), Ct);
        Assert.StartsWith("HTTP/1.1 407", await ReceiveHeadAsync(socket), StringComparison.Ordinal);

        await socket.SendAsync(Encoding.ASCII.GetBytes(
            $"CONNECT 127.0.0.1:{kestrel.Port} HTTP/1.1\r\nHost: 127.0.0.1:{kestrel.Port}\r\nProxy-Authorization: Basic {credentials}\r\n\r\n"), Ct);
        Assert.StartsWith("HTTP/1.1 200", await ReceiveHeadAsync(socket), StringComparison.Ordinal);

        await socket.SendAsync("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"u8.ToArray(), Ct);
        var response = await ReceiveAllAsync(socket);
        Assert.EndsWith("\r\n\r\nHello, world!", response, StringComparison.Ordinal);

        Assert.Equal(1, proxy.TunnelsOpened);
        Assert.Equal(1, kestrel.AcceptedConnections);
        Assert.Contains("Proxy-Authorization: Basic", proxy.RequestHeads[1], StringComparison.Ordinal);
        Assert.DoesNotContain("Proxy-Authorization", proxy.TunnelPayloads.Single(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Proxy_forwards_absolute_form_to_loopback_and_refuses_other_hosts()
    {
        await using var kestrel = await KestrelTestServer.StartAsync(cancellationToken: Ct);
        await using var proxy = ProxyServer.Start();
        using var client = new HttpClient(new SocketsHttpHandler { Proxy = new WebProxy(proxy.BaseUri), UseProxy = true });

        Assert.Equal("Hello, world!", await client.GetStringAsync(kestrel.Url("/hello"), Ct));
        using var refused = await client.GetAsync("http://192.0.2.1/hello", Ct);

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.StartsWith($"GET http://127.0.0.1:{kestrel.Port}/hello HTTP/1.1", proxy.RequestHeads[0], StringComparison.Ordinal);
        Assert.Equal(0, proxy.TunnelsOpened);
    }

    [Fact]
    public async Task Leaker_process_reports_its_socketpairs_and_is_killed_on_dispose()
    {
        var leaker = await LeakerProcess.StartAsync(intervalMs: 20, maxPairs: 3, TimeSpan.FromSeconds(30));
        await leaker.WaitForPairsAsync(3, TimeSpan.FromSeconds(10)); // 3 pairs 20 ms apart after start-up: < 1 s unloaded
        var unixSockets = Directory.GetFiles($"/proc/{leaker.Pid}/fd")
            .Count(fd => new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true);

        await leaker.DisposeAsync();

        Assert.True(unixSockets >= 6, $"expected at least 6 sockets, saw {unixSockets}");
        Assert.False(Directory.Exists($"/proc/{leaker.Pid}/fd"));
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port, Ct);
        return socket;
    }

    private static async Task<string> ReceiveHeadAsync(Socket socket)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (!Encoding.ASCII.GetString([.. head]).EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            Assert.Equal(1, await socket.ReceiveAsync(one, Ct));
            head.Add(one[0]);
        }

        return Encoding.ASCII.GetString([.. head]);
    }

    private static async Task<string> ReceiveAllAsync(Socket socket)
    {
        var all = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, Ct)) > 0)
        {
            all.Write(buffer, 0, read);
        }

        return Encoding.ASCII.GetString(all.ToArray());
    }

    /// <summary>Waits until <paramref name="condition"/> holds, at most 500 polls 10 ms apart (5 s or more), and fails
    /// naming <paramref name="what"/>. What it waits for happens within milliseconds on loopback; 5 s is the margin for
    /// a loaded 2-core machine.</summary>
    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10, Ct);
        }

        Assert.True(condition(), $"waited 500 polls (5 s or more) for {what}");
    }
}
