namespace Tether.Diagnostics;

/// <summary>The life stage of a socket in the <see cref="SocketLedger"/>.</summary>
public enum ConnectionState
{
    /// <summary>TCP connect (and TLS) in progress.</summary>
    Connecting,

    /// <summary>Carrying a request or holding an unread response.</summary>
    Active,

    /// <summary>Kept alive in the pool, ready for reuse.</summary>
    Idle,

    /// <summary>Being closed; it leaves the ledger when its fd is closed.</summary>
    Closing,
}
