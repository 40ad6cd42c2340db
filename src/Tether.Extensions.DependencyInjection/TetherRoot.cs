namespace Tether.Extensions.DependencyInjection;

/// <summary>Remembers the root provider (a singleton's factory is always given the root scope) so that a scoped
/// client's factory can tell it is being resolved from the root and fail with <see cref="TetherScopeException"/>,
/// even when the container does not validate scopes.</summary>
internal sealed class TetherRoot(IServiceProvider root)
{
    public void ThrowIfRoot(IServiceProvider current, string clientName)
    {
        if (ReferenceEquals(current, root))
        {
            throw new TetherScopeException(clientName);
        }
    }
}
