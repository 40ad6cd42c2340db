using System.Security.Cryptography.X509Certificates;

namespace Tether;

/// <summary>The effective settings of one fetch: request value, else client default, else built-in default.</summary>
internal sealed class ResolvedSettings
{
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(20);
    public static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(20);
    public const int DefaultMaxRedirects = 5;
    public const int DefaultMaxHeaderSize = 64 * 1024;
    public const long DefaultMaxBodySize = 100L * 1024 * 1024;
    public static readonly string DefaultUserAgent = "Tether/" + ThisAssemblyVersion();

    public ResolvedSettings(FetchSettings r, FetchSettings d)
    {
        ConnectTimeout = r.ConnectTimeout ?? d.ConnectTimeout ?? DefaultConnectTimeout;
        RequestTimeout = r.RequestTimeout ?? d.RequestTimeout ?? DefaultRequestTimeout;
        QueueTimeout = r.QueueTimeout ?? d.QueueTimeout ?? Min(ConnectTimeout, RequestTimeout);
        BodyTimeout = r.BodyTimeout ?? d.BodyTimeout ?? Timeout.InfiniteTimeSpan;
        FollowRedirects = r.FollowRedirects ?? d.FollowRedirects ?? true;
        MaxRedirects = r.MaxRedirects ?? d.MaxRedirects ?? DefaultMaxRedirects;
        AllowInsecureRedirects = r.AllowInsecureRedirects ?? d.AllowInsecureRedirects ?? false;
        UserAgent = r.UserAgent ?? d.UserAgent ?? DefaultUserAgent;
        DecompressResponse = r.DecompressResponse ?? d.DecompressResponse ?? true;
        RaiseOnError = r.RaiseOnError ?? d.RaiseOnError ?? true;
        AllowNonstandardMethods = r.AllowNonstandardMethods ?? d.AllowNonstandardMethods ?? false;
        AuthUsername = r.AuthUsername ?? d.AuthUsername;
        AuthPassword = r.AuthPassword ?? d.AuthPassword;
        AuthMode = r.AuthMode ?? d.AuthMode ?? Tether.AuthMode.Basic;
        // User info in a Proxy URL stands for ProxyUsername/ProxyPassword of the same settings (the request's or the
        // defaults'), when those are not set there; the request's values win as for every field. The URL kept (handler,
        // transport key, messages) has no user info, so the password is never in a URL Tether or the handler prints.
        var (requestUser, requestPassword) = ProxyUrl.Credentials(r.Proxy);
        var (defaultUser, defaultPassword) = r.Proxy is null ? ProxyUrl.Credentials(d.Proxy) : (null, null);
        Proxy = ProxyUrl.WithoutCredentials(r.Proxy ?? d.Proxy);
        ProxyUsername = r.ProxyUsername ?? requestUser ?? d.ProxyUsername ?? defaultUser;
        ProxyPassword = r.ProxyPassword ?? requestPassword ?? d.ProxyPassword ?? defaultPassword;
        // HttpClient.DefaultProxy only stands in for a missing Proxy: with an explicit one it changes nothing, so it is
        // false then and such settings share the explicit proxy's handler.
        UseDefaultProxy = Proxy is null && (r.UseDefaultProxy ?? d.UseDefaultProxy ?? false);
        ValidateCertificate = r.ValidateCertificate ?? d.ValidateCertificate ?? true;
        CaCertificates = r.CaCertificates ?? d.CaCertificates;
        ClientCertificate = r.ClientCertificate ?? d.ClientCertificate;
        AllowIPv6 = r.AllowIPv6 ?? d.AllowIPv6 ?? true;
        ExpectContinue = r.ExpectContinue ?? d.ExpectContinue ?? false;
        MaxHeaderSize = r.MaxHeaderSize ?? d.MaxHeaderSize ?? DefaultMaxHeaderSize;
        MaxBodySize = r.MaxBodySize ?? d.MaxBodySize ?? DefaultMaxBodySize;
        HttpVersion = r.HttpVersion ?? d.HttpVersion ?? System.Net.HttpVersion.Version11;
        Transport = new TransportKey(
            ValidateCertificate,
            CaCertificates is null ? null : string.Join(",", CaCertificates.Select(static c => c.Thumbprint)),
            ClientCertificate?.Thumbprint,
            Proxy?.GetLeftPart(UriPartial.Authority),
            ProxyUsername,
            UseDefaultProxy,
            AllowIPv6,
            TransportKey.HeaderLimitKiB(MaxHeaderSize));
    }

