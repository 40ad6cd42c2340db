namespace Tether.TestServer;

/// <summary>Settings for <see cref="ProxyServer"/>.</summary>
public sealed class ProxyServerOptions
{
    /// <summary>The user name required in <c>Proxy-Authorization: Basic</c>; <see langword="null"/> means no authentication.</summary>
    /// <value>Default <see langword="null"/>.</value>
    public string? UserName { get; set; }

    /// <summary>The password required together with <see cref="UserName"/>.</summary>
    /// <value>Default empty.</value>
    public string Password { get; set; } = "";
}
