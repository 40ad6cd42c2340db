using System.Net;

namespace Tether.Diagnostics;

/// <summary>
/// One TCP socket that the census found among a process's fds, with its endpoints and state as the
/// kernel reports them. Used to find a socket by endpoint and to reconcile the OS view with a pool ledger.
/// </summary>
/// <param name="Inode">The socket inode (the <c>N</c> in the fd link <c>socket:[N]</c>).</param>
/// <param name="Fd">The fd number in the process that holds the socket (the lowest one if it is duplicated).</param>
/// <param name="Local">The local endpoint (<c>0.0.0.0:0</c> style when unbound).</param>
/// <param name="Remote">The remote endpoint (<c>0.0.0.0:0</c> for listeners).</param>
/// <param name="State">The TCP state.</param>
public sealed record CensusSocket(ulong Inode, int Fd, IPEndPoint Local, IPEndPoint Remote, TcpState State)
{
    /// <summary>Formats the socket as <c>fd 12 127.0.0.1:40000 -> 127.0.0.1:8080 ESTABLISHED</c>.</summary>
    /// <returns>A one-line description.</returns>
    public override string ToString() =>
        $"fd {Fd} {Local} -> {Remote} {TcpStateCounts.KernelName(State)} (inode {Inode})";
}
