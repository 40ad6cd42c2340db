namespace Tether.Diagnostics;

/// <summary>
/// The state of a TCP socket as the Linux kernel reports it in the <c>st</c> column of
/// <c>/proc/net/tcp</c> and <c>/proc/net/tcp6</c>. The numeric values are the kernel's own codes.
/// </summary>
public enum TcpState
{
    /// <summary>A connection is open in both directions (kernel code 0x01).</summary>
    Established = 1,

    /// <summary>A connect was sent and no answer has arrived yet (0x02).</summary>
    SynSent = 2,

    /// <summary>A listener received a connect and answered it; the handshake is not finished (0x03).</summary>
    SynRecv = 3,

    /// <summary>This side closed and waits for the peer to acknowledge (0x04).</summary>
    FinWait1 = 4,

    /// <summary>This side closed, the peer acknowledged, and the peer has not closed yet (0x05).</summary>
    FinWait2 = 5,

    /// <summary>This side closed first; the connection lingers without an fd for 2×MSL (0x06).</summary>
    TimeWait = 6,

    /// <summary>The socket is closed (0x07).</summary>
    Close = 7,

    /// <summary>The peer closed and this process has not closed its end yet: the classic leak (0x08).</summary>
    CloseWait = 8,

    /// <summary>The peer closed, then this side closed, and the last acknowledgement is pending (0x09).</summary>
    LastAck = 9,

    /// <summary>A listening socket (0x0A).</summary>
    Listen = 10,

    /// <summary>Both sides closed at the same time (0x0B).</summary>
    Closing = 11,
}
