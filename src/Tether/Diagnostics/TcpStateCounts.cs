using System.Text;

namespace Tether.Diagnostics;

/// <summary>
/// A count per <see cref="TcpState"/>: one property per state, an indexer, and a one-line
/// <see cref="ToString"/> (<c>ESTABLISHED=2 CLOSE_WAIT=0 ...</c>). Immutable and thread-safe.
/// In a <see cref="CensusDelta"/> the counts are differences and may be negative.
/// </summary>
public sealed class TcpStateCounts : IEquatable<TcpStateCounts>
{
    /// <summary>Every state, in kernel code order (ESTABLISHED first, CLOSING last).</summary>
    public static IReadOnlyList<TcpState> States { get; } = Enum.GetValues<TcpState>();

    // Index = kernel code (1..11); slot 0 is unused.
    private readonly int[] _counts;

    internal TcpStateCounts(int[] counts) => _counts = counts;

    /// <summary>Gets the count for <paramref name="state"/>.</summary>
    /// <param name="state">The TCP state.</param>
    /// <returns>The number of sockets in that state (a difference in a delta).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="state"/> is not a defined state.</exception>
    public int this[TcpState state]
    {
        get
        {
            int i = (int)state;
            ArgumentOutOfRangeException.ThrowIfLessThan(i, 1, nameof(state));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(i, 11, nameof(state));
            return _counts[i];
        }
    }

    /// <summary>Gets the number of ESTABLISHED sockets.</summary>
    public int Established => _counts[(int)TcpState.Established];

    /// <summary>Gets the number of SYN_SENT sockets.</summary>
    public int SynSent => _counts[(int)TcpState.SynSent];

    /// <summary>Gets the number of SYN_RECV sockets.</summary>
    public int SynRecv => _counts[(int)TcpState.SynRecv];

    /// <summary>Gets the number of FIN_WAIT1 sockets.</summary>
    public int FinWait1 => _counts[(int)TcpState.FinWait1];

    /// <summary>Gets the number of FIN_WAIT2 sockets.</summary>
    public int FinWait2 => _counts[(int)TcpState.FinWait2];

    /// <summary>
    /// Gets the number of TIME_WAIT sockets that still hold an fd (normally 0: TIME_WAIT sockets have
    /// no fd; see <see cref="CensusSnapshot.TimeWaitClientSide"/> for the port-attributed count).
    /// </summary>
    public int TimeWait => _counts[(int)TcpState.TimeWait];

    /// <summary>Gets the number of CLOSE sockets.</summary>
    public int Close => _counts[(int)TcpState.Close];

    /// <summary>Gets the number of CLOSE_WAIT sockets (the peer closed, this process did not).</summary>
    public int CloseWait => _counts[(int)TcpState.CloseWait];

    /// <summary>Gets the number of LAST_ACK sockets.</summary>
    public int LastAck => _counts[(int)TcpState.LastAck];

    /// <summary>Gets the number of LISTEN sockets.</summary>
    public int Listen => _counts[(int)TcpState.Listen];

    /// <summary>Gets the number of CLOSING sockets.</summary>
    public int Closing => _counts[(int)TcpState.Closing];

    /// <summary>Gets the sum over all states.</summary>
    public int Total
    {
        get
        {
            int sum = 0;
            for (int i = 1; i < _counts.Length; i++)
            {
                sum += _counts[i];
            }

            return sum;
        }
    }

    /// <summary>Gets the kernel's name for <paramref name="state"/> (<c>ESTABLISHED</c>, <c>CLOSE_WAIT</c>, …).</summary>
    /// <param name="state">The TCP state.</param>
    /// <returns>The upper-case name used by <c>ss</c> and <c>netstat</c>.</returns>
    public static string KernelName(TcpState state) => state switch
    {
        TcpState.Established => "ESTABLISHED",
        TcpState.SynSent => "SYN_SENT",
        TcpState.SynRecv => "SYN_RECV",
        TcpState.FinWait1 => "FIN_WAIT1",
        TcpState.FinWait2 => "FIN_WAIT2",
        TcpState.TimeWait => "TIME_WAIT",
        TcpState.Close => "CLOSE",
        TcpState.CloseWait => "CLOSE_WAIT",
        TcpState.LastAck => "LAST_ACK",
        TcpState.Listen => "LISTEN",
        TcpState.Closing => "CLOSING",
        _ => state.ToString(),
    };

    internal TcpStateCounts Minus(TcpStateCounts other)
    {
        var diff = new int[_counts.Length];
        for (int i = 0; i < diff.Length; i++)
        {
            diff[i] = _counts[i] - other._counts[i];
        }

        return new TcpStateCounts(diff);
    }

    /// <summary>Formats every state as <c>NAME=count</c>, space-separated, in kernel code order.</summary>
    /// <returns>For example <c>ESTABLISHED=2 SYN_SENT=0 … CLOSING=0</c>.</returns>
    public override string ToString() => Format(signed: false);

    internal string Format(bool signed)
    {
        var sb = new StringBuilder(160);
        foreach (TcpState state in States)
        {
            if (sb.Length > 0)
            {
                sb.Append(' ');
            }

            sb.Append(KernelName(state)).Append('=');
            int n = _counts[(int)state];
            if (signed && n > 0)
            {
                sb.Append('+');
            }

            sb.Append(n);
        }

        return sb.ToString();
    }

    /// <summary>Compares every state's count.</summary>
    /// <param name="other">The counts to compare with.</param>
    /// <returns><see langword="true"/> when every state has the same count.</returns>
    public bool Equals(TcpStateCounts? other) =>
        other is not null && _counts.AsSpan().SequenceEqual(other._counts);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as TcpStateCounts);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (int n in _counts)
        {
            hash.Add(n);
        }

        return hash.ToHashCode();
    }
}