    public TimeSpan ConnectTimeout { get; }
    public TimeSpan RequestTimeout { get; }
    public TimeSpan QueueTimeout { get; }
    public TimeSpan BodyTimeout { get; }
    public bool FollowRedirects { get; }
    public int MaxRedirects { get; }
    public bool AllowInsecureRedirects { get; }
    public string UserAgent { get; }
    public bool DecompressResponse { get; }
    public bool RaiseOnError { get; }
    public bool AllowNonstandardMethods { get; }
    public string? AuthUsername { get; set; }
    public string? AuthPassword { get; set; }
    public AuthMode AuthMode { get; }
    public Uri? Proxy { get; }
    public string? ProxyUsername { get; }
    public string? ProxyPassword { get; }

    /// <summary>No <see cref="Proxy"/>, and the handler sends through <see cref="HttpClient.DefaultProxy"/>
    /// (environment proxy variables, <c>no_proxy</c> included).</summary>
    public bool UseDefaultProxy { get; }
    public bool ValidateCertificate { get; }
    public X509Certificate2Collection? CaCertificates { get; }
    public X509Certificate2? ClientCertificate { get; }
    public bool AllowIPv6 { get; }
    public bool ExpectContinue { get; }
    public int MaxHeaderSize { get; }
    public long MaxBodySize { get; }
    public Version HttpVersion { get; }

    /// <summary>The settings that need a separate transport (connection pool key beyond scheme/host/port).</summary>
    public TransportKey Transport { get; }

    /// <summary>The pool and handler these settings were last sent through (a hint: checked, never trusted).</summary>
    public volatile TransportHint? TransportHint;

    /// <summary>Held by a process-wide table (<see cref="ResolvedSettingsCache"/>): its hint may only name
    /// <see cref="ConnectionPool.Process"/>, never a pool that can close (the table would keep it reachable).</summary>
    public bool IsShared { get; set; }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) =>
        a == Timeout.InfiniteTimeSpan ? b : b == Timeout.InfiniteTimeSpan ? a : a < b ? a : b;

    private static string ThisAssemblyVersion()
    {
        var v = typeof(ResolvedSettings).Assembly.GetName().Version;
        return v is null ? "0.0.0" : $"{v.Major}.{v.Minor}.{v.Build}";
    }
}

/// <summary>A client's resolved settings for requests that set no value of their own: built once, and again only
/// when the client's <see cref="AsyncHttpClientOptions.Defaults"/> change (they stay settable after the first
/// fetch). Each re-resolve validates the defaults again, so a value made invalid after the first fetch fails the next
/// fetch before anything is sent, as it would have failed the first.</summary>
internal sealed class ResolvedSettingsCache
{
    private static readonly FetchSettings s_none = new();
    private Entry? _entry;
    private FetchSettings? _validDefaults;
    private int _validVersion = -1;

    // Resolved settings shared by every client whose defaults hold equal values (a loop per call makes a client per
    // fetch, usually with the same few defaults): resolving builds the transport key and a handler hint once, not
    // per client. Bounded; past the bound a client resolves its own.
    private const int MaxShared = 256;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<FetchSettings.SettingValues, ResolvedSettings> s_shared = new();
    private static readonly ResolvedSettings s_builtIn = new(s_none, s_none) { IsShared = true };
    private static int s_sharedCount;

    /// <summary>The settings of a request without values of its own under <paramref name="defaults"/>.</summary>
    public ResolvedSettings Get(FetchSettings defaults)
    {
        if (defaults.CaCertificates is not null)
        {
            // A certificate collection can change in place; its thumbprints are read per fetch as before.
            EnsureValid(defaults);
            return new ResolvedSettings(s_none, defaults);
        }

        // The version is read before the values: a change made meanwhile leaves a newer version than the entry's, so
        // the next fetch resolves again.
        var version = defaults.Version;
        var entry = Volatile.Read(ref _entry);
        if (entry is not null && ReferenceEquals(entry.Defaults, defaults) && entry.Version == version)
        {
            return entry.Settings;
        }

        ResolvedSettings settings;
        if (defaults.CurrentValues() is not { } live)
        {
            settings = s_builtIn;
        }
        else if (!Shareable(live) || !s_shared.TryGetValue(live, out settings!))
        {
            var values = live with { }; // the stored key is a copy: the live values may change later
            var snapshot = new FetchSettings();
            snapshot.SetValues(values);
            // Issue 16 review finding: the defaults stay settable after the first fetch, so every re-resolve validates
            // what it resolves (the copy, so a change made meanwhile cannot slip past), with the error the first
            // fetch gives. Values equal to a shared entry or the built-in ones were valid when that entry was made.
            ThrowIfInvalid(snapshot);
            settings = new ResolvedSettings(s_none, snapshot);
            if (Shareable(values) && Volatile.Read(ref s_sharedCount) < MaxShared)
            {
                settings.IsShared = true;
                if (s_shared.TryAdd(values, settings))
                {
                    Interlocked.Increment(ref s_sharedCount);
                }
            }
        }

        Volatile.Write(ref _entry, new Entry(defaults, version, settings));
        return settings;
    }

