namespace Tether;

/// <summary>Where a fetch spent its time, measured on the monotonic clock.</summary>
/// <param name="Queue">Waiting for a <c>MaxClients</c> slot and a pool connection slot.</param>
/// <param name="Connect">Zero: Tether reports no connect time per fetch, on a new connection or a reused one. The
/// handler picks the connection a request is sent on, and may give a connection it opened for one request to another
/// (CORE-03); a per-fetch connect time needs an exact record of which connection carried the fetch, and the runtime
/// (.NET 10) has none that is free on a reused connection. Its connection activities
/// (<c>Experimental.System.Net.Http.Connections</c>) time each connection's setup, but the activity of a request that
/// waited for a connection (<c>HTTP wait_for_connection</c>, created only while the handler's telemetry is on) carries
/// no link to the connection it got. The only link is added to the request's own <c>System.Net.Http</c> activity, on
/// every request sent on a connection whose setup was traced (reused or not), so reading it means listening to
/// <c>System.Net.Http</c>: every request of every <see cref="HttpClient"/> in the process then takes the handler's
/// diagnostics path (measured in a keep-alive A/B: about 210 bytes more per request, sampling nothing), and sampling
/// the request activity makes the handler send a <c>traceparent</c> header that a plain client does not send (about
/// 1 KB more per request). A connect the fetch waited for therefore counts in <paramref name="FirstByte"/>; when one
/// fetch's request makes the handler open a connection and another fetch gets it, neither reports a connect, and each
/// fetch's wait, whatever it ended with, is in its own <paramref name="FirstByte"/>. Each
/// connection's own connect and setup times are exact in the pool's ledger:
/// <see cref="Diagnostics.LedgerEntry.ConnectDuration"/> (DNS and TCP) and
/// <see cref="Diagnostics.LedgerEntry.SetupDuration"/> (TLS included).</param>
/// <param name="Tls">Zero, for the same reason as <paramref name="Connect"/>; the TLS handshake the fetch waited for
/// counts in <paramref name="FirstByte"/>.</param>
/// <param name="FirstByte">From handing the request to the handler to the response head: the wait for a connection
/// (its DNS, TCP and TLS setup, when the handler needed a new one for this request) included.</param>
/// <param name="Total">From the call to the end of the body (or to the headers, for a streamed response).</param>
/// <remarks>Every phase is ≥ 0, and <paramref name="Queue"/> + <paramref name="Connect"/> + <paramref name="Tls"/> +
/// <paramref name="FirstByte"/> ≤ <paramref name="Total"/>.</remarks>
public sealed record TimeInfo(TimeSpan Queue, TimeSpan Connect, TimeSpan Tls, TimeSpan FirstByte, TimeSpan Total);
