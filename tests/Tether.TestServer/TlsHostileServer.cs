using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Tether.TestServer;

/// <summary>
/// A raw <see cref="SslStream"/> server on <c>127.0.0.1:0</c> that presents a bad certificate (self-signed,
/// expired or wrong host) or never completes the handshake (<see cref="TlsHostileBehavior"/>).
/// </summary>
/// <example>
/// <code>
/// await using var server = TlsHostileServer.Start(TlsHostileBehavior.Expired);
/// // trust server.CaCertificate, fetch server.Url("/"), expect a TLS 599 naming the expiry
/// </code>
/// </example>
/// <remarks>
/// When a client accepts the certificate anyway it gets one <c>200 ok</c> with <c>Connection: close</c>.
/// A handshake that has not finished after 10 s is abandoned. Members are thread-safe;
/// <see cref="DisposeAsync"/> closes the listener and every accepted socket and awaits every task.
/// </remarks>
public sealed class TlsHostileServer : IAsyncDisposable
{
    private static readonly TimeSpan s_handshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly RawListener _listener;
    private readonly TlsHostileBehavior _behavior;
    private readonly X509Certificate2? _presented;
    private long _handshakesCompleted;
    private long _handshakesFailed;

    private TlsHostileServer(TlsHostileBehavior behavior)
    {
        _behavior = behavior;
        _presented = behavior switch
        {
            TlsHostileBehavior.Valid => TestCertificates.Localhost,
            TlsHostileBehavior.SelfSigned => TestCertificates.SelfSigned,
            TlsHostileBehavior.Expired => TestCertificates.Expired,
            TlsHostileBehavior.WrongHost => TestCertificates.WrongHost,
            TlsHostileBehavior.NotYetValid => TestCertificates.NotYetValid,
            _ => null,
        };
        _listener = new RawListener(RunConnectionAsync, backlog: 128);
        Port = _listener.Port;
    }

    /// <summary>The port the server listens on (127.0.0.1).</summary>
    public int Port { get; }

    /// <summary>The test CA that signs the expired, wrong-host and valid leaves (public part only). Trust it to see the expiry or name failure.</summary>
    public X509Certificate2 CaCertificate { get; } = TestCertificates.PublicCopy(TestCertificates.Ca);

    /// <summary>The certificate presented (public part only), or <see langword="null"/> for <see cref="TlsHostileBehavior.NeverHandshake"/>.</summary>
    public X509Certificate2? ServerCertificate => _presented is null ? null : TestCertificates.PublicCopy(_presented);

    /// <summary>TCP connections accepted since start.</summary>
    public long AcceptedConnections => _listener.AcceptedConnections;

    /// <summary>Accepted connections not yet closed by the server.</summary>
    public int OpenConnections => _listener.OpenConnections;

    /// <summary>Handshakes the server side completed (the client accepted the certificate).</summary>
    public long HandshakesCompleted => Interlocked.Read(ref _handshakesCompleted);

    /// <summary>Handshakes that failed or were abandoned (typically the client rejected the certificate).</summary>
    public long HandshakesFailed => Interlocked.Read(ref _handshakesFailed);

    /// <summary>Starts a server.</summary>
    /// <param name="behavior">The certificate to present, or <see cref="TlsHostileBehavior.NeverHandshake"/>.</param>
    /// <returns>The listening server, which the caller must dispose.</returns>
    public static TlsHostileServer Start(TlsHostileBehavior behavior) => new(behavior);

    /// <summary>Builds <c>https://127.0.0.1:PORT/path</c>.</summary>
    /// <param name="path">The path and query; a missing leading slash is added.</param>
    /// <returns>The absolute URL.</returns>
    public Uri Url(string path = "/") => KestrelTestServer.Combine(new Uri($"https://127.0.0.1:{Port}/"), path);

    /// <summary>Builds <c>https://localhost:PORT/path</c> (the name the valid, expired and self-signed leaves carry).</summary>
    /// <param name="path">The path and query; a missing leading slash is added.</param>
    /// <returns>The absolute URL.</returns>
    public Uri LocalhostUrl(string path = "/") => KestrelTestServer.Combine(new Uri($"https://localhost:{Port}/"), path);

    /// <summary>Closes the listener and every accepted socket and awaits every connection task. Idempotent.</summary>
    /// <returns>A task that completes when everything is closed.</returns>
    public ValueTask DisposeAsync() => _listener.DisposeAsync();

    private async Task RunConnectionAsync(long id, Socket socket, CancellationToken token)
    {
        try
        {
            await using var network = new NetworkStream(socket, ownsSocket: false);
            if (_presented is null)
            {
                // NeverHandshake: swallow the ClientHello and anything after it until the client gives up.
                await new RequestReader(network).DrainUntilEofAsync(token).ConfigureAwait(false);
                return;
            }

            await using var ssl = new SslStream(network, leaveInnerStreamOpen: true);
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(token))
            {
                handshake.CancelAfter(s_handshakeTimeout);
                try
                {
                    await ssl.AuthenticateAsServerAsync(
                        new SslServerAuthenticationOptions
                        {
                            ServerCertificate = _presented,
                            ApplicationProtocols = [SslApplicationProtocol.Http11],
                        },
                        handshake.Token).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref _handshakesFailed);
                    throw;
                }
            }

            Interlocked.Increment(ref _handshakesCompleted);
            var reader = new RequestReader(ssl);
            if (await reader.ReadHeadAsync(token).ConfigureAwait(false) is { } head)
            {
                await reader.ReadBodyAsync(head, null, token).ConfigureAwait(false);
                await ssl.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"u8.ToArray(), token).ConfigureAwait(false);
                await ssl.ShutdownAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException
            or InvalidDataException or System.Security.Authentication.AuthenticationException)
        {
            // The client rejected the certificate, went away, or the server is stopping.
        }
    }
}