    /// <summary>Throws the first fetch's <see cref="OptionsValidationException"/> if <paramref name="defaults"/>
    /// changed to an invalid value since they were last validated here (a version compare when unchanged). For the
    /// paths that resolve from the live defaults: a request with values of its own, defaults with CA certificates.</summary>
    public void EnsureValid(FetchSettings defaults)
    {
        var version = defaults.Version; // read before the values, as in Get
        if (Volatile.Read(ref _validVersion) == version && ReferenceEquals(Volatile.Read(ref _validDefaults), defaults))
        {
            return;
        }

        ThrowIfInvalid(defaults);
        Volatile.Write(ref _validDefaults, defaults);
        Volatile.Write(ref _validVersion, version);
    }

    private static void ThrowIfInvalid(FetchSettings defaults) =>
        OptionChecks.ThrowIfAny(nameof(AsyncHttpClientOptions), SettingsValidation.Validate(defaults, "Defaults."));

    // Values compared by Equals but owned per client are never shared: a client certificate is Equal to another
    // object of the same certificate (issuer and serial number), which its own client may dispose, and Uri equality
    // ignores a proxy's user info. Secrets (passwords) are not kept in a process-wide table either. Such clients
    // resolve their own (still once per change of their defaults).
    private static bool Shareable(FetchSettings.SettingValues values) =>
        values.ClientCertificate is null && string.IsNullOrEmpty(values.Proxy?.UserInfo)
        && values.AuthPassword is null && values.ProxyPassword is null;

    private sealed record Entry(FetchSettings Defaults, int Version, ResolvedSettings Settings);
}

/// <summary>
/// Settings that change how a connection is made. Connections are only shared between requests with equal keys
/// (the handler adds scheme, host and port), so a request never rides a connection made with another certificate,
/// trust store, proxy or proxy identity. One handler exists per key, so a key holds only what must separate
/// connections (CORE-06: per-key state is bounded):
/// <list type="bullet">
/// <item>The proxy user name is in the key (a CONNECT tunnel authenticated as one user never carries another user's
/// requests); the proxy password is not: the handler asks <see cref="ProxyCredentialLookup"/> for it each time the
/// proxy challenges, and that answers with the password of the fetch being sent. A rotated password reuses the
/// handler.</item>
/// <item>Whether the handler uses <see cref="HttpClient.DefaultProxy"/> (the environment's proxy) is in the key: a
/// request that asked for a direct connection never rides a connection made through the environment's proxy, nor the
/// reverse. It is false whenever an explicit proxy is set.</item>
/// <item>The header-size limit is in the key as a bucket, <see cref="HeaderLimitKiB"/>: the next power of two of
/// <c>MaxHeaderSize</c> in KiB (at most 2x the setting), so every possible value maps to one of at most 22
/// handlers, not one per value.</item>
/// </list>
/// </summary>
internal sealed record TransportKey(
    bool ValidateCertificate,
    string? CaThumbprints,
    string? ClientCertificateThumbprint,
    string? Proxy,
    string? ProxyUsername,
    bool DefaultProxy,
    bool AllowIPv6,
    int MaxResponseHeadersKiB)
{
    /// <summary>The handler's <see cref="SocketsHttpHandler.MaxResponseHeadersLength"/> (KiB) for a
    /// <c>MaxHeaderSize</c> in bytes: rounded up to whole KiB, then to the next power of two (1, 2, 4, ... KiB).</summary>
    public static int HeaderLimitKiB(int maxHeaderSize)
    {
        var kib = (int)Math.Min(int.MaxValue / 2 + 1, Math.Max(1, ((long)maxHeaderSize + 1023) / 1024));
        return (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)kib);
    }

    public override string ToString() =>
        $"validate={ValidateCertificate} ca={CaThumbprints ?? "system"} clientCert={ClientCertificateThumbprint ?? "none"} " +
        $"proxy={Proxy ?? (DefaultProxy ? "default" : "none")} ipv6={AllowIPv6} maxHeaderKiB={MaxResponseHeadersKiB}";
}

/// <summary>The handler a <see cref="ResolvedSettings"/> was last sent through, in which pool. Kept on the settings,
/// or (for process-wide shared settings sent through a pool other than the process pool) on the client, with the
/// settings it is for.</summary>
internal sealed class TransportHint(ConnectionPool pool, Transport transport, ResolvedSettings? settings)
{
    public ConnectionPool Pool { get; } = pool;

    public Transport Transport { get; } = transport;

    /// <summary>The settings a client-held hint is for (null on a hint the settings hold themselves).</summary>
    public ResolvedSettings? Settings { get; } = settings;
}
