namespace Tether.TestServer;

/// <summary>What <see cref="TlsHostileServer"/> presents, or fails to do, during the TLS handshake.</summary>
public enum TlsHostileBehavior
{
    /// <summary>A valid leaf for localhost/127.0.0.1/::1 signed by the test CA (the control case).</summary>
    Valid,

    /// <summary>A self-signed leaf for localhost: the chain fails (untrusted root) even when the test CA is trusted.</summary>
    SelfSigned,

    /// <summary>A leaf for localhost signed by the test CA whose NotAfter is in the past: the chain fails (not time valid).</summary>
    Expired,

    /// <summary>A leaf signed by the test CA whose only SAN is "wrong.example": the name check fails.</summary>
    WrongHost,

    /// <summary>A leaf for localhost signed by the test CA whose NotBefore is tomorrow: the chain fails (not time valid).</summary>
    NotYetValid,

    /// <summary>Accepts TCP and never answers the ClientHello, so the handshake can only time out.</summary>
    NeverHandshake,
}
