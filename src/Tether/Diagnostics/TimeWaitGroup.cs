using System.Net;

namespace Tether.Diagnostics;

/// <summary>
/// TIME_WAIT entries that share one remote endpoint, as grouped by <see cref="CensusSnapshot.TimeWaitByRemote"/> and
/// <see cref="CensusSnapshot.AllTimeWaitByRemote"/>. TIME_WAIT sockets have no fd and no owner in the kernel, so a group
/// says where connections went, not which process made them; see <see cref="CensusSnapshot.TimeWaitClientSide"/> for the
/// attribution rule.
/// </summary>
/// <param name="Remote">The remote endpoint (the server the closed connections went to).</param>
/// <param name="Count">The number of TIME_WAIT entries towards it when the census was taken.</param>
public sealed record TimeWaitGroup(IPEndPoint Remote, int Count)
{
    /// <summary>Formats the group as <c>127.0.0.1:8080 x100</c>.</summary>
    /// <returns>A short description.</returns>
    public override string ToString() => $"{Remote} x{Count}";
}
