namespace Tether.Diagnostics;

/// <summary>The kind of leak or misuse a <see cref="LeakException"/> or a leak warning reports.</summary>
public enum LeakKind
{
    /// <summary>An <see cref="AsyncHttpClient"/> that had fetched was garbage-collected without <c>Close</c>.</summary>
    ClientNotClosed,

    /// <summary>A streamed <see cref="FetchResponse"/>, or an <see cref="System.Net.Http.HttpResponseMessage"/> of
    /// <see cref="TetherHttpMessageHandler"/>, was garbage-collected without being read to the end or disposed.</summary>
    ResponseNotDisposed,

    /// <summary>A streamed <see cref="FetchResponse"/> was disposed before its body was read to the end.</summary>
    ResponseDisposedUnread,

    /// <summary>More clients with private pools per second were connecting to one host than
    /// <see cref="TetherDiagnostics.ChurnThreshold"/> (a new client per request).</summary>
    ClientChurn,

    /// <summary>A request waited for a pool slot longer than <see cref="TetherDiagnostics.SlowPoolWaitThreshold"/>.</summary>
    SlowPoolWait,
}
