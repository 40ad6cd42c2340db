namespace Tether;

/// <summary>One handler of a <see cref="ConnectionPool"/> (one per <see cref="TransportKey"/>) and a count of what
/// uses it: fetches holding a pool lease on it and its open sockets. Unused for an idle timeout, the pool's reaper
/// retires it (disposes the handler and drops it from the table), so per-key handlers do not accumulate (CORE-05).</summary>
internal sealed class Transport
{
    private const int Retired = int.MinValue;
    private readonly TimeProvider _time;
    private int _users;
    private long _unusedSince;

    /// <param name="time">The pool's clock (<see cref="ConnectionPool.Time"/>).</param>
    public Transport(TimeProvider time)
    {
        _time = time;
        _unusedSince = Clock.Now(time);
    }

    public HttpMessageInvoker Invoker { get; set; } = null!;

    /// <summary>The handler's own copies of the certificates its key was made from (client certificate, custom roots):
    /// the handler keeps using them for every connection it opens, so they must not be objects a client owns and may
    /// dispose (issue 16 review finding). Disposed with the handler.</summary>
    private List<System.Security.Cryptography.X509Certificates.X509Certificate2>? _ownedCertificates;

    /// <summary>A copy of <paramref name="certificate"/> that this transport owns: a second handle to the same
    /// certificate and private key (<c>new X509Certificate2(X509Certificate)</c> duplicates the handles), so
    /// disposing the caller's object does not affect it.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2 Own(
        System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
    {
        var copy = new System.Security.Cryptography.X509Certificates.X509Certificate2(certificate);
        (_ownedCertificates ??= []).Add(copy);
        return copy;
    }

    /// <summary>Disposes the handler, then the certificates it used.</summary>
    public void Dispose()
    {
        Invoker.Dispose();
        if (_ownedCertificates is { } owned)
        {
            foreach (var certificate in owned)
            {
                certificate.Dispose();
            }
        }
    }

    /// <summary>The proxy credentials of this handler, when it authenticates to a proxy: the pool offers each fetch's
    /// password as it sends (the password is not part of the key, CORE-06).</summary>
    public ProxyCredentialLookup? ProxyCredentials { get; set; }

    /// <summary>Counts one more user unless the transport was retired (then the caller looks it up again).</summary>
    public bool TryUse()
    {
        while (true)
        {
            var users = Volatile.Read(ref _users);
            if (users < 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _users, users + 1, users) == users)
            {
                return true;
            }
        }
    }

    public void Release() => Release(0);

    /// <summary>Ends one use. <paramref name="now"/>: a timestamp of this transport's clock taken just before (the
    /// releasing fetch's end), used as the unused-since time instead of a new clock read; 0 to read the clock.</summary>
    public void Release(long now)
    {
        if (Interlocked.Decrement(ref _users) == 0)
        {
            Volatile.Write(ref _unusedSince, now != 0 ? now : Clock.Now(_time));
        }
    }

    /// <summary>Retires the transport if nothing has used it for <paramref name="idle"/>; after that
    /// <see cref="TryUse"/> fails, so nobody can start on a handler that is being disposed.</summary>
    public bool TryRetire(TimeSpan idle) =>
        Volatile.Read(ref _users) == 0
        && Clock.Since(_time, Volatile.Read(ref _unusedSince)) >= idle
        && Interlocked.CompareExchange(ref _users, Retired, 0) == 0;
}
