namespace Tether;

/// <summary>HTTP authentication schemes a fetch can use.</summary>
public enum AuthMode
{
    /// <summary>RFC 7617 Basic: sent up front.</summary>
    Basic,

    /// <summary>RFC 7616 Digest (MD5 and SHA-256, qop=auth): answered after the server's 401 challenge, once.</summary>
    Digest,
}
