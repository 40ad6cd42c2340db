namespace Tether;

/// <summary>Raised when a connection attempt outlives its connect deadline (the <c>ConnectTimeout</c> of the request
/// that started it): in the connect callback, or from the stream when the TLS handshake was cut off; surfaced to the
/// caller as a connect-timeout 599.</summary>
internal sealed class ConnectTimeoutException : TimeoutException
{
    public ConnectTimeoutException(TimeSpan timeout, string endpoint, Exception inner, bool duringTls = false, string? socketSlotHolders = null)
        : base(duringTls
            ? $"The TLS handshake with {endpoint} did not complete within ConnectTimeout = {timeout}."
            : socketSlotHolders is not null
                ? $"No socket slot became free for {endpoint} within ConnectTimeout = {timeout}; {socketSlotHolders}"
                : $"Connecting to {endpoint} did not complete within ConnectTimeout = {timeout}.", inner)
    {
        Timeout = timeout;
        Endpoint = endpoint;
        DuringTls = duringTls;
        SocketSlotHolders = socketSlotHolders;
    }

    public bool DuringTls { get; }

    /// <summary>Set when the attempt never connected because it waited the whole deadline for a socket slot under
    /// <c>MaxConnectionsTotal</c>: the limit and what held the sockets (no connection to the endpoint was tried).</summary>
    public string? SocketSlotHolders { get; }

    public TimeSpan Timeout { get; }

    public string Endpoint { get; }
}
