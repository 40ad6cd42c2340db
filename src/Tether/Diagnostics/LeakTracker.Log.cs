using Microsoft.Extensions.Logging;

namespace Tether.Diagnostics;

/// <summary>Every log message of the diagnostics area: a named event id and structured fields each.</summary>
internal static partial class DiagnosticsLog
{
    [LoggerMessage(EventId = 1001, EventName = "ClientNotClosed", Level = LogLevel.Warning,
        Message = "{TypeName} was garbage-collected without {CloseMethod} ({Count} from this site, {Total} in total); it was allocated at {AllocationSite}. " +
        "Its sockets were aborted by the finalizer. Fix: {Fix}")]
    public static partial void ClientNotClosed(ILogger logger, string typeName, string closeMethod, long count, long total, string allocationSite, string fix);

    /// <summary>The type a user created, and the fix, for a client's warnings: the client itself, or the
    /// <see cref="TetherHttpMessageHandler"/> whose inner client it is (newcomer review 2026-12-01: bridge users were
    /// told about an AsyncHttpClient they never created).</summary>
    public static (string TypeName, string CloseMethod, string NotClosedFix, string ChurnFix) Wording(bool handler) => handler
        ? (nameof(TetherHttpMessageHandler), "Dispose()",
            "dispose the HttpClient or the handler ('using var http = new HttpClient(new TetherHttpMessageHandler())'), or reuse one " +
            "(a static HttpClient, or IHttpClientFactory with UseTether()).",
            "reuse one HttpClient (a static one, or IHttpClientFactory with UseTether()), or give every handler the process pool " +
            "(new TetherHttpMessageHandler(ConnectionPool.Process)).")
        : (nameof(AsyncHttpClient), "Close()",
            "close it with 'await using var client = new AsyncHttpClient()' or client.Close(), create it inside EventLoop.Run so the " +
            "loop closes it, or reuse one client (AsyncHttpClient.Shared).",
            "reuse one client, use AsyncHttpClient.Shared, or lease the process pool (AsyncHttpClientOptions.Pool = ConnectionPool.Process).");

    [LoggerMessage(EventId = 1002, EventName = "ResponseNotDisposed", Level = LogLevel.Warning,
        Message = "{TypeName} (streamed) was garbage-collected without being read to the end or disposed ({Count} from this site, {Total} in total); " +
        "it was allocated at {AllocationSite}. Its socket was closed by the finalizer; until then it held a connection and a pool slot. " +
        "Fix: 'await using var response = await client.FetchStreamAsync(...)' (through HttpClient: 'using var response = await http.GetAsync(...)'), " +
        "or read the body to the end.")]
    public static partial void ResponseNotDisposed(ILogger logger, string typeName, long count, long total, string allocationSite);

    [LoggerMessage(EventId = 1003, EventName = "ResponseDisposedUnread", Level = LogLevel.Warning,
        Message = "{TypeName} (streamed) was disposed before its body was read to the end ({Count} from this site, {Total} in total; " +
        "{BytesRead} bytes read); it was allocated at {AllocationSite}. The rest of the body was drained or the connection closed. " +
        "Fix: read BodyStream to the end, use FetchAsync when you want the whole body, or send a HEAD/range request when you only want part.")]
    public static partial void ResponseDisposedUnread(ILogger logger, string typeName, long count, long total, long bytesRead, string allocationSite);

    [LoggerMessage(EventId = 1004, EventName = "ClientChurn", Level = LogLevel.Warning,
        Message = "{Clients} new {TypeName} instances with private pools connected to {HostKey} within one second (threshold {Threshold}); " +
        "created at {AllocationSite}. Each opens and closes its own connection: a TCP handshake per client instead of keep-alive reuse. Fix: {Fix}")]
    public static partial void ClientChurn(ILogger logger, string typeName, int clients, string hostKey, int threshold, string allocationSite, string fix);

    [LoggerMessage(EventId = 1005, EventName = "SlowPoolWait", Level = LogLevel.Warning,
        Message = "A request to {HostKey} has waited {WaitSeconds:F1} s for a slot in {Pool} (MaxConnectionsPerHost = {MaxPerHost}, " +
        "MaxConnectionsTotal = {MaxTotal}); the fetch was started at {AllocationSite}. {HolderCount} connections hold the pool:{Holders}")]
    public static partial void SlowPoolWait(ILogger logger, string hostKey, double waitSeconds, string pool, int maxPerHost, int maxTotal,
        string allocationSite, int holderCount, string holders);
}
