using System.Net;

namespace Tether.Diagnostics;

/// <summary>Options for <see cref="SocketCensus.Take(int, CensusOptions)"/>.</summary>
public sealed class CensusOptions
{
    /// <summary>
    /// Gets or sets the ports of servers the process connects to (for example an external server on port 8080). A
    /// TIME_WAIT entry whose <em>remote</em> port is one of these is counted in
    /// <see cref="CensusSnapshot.TimeWaitClientSide"/> (any remote address).
    /// </summary>
    /// <value>Ports 1–65535. Default: empty.</value>
    public IReadOnlyList<int> Ports { get; set; } = [];

    /// <summary>
    /// Gets or sets the endpoints of servers the process connects to. A TIME_WAIT entry whose remote endpoint (address
    /// and port) is one of these is counted in <see cref="CensusSnapshot.TimeWaitClientSide"/>. <c>tether watch</c> passes
    /// every remote endpoint the process was seen connected to in earlier samples, so connections that closed between two
    /// samples are still attributed.
    /// </summary>
    /// <value>Endpoints with ports 1–65535; IPv4-mapped IPv6 addresses match their IPv4 form. Default: empty.</value>
    public IReadOnlyList<IPEndPoint> RemoteEndPoints { get; set; } = [];
}
