namespace Tether;

/// <summary>Where a fetch spent its time, measured on the monotonic clock.</summary>
/// <param name="Queue">Waiting for a <c>MaxClients</c> slot and a pool connection slot.</param>
/// <param name="Connect">TCP connect; zero when the connection was reused.</param>
/// <param name="Tls">TLS handshake; zero for http or a reused connection.</param>
/// <param name="FirstByte">From sending the request to the first response byte.</param>
/// <param name="Total">From the call to the end of the body (or to the headers, for a streamed response).</param>
public sealed record TimeInfo(TimeSpan Queue, TimeSpan Connect, TimeSpan Tls, TimeSpan FirstByte, TimeSpan Total);
