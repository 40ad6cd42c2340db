using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Tether;

/// <summary>
/// The kernel's own per-socket counters on Linux (<c>getsockopt(IPPROTO_TCP, TCP_INFO)</c>, <c>struct tcp_info</c> in
/// <c>linux/tcp.h</c>, with the receive queue's <c>FIONREAD</c>): bytes read and written through the socket, and
/// milliseconds since data last went each way. The ledger reads them
/// when a snapshot is taken, so a connection's reads and writes pay nothing for its byte counts (issue 16: the
/// stream wrapper that counted every read was a measurable part of a fetch's cost). Elsewhere, or on a fake clock,
/// <see cref="LedgerStream"/> counts instead.
/// </summary>
internal static class TcpInfo
{
    private const int IpProtoTcp = 6;   // IPPROTO_TCP
    private const int TcpInfoOption = 11; // TCP_INFO

    // Byte offsets in struct tcp_info (stable ABI: fields are only ever appended).
    private const int StateOffset = 0;           // __u8 tcpi_state (TCP_ESTABLISHED = 1, ...)
    private const int LastDataSentOffset = 44;   // __u32 tcpi_last_data_sent, ms
    private const int LastDataRecvOffset = 52;   // __u32 tcpi_last_data_recv, ms
    private const int BytesAckedOffset = 120;    // __u64 tcpi_bytes_acked (Linux 4.1)
    private const int BytesReceivedOffset = 128; // __u64 tcpi_bytes_received (Linux 4.1)
    private const int MinimumLength = 136;
    private const int NotSentOffset = 144;       // __u32 tcpi_notsent_bytes (Linux 4.6)
    private const int BytesSentOffset = 200;     // __u64 tcpi_bytes_sent, retransmissions included (Linux 4.19)
    private const int BytesRetransOffset = 208;  // __u64 tcpi_bytes_retrans (Linux 4.19)
    private const int SentLength = 216;

    // tcpi_state values after the peer's FIN was received (include/net/tcp_states.h).
    private const byte TcpCloseWait = 8;
    private const byte TcpLastAck = 9;
    private const byte TcpClosing = 11;

    /// <summary>One reading, in the stream's terms: <see cref="BytesRead"/> are the bytes the handler has read from the
    /// socket (received, less those still waiting in the receive queue), <see cref="BytesWritten"/> the bytes it has
    /// written into it (sent once, retransmissions left out, plus those still queued to send; on kernels before 4.19,
    /// the bytes the peer acknowledged).</summary>
    internal readonly record struct Counters(long BytesRead, long BytesWritten, uint MsSinceDataReceived, uint MsSinceDataSent);

    /// <summary>Whether counters can come from the kernel for sockets timed by <paramref name="time"/>: Linux, and the
    /// system clock (the kernel's "milliseconds ago" means nothing on a fake clock).</summary>
    public static bool IsAvailable(TimeProvider time) => OperatingSystem.IsLinux() && Clock.IsSystem(time);

    // Set once a connected TCP socket gave a full reading: the kernel has the counters (Linux 4.1+), and every later
    // connected TCP socket of this process has them too.
    private static volatile bool s_kernelHasCounters;

    /// <summary>Whether the ledger can take <paramref name="socket"/>'s counts from the kernel (<see cref="IsAvailable"/>,
    /// and the kernel has byte counters). The kernel's answer is a fact about the kernel, not the socket: it is read
    /// from the first connected socket that gives one and remembered, so later connections pay no FIONREAD and
    /// TCP_INFO reads for it (issue 16: a loop per call connects once per fetch).</summary>
    public static bool CountsFor(Socket socket, TimeProvider time)
    {
        if (!IsAvailable(time))
        {
            return false;
        }

        if (s_kernelHasCounters)
        {
            return true;
        }

        if (!TryRead(socket, out _))
        {
            return false;
        }

        s_kernelHasCounters = true;
        return true;
    }

    /// <summary>Reads the counters of <paramref name="socket"/>; false if the socket is closed or the kernel has no
    /// byte counters (before 4.1).</summary>
    public static bool TryRead(Socket socket, out Counters counters)
    {
        Span<byte> info = stackalloc byte[256];
        int length;
        int unread;
        try
        {
            // FIONREAD first: bytes that arrive between the two calls count as read, never the other way round (a
            // count below what the handler had read when the snapshot started).
            unread = socket.Available;
            length = socket.GetRawSocketOption(IpProtoTcp, TcpInfoOption, info);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or PlatformNotSupportedException)
        {
            counters = default;
            return false;
        }

        if (length < MinimumLength)
        {
            counters = default;
            return false;
        }

        // tcpi_bytes_received and tcpi_bytes_acked follow sequence numbers, and a FIN or SYN takes one with no byte:
        // the received count includes the peer's FIN once it arrived (CLOSE_WAIT, or LAST_ACK/CLOSING: the pool closes
        // the fd right after sending its own FIN; a peer's RST after its FIN leaves CLOSE, where it may still be one
        // over), and the acked count includes this end's SYN. tcpi_bytes_sent counts payload only, and only once it
        // left: what the handler wrote that still waits in the send queue (a peer that does not read) is
        // tcpi_notsent_bytes. Received bytes the handler has not read yet are FIONREAD (which leaves the FIN out).
        var received = (long)MemoryMarshal.Read<ulong>(info[BytesReceivedOffset..]);
        if (received > 0 && info[StateOffset] is TcpCloseWait or TcpLastAck or TcpClosing)
        {
            received--;
        }

        var written = length >= SentLength
            ? (long)(MemoryMarshal.Read<ulong>(info[BytesSentOffset..]) - MemoryMarshal.Read<ulong>(info[BytesRetransOffset..]))
                + MemoryMarshal.Read<uint>(info[NotSentOffset..])
            : (long)Math.Max(MemoryMarshal.Read<ulong>(info[BytesAckedOffset..]), 1UL) - 1;
        counters = new Counters(Math.Max(0, received - unread), written,
            MemoryMarshal.Read<uint>(info[LastDataRecvOffset..]), MemoryMarshal.Read<uint>(info[LastDataSentOffset..]));
        return true;
    }
}
