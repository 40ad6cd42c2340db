namespace Tether.Extensions.DependencyInjection;

/// <summary>Creates caller-owned clients from named registrations, for singletons and background services that
/// cannot take a scoped client.</summary>
public interface ITetherClientFactory
{
    /// <summary>Creates a new client from the options registered under <paramref name="name"/>, leasing from the
    /// container's <see cref="TetherPool"/>. The caller owns it: dispose it when done (closing it closes only the sockets
    /// its own fetches hold; idle connections stay in the pool).</summary>
    /// <param name="name">The name given to AddTetherClient ("" for the default client).</param>
    /// <returns>A new client with <see cref="ClientOwnership.Caller"/>.</returns>
    AsyncHttpClient CreateClient(string name);
}
