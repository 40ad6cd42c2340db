namespace Tether;

/// <summary>Raised inside the connect callback when a connect outlives the fetch's connect timeout; surfaced to the
/// caller as a connect-timeout 599.</summary>
internal sealed class ConnectTimeoutException : TimeoutException
{
    public ConnectTimeoutException(TimeSpan timeout, string endpoint, Exception inner)
        : base($"Connecting to {endpoint} did not complete within ConnectTimeout = {timeout}.", inner)
    {
        Timeout = timeout;
        Endpoint = endpoint;
    }

    public TimeSpan Timeout { get; }

    public string Endpoint { get; }
}
