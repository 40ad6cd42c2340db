namespace Tether.Diagnostics;

/// <summary>
/// The difference between two <see cref="CensusSnapshot"/>s of the same process (later minus earlier),
/// with the same fields; counts may be negative. Made by <see cref="CensusSnapshot.Delta(CensusSnapshot)"/>.
/// Immutable and thread-safe.
/// </summary>
public sealed class CensusDelta
{
    internal CensusDelta(CensusSnapshot from, CensusSnapshot to)
    {
        From = from;
        To = to;
        TotalFds = to.TotalFds - from.TotalFds;
        Tcp = to.Tcp.Minus(from.Tcp);
        UnixSockets = to.UnixSockets - from.UnixSockets;
        UdpSockets = to.UdpSockets - from.UdpSockets;
        OtherSockets = to.OtherSockets - from.OtherSockets;
        Epoll = to.Epoll - from.Epoll;
        EventFd = to.EventFd - from.EventFd;
        Pipes = to.Pipes - from.Pipes;
        Files = to.Files - from.Files;
        Devices = to.Devices - from.Devices;
        OtherFds = to.OtherFds - from.OtherFds;
        TimeWaitClientSide = to.TimeWaitClientSide - from.TimeWaitClientSide;
        TimeWaitServerSide = to.TimeWaitServerSide - from.TimeWaitServerSide;
    }

    /// <summary>Gets the baseline snapshot.</summary>
    public CensusSnapshot From { get; }

    /// <summary>Gets the later snapshot.</summary>
    public CensusSnapshot To { get; }

    /// <summary>Gets the time between the two snapshots.</summary>
    public TimeSpan Elapsed => To.TakenAt - From.TakenAt;

    /// <summary>Gets the change in <see cref="CensusSnapshot.TotalFds"/>.</summary>
    public int TotalFds { get; }

    /// <summary>Gets the change per TCP state.</summary>
    public TcpStateCounts Tcp { get; }

    /// <summary>Gets the change in <see cref="CensusSnapshot.UnixSockets"/>.</summary>
    public int UnixSockets { get; }

    /// <summary>Gets the change in <see cref="CensusSnapshot.UdpSockets"/>.</summary>
    public int UdpSockets { get; }

    /// <summary>Gets the change in <see cref="CensusSnapshot.OtherSockets"/>.</summary>
    public int OtherSockets { get; }

    /// <summary>Gets the change in <see cref="CensusSnapshot.Epoll"/>.</summary>
    public int Epoll { get; }

    /// <summary>Gets the change in <see cref="CensusSnapshot.EventFd"/>.</summary>
    public int EventFd { get; }

    /// <summary>Gets the change in <see cref="CensusSnapshot.Pipes"/>.</summary>
    public int Pipes { get; }

    /// <summary>Gets the change in <see cref="CensusSnapshot.Files"/>.</summary>
    public int Files { get; }

    /// <summary>Gets the change in <see cref="CensusSnapshot.Devices"/>.</summary>
    public int Devices { get; }

    /// <summary>Gets the change in <see cref="CensusSnapshot.OtherFds"/>.</summary>
    public int OtherFds { get; }

    /// <summary>Gets the change in <see cref="CensusSnapshot.TimeWaitClientSide"/>.</summary>
    public int TimeWaitClientSide { get; }

    /// <summary>Gets the change in <see cref="CensusSnapshot.TimeWaitServerSide"/>.</summary>
    public int TimeWaitServerSide { get; }

    /// <summary>
    /// Gets a value indicating whether every fd count is unchanged (TIME_WAIT, which has no fd, is not considered).
    /// </summary>
    public bool FdsUnchanged =>
        TotalFds == 0 && Tcp.Total == 0 && UnixSockets == 0 && UdpSockets == 0 && OtherSockets == 0 && Epoll == 0
        && EventFd == 0 && Pipes == 0 && Files == 0 && Devices == 0 && OtherFds == 0
        && TcpStateCounts.States.All(s => Tcp[s] == 0);

    /// <summary>Formats the delta on one line, with signs (<c>fds=+2 tcp[ESTABLISHED=+2 …] …</c>).</summary>
    /// <returns>The one-line delta.</returns>
    public override string ToString() => CensusSnapshot.Format(
        TotalFds, Tcp.Format(signed: true), UnixSockets, UdpSockets, OtherSockets, Epoll, EventFd, Pipes, Files, Devices, OtherFds, TimeWaitClientSide, TimeWaitServerSide, signed: true);
}
