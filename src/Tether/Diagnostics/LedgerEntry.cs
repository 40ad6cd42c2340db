using System.Net;

namespace Tether.Diagnostics;

/// <summary>An immutable snapshot of one socket owned by a Tether <see cref="ConnectionPool"/>.</summary>
/// <param name="Id">Process-unique id of the socket (also shown by <c>tether fetch -v</c>).</param>
/// <param name="LocalEndPoint">The local address and port, once connected.</param>
/// <param name="RemoteEndPoint">The peer (the server, or the proxy) address and port, once connected.</param>
/// <param name="HostKey">The pool key: scheme, host and port of the origin (credentials never appear).</param>
/// <param name="State">Connecting, open (a request to its origin is in flight), idle (none is) or closing; never
/// active (see <see cref="ConnectionState.Active"/>).</param>
/// <param name="Pool">The name of the owning pool, e.g. <c>ConnectionPool#2</c> or <c>ConnectionPool.Process</c>.</param>
/// <param name="OwnerClient">The client whose request made the handler open the socket (the handler may serve any
/// client leasing the pool on it).</param>
/// <param name="OwnerLoop">The loop that owned that client, if any.</param>
/// <param name="CreatedAt">When the connect started (wall clock).</param>
/// <param name="LastUsedAt">When bytes last went over it (wall clock).</param>
/// <param name="Age">How long it has existed, on the monotonic clock.</param>
/// <param name="RequestsServed">Always 0: the handler picks the connection for each request and no exact, cheap
/// per-connection count exists (CORE-03); see <see cref="BytesWritten"/>.</param>
/// <param name="CurrentRequest">Always null, for the same reason; the fetches holding a pool's slots are named by
/// pool-wait errors and slow-wait warnings instead.</param>
/// <param name="AllocationSite">The user code whose fetch opened the socket.</param>
public sealed record LedgerEntry(
    long Id,
    IPEndPoint? LocalEndPoint,
    IPEndPoint? RemoteEndPoint,
    string HostKey,
    ConnectionState State,
    string Pool,
    string? OwnerClient,
    string? OwnerLoop,
    DateTimeOffset CreatedAt,
    DateTimeOffset LastUsedAt,
    TimeSpan Age,
    long RequestsServed,
    string? CurrentRequest,
    string AllocationSite)
{
    /// <summary>Bytes the handler read from the socket (TLS records included; what waits unread in the receive queue
    /// is not counted). On Linux with the system clock this is the kernel's count (<c>TCP_INFO</c>) at snapshot time;
    /// elsewhere the pool's stream counts each read.</summary>
    public long BytesRead { get; init; }

    /// <summary>Bytes the handler wrote to the socket (TLS records included; what still waits in the send queue is
    /// counted). Same source as <see cref="BytesRead"/>.</summary>
    public long BytesWritten { get; init; }

    /// <summary>How long the connect took: from <see cref="CreatedAt"/> (the attempt's start, name resolution
    /// included) until the TCP connection to <see cref="RemoteEndPoint"/> was established; null while still connecting.
    /// curl's <c>time_connect</c> for a new connection.</summary>
    public TimeSpan? ConnectDuration { get; init; }

    /// <summary>How long the whole setup took: from <see cref="CreatedAt"/> until the handler could send the first
    /// request (TCP, and the TLS handshake when there is one); null until then. Equal to <see cref="ConnectDuration"/>
    /// without TLS; curl's <c>time_appconnect</c> for a new TLS connection.</summary>
    public TimeSpan? SetupDuration { get; init; }
}
