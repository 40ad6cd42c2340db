namespace Tether.Diagnostics;

/// <summary>Options for <see cref="SocketCensus.Take(int, CensusOptions)"/>.</summary>
public sealed class CensusOptions
{
    /// <summary>
    /// Gets or sets the ports of servers the process connects to (for example an external server on
    /// port 8080). A TIME_WAIT entry whose <em>remote</em> port is one of these is counted in
    /// <see cref="CensusSnapshot.TimeWaitClientSide"/>, in addition to the process's own LISTEN ports.
    /// </summary>
    /// <value>Ports 1–65535. Default: empty (only the process's own LISTEN ports are used).</value>
    public IReadOnlyList<int> Ports { get; set; } = [];
}
