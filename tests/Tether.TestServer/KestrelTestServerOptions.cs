namespace Tether.TestServer;

/// <summary>Switches for <see cref="KestrelTestServer.StartAsync"/>. Plain settings with defaults in initializers.</summary>
public sealed class KestrelTestServerOptions
{
    /// <summary>Also listen on <c>[::1]:0</c> over plain HTTP.</summary>
    /// <value>Default <see langword="false"/>. When the host has no IPv6 loopback the start fails.</value>
    public bool IPv6 { get; set; }

    /// <summary>Also listen on an HTTPS endpoint (HTTP/1.1 and HTTP/2 by ALPN) with a leaf signed by the test CA.</summary>
    /// <value>Default <see langword="false"/>.</value>
    public bool Https { get; set; }

    /// <summary>Also listen on a second HTTPS endpoint that requires a client certificate signed by the test CA.</summary>
    /// <value>Default <see langword="false"/>.</value>
    public bool RequireClientCertificateEndpoint { get; set; }

    /// <summary>Largest request body Kestrel accepts, in bytes.</summary>
    /// <value>Default 512 MiB.</value>
    public long MaxRequestBodySize { get; set; } = 512L * 1024 * 1024;

    /// <summary>How long Kestrel keeps an idle keep-alive connection open.</summary>
    /// <value>Default 2 minutes (Kestrel's own default is 130 s).</value>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Most concurrent HTTP/2 streams per connection that Kestrel allows (SETTINGS_MAX_CONCURRENT_STREAMS);
    /// streams above it are refused with REFUSED_STREAM.</summary>
    /// <value>Default 100 (Kestrel's default).</value>
    public int Http2MaxStreamsPerConnection { get; set; } = 100;
}
