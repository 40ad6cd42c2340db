using System.Globalization;
using System.Net;

namespace Tether.Tests;

/// <summary>TIME_WAIT entries of one exact connection (local and remote endpoint), read from /proc/net/tcp and tcp6.
/// Counting by the server's port alone is not exact in a parallel suite: a port that a finished test's server used
/// can be handed to a new server while the old connections' TIME_WAIT entries (60 s) still name it.</summary>
public static class TimeWaitRows
{
    private const string TimeWait = "06"; // TCP_TIME_WAIT in /proc/net/tcp's "st" column

    public static int Count(IPEndPoint local, IPEndPoint remote)
    {
        var count = 0;
        foreach (var path in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(path))
            {
                continue;
            }

            foreach (var line in File.ReadLines(path).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 3 && fields[3] == TimeWait && Port(fields[1]) == local.Port && Port(fields[2]) == remote.Port)
                {
                    count++;
                }
            }
        }

        return count;
    }

    private static int Port(string endpoint) =>
        int.Parse(endpoint.AsSpan(endpoint.IndexOf(':', StringComparison.Ordinal) + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
}
