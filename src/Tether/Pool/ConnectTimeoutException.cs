namespace Tether;

/// <summary>Raised when a connection attempt outlives its connect deadline (the <c>ConnectTimeout</c> of the request
/// that started it): in the connect callback, or from the stream when the TLS handshake was cut off; surfaced to the
/// caller as a connect-timeout 599.</summary>
internal sealed class ConnectTimeoutException : TimeoutException
{
    public ConnectTimeoutException(TimeSpan timeout, string endpoint, Exception inner, bool duringTls = false)
        : base(duringTls
            ? $"The TLS handshake with {endpoint} did not complete within ConnectTimeout = {timeout}."
            : $"Connecting to {endpoint} did not complete within ConnectTimeout = {timeout}.", inner)
    {
        Timeout = timeout;
        Endpoint = endpoint;
        DuringTls = duringTls;
    }

    public bool DuringTls { get; }

    public TimeSpan Timeout { get; }

    public string Endpoint { get; }
}
