namespace Tether.Diagnostics;

/// <summary>The life stage of a socket in the <see cref="SocketLedger"/>.</summary>
public enum ConnectionState
{
    /// <summary>TCP connect (and TLS) in progress.</summary>
    Connecting,

    /// <summary>Not reported since the ownership redesign (CORE-03): which connection carries which request is the
    /// handler's choice, and no exact signal says it cheaply; an open connection is <see cref="Open"/> or
    /// <see cref="Idle"/>. Kept so existing code compiles.</summary>
    Active,

    /// <summary>Open, and no request to its origin is in flight in its pool: nothing is using it (exact).</summary>
    Idle,

    /// <summary>Being closed; it leaves the ledger when its fd is closed.</summary>
    Closing,

    /// <summary>Open, and a request to its origin is in flight in its pool: it may be carrying it (the handler
    /// picks the connection; HTTP/2 carries several at once).</summary>
    Open,
}
