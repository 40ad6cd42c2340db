using System.Net;

namespace Tether;

/// <summary>
/// The proxy credentials of one handler (one <see cref="TransportKey"/>, so one proxy and one user name): answers the
/// handler's 407 challenges with the newest password a fetch sent through this handler carried, so a rotated password
/// needs no new handler (CORE-06).
/// </summary>
/// <remarks>
/// The handler asks <see cref="GetCredential"/> for the connection or tunnel it is setting up, which belongs to the
/// pool, not to one fetch (a CONNECT tunnel may serve many fetches): so the rule is "the newest password offered",
/// which the pool updates (<see cref="Offer"/>) as each fetch is handed to the handler. While old and new passwords
/// are in use at once, the new one wins. Thread-safety: the newest password is one volatile reference.
/// </remarks>
internal sealed class ProxyCredentialLookup(string userName, string? password) : ICredentials
{
    private volatile string? _newest = password;

    /// <summary>The user name all requests of this handler share (it is part of the transport key).</summary>
    public string UserName { get; } = userName;

    /// <summary>Records the password of a fetch about to be sent; the next challenge is answered with it.</summary>
    public void Offer(string password)
    {
        if (!string.Equals(_newest, password, StringComparison.Ordinal))
        {
            _newest = password;
        }
    }

    /// <inheritdoc />
    public NetworkCredential GetCredential(Uri uri, string authType) => new(UserName, _newest ?? string.Empty);
}
