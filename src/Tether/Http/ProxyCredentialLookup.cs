using System.Net;

namespace Tether;

/// <summary>
/// The proxy credentials of one handler (one <see cref="TransportKey"/>, so one proxy and one user name): answers the
/// handler's 407 challenges with the password of the fetch being sent, so a rotated password needs no new handler.
/// </summary>
/// <remarks>
/// The handler asks <see cref="GetCredential"/> in the flow of the request it authenticates (a request sent through an
/// HTTP proxy) or of the request that started the connection (a CONNECT tunnel); the fetch being sent is
/// <see cref="FetchOperation.Current"/> there. When no fetch is current (a tunnel started for a fetch that has already
/// finished) the newest password seen is used. Thread-safety: the newest password is one volatile reference.
/// </remarks>
internal sealed class ProxyCredentialLookup(string userName, string? password) : ICredentials
{
    private volatile string? _newest = password;

    /// <summary>The user name all requests of this handler share (it is part of the transport key).</summary>
    public string UserName { get; } = userName;

    /// <inheritdoc />
    public NetworkCredential GetCredential(Uri uri, string authType)
    {
        var current = FetchOperation.Current?.Settings;
        var password = current is not null && current.ProxyUsername == UserName ? current.ProxyPassword : null;
        if (password is not null)
        {
            _newest = password;
        }
        else
        {
            password = _newest;
        }

        return new NetworkCredential(UserName, password ?? string.Empty);
    }
}
