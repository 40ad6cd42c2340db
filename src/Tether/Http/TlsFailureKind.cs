namespace Tether;

/// <summary>Why a TLS connection failed: the cause behind a <see cref="FetchErrorKind.Tls"/> error
/// (<see cref="FetchException.TlsFailure"/>), so code and tools can tell the fix apart (HTTP-10).</summary>
/// <remarks>Read from the <see cref="System.Security.Authentication.AuthenticationException"/> SocketsHttpHandler
/// raises, which names the policy errors and chain status flags. Revocation is not checked by default (as with a
/// default <see cref="SocketsHttpHandler"/>), so <see cref="Revoked"/> appears only where a chain policy checks it.</remarks>
public enum TlsFailureKind
{
    /// <summary>Not a TLS failure.</summary>
    None,

    /// <summary>The chain does not end at a trusted root: self-signed, unknown CA, or incomplete chain. Fix: trust the
    /// CA (<see cref="FetchSettings.CaCertificates"/>, curl <c>--cacert</c>) or fix the server's chain.</summary>
    UntrustedChain,

    /// <summary>The certificate has expired or is not yet valid (X509ChainStatusFlags.NotTimeValid).</summary>
    NotTimeValid,

    /// <summary>The certificate is not issued for the host in the URL (SslPolicyErrors.RemoteCertificateNameMismatch).</summary>
    NameMismatch,

    /// <summary>The certificate was revoked, or its revocation status could not be established.</summary>
    Revoked,

    /// <summary>The handshake itself failed: the peer does not speak TLS on that port, sent an alert, or shares no
    /// protocol version or cipher suite with this client.</summary>
    Handshake,
}
