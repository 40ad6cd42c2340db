namespace Tether;

/// <summary>Where a fetch spent its time, measured on the monotonic clock.</summary>
/// <param name="Queue">Waiting for a <c>MaxClients</c> slot and a pool connection slot.</param>
/// <param name="Connect">Always zero since the ownership redesign (CORE-03): connection attempts belong to the pool,
/// not to a fetch (one started for this fetch may serve another); the wait shows in <paramref name="FirstByte"/>. The pool times each connection: <see cref="Diagnostics.LedgerEntry.ConnectDuration"/> and <see cref="Diagnostics.LedgerEntry.SetupDuration"/>.</param>
/// <param name="Tls">Always zero, for the same reason.</param>
/// <param name="FirstByte">From handing the request to the handler to the response head (a connect, if the handler
/// needed one for it, included).</param>
/// <param name="Total">From the call to the end of the body (or to the headers, for a streamed response).</param>
public sealed record TimeInfo(TimeSpan Queue, TimeSpan Connect, TimeSpan Tls, TimeSpan FirstByte, TimeSpan Total);
