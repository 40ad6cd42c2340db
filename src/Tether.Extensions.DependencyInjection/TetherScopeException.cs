namespace Tether.Extensions.DependencyInjection;

/// <summary>
/// A scoped Tether client (or typed client) was resolved from the root service provider, where it would never be
/// closed until the application stops. Resolve it inside a scope instead.
/// </summary>
public sealed class TetherScopeException : InvalidOperationException
{
    /// <summary>Creates the exception for the client registered under <paramref name="clientName"/>.</summary>
    /// <param name="clientName">The client's registration name ("" for the default client).</param>
    public TetherScopeException(string clientName)
        : base(
            $"The Tether client '{(clientName.Length == 0 ? "(default)" : clientName)}' is scoped: it is owned by the DI scope " +
            "that resolves it and closed when that scope ends, but it was resolved from the root service provider, where it " +
            "would hold its sockets until the application stops. Resolve it inside a scope (IServiceScopeFactory.CreateScope(), " +
            "an ASP.NET Core request, or a scoped/transient service), or, from a singleton, use ITetherClientFactory.CreateClient " +
            "(you own and dispose the client) or an IHttpClientFactory client with UseTether().")
    {
        ClientName = clientName;
    }

    /// <summary>The client's registration name ("" for the default client).</summary>
    public string ClientName { get; }
}
