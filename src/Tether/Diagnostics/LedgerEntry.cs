using System.Net;

namespace Tether.Diagnostics;

/// <summary>An immutable snapshot of one socket owned by a Tether <see cref="ConnectionPool"/>.</summary>
/// <param name="Id">Process-unique id of the socket (also shown by <c>tether fetch -v</c>).</param>
/// <param name="LocalEndPoint">The local address and port, once connected.</param>
/// <param name="RemoteEndPoint">The peer (the server, or the proxy) address and port, once connected.</param>
/// <param name="HostKey">The pool key: scheme, host and port of the origin (credentials never appear).</param>
/// <param name="State">Connecting, active, idle or closing.</param>
/// <param name="Pool">The name of the owning pool, e.g. <c>ConnectionPool#2</c> or <c>ConnectionPool.Process</c>.</param>
/// <param name="OwnerClient">The client currently leasing the socket (or the last one that did).</param>
/// <param name="OwnerLoop">The loop that owned that client, if any.</param>
/// <param name="CreatedAt">When the connect started (wall clock).</param>
/// <param name="LastUsedAt">When a request last finished or started on it (wall clock).</param>
/// <param name="Age">How long it has existed, on the monotonic clock.</param>
/// <param name="RequestsServed">How many requests were written on it.</param>
/// <param name="CurrentRequest">The request in flight ("GET http://host/path", redacted), if active.</param>
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
    string AllocationSite);
