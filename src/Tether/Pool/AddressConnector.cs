using System.Net;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;

namespace Tether;

/// <summary>
/// Connects a TCP socket to one of a host's addresses by racing them as RFC 8305 (Happy Eyeballs v2) describes.
/// </summary>
/// <remarks>
/// <para>
/// How it works: the addresses are put in RFC 8305 §4 order (the families alternate, starting with the family of the
/// first address the resolver returned). The first attempt starts at once; each next one starts when the previous
/// attempt failed, or after the connection attempt delay (§5, 250 ms recommended) if none has answered yet, so an
/// address that drops SYNs silently costs one delay, not the whole connect deadline. Attempts already started keep
/// running: the first to complete the handshake wins. There is no per-address deadline: the caller's token (the
/// pool's <c>ConnectTimeout</c>) bounds the whole race.
/// </para>
/// <para>
/// Ownership: every attempt gets a socket created here. The winner is returned and the caller owns it; every
/// other socket (failed, still pending, or connected second) is closed before this returns or throws, and the
/// losers' connect operations have completed by then (nothing keeps running in the background). Cancelling the
/// token closes everything and throws <see cref="OperationCanceledException"/>.
/// </para>
/// <para>Thread-safety: stateless; each call owns its sockets.</para>
/// </remarks>
internal static class AddressConnector
{
    /// <summary>RFC 8305 §5's recommended Connection Attempt Delay.</summary>
    internal static readonly TimeSpan DefaultAttemptDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>Orders addresses as RFC 8305 §4 does with a First Address Family Count of 1: alternate families,
    /// starting with the family of the first address, keeping the resolver's order within each family.</summary>
    /// <param name="addresses">The resolver's answer, in its order.</param>
    /// <returns>A new array with the same addresses, interleaved by family.</returns>
    internal static IPAddress[] Interleave(IReadOnlyList<IPAddress> addresses)
    {
        if (addresses.Count <= 1)
        {
            return [.. addresses];
        }

        var firstFamily = addresses[0].AddressFamily;
        var preferred = new Queue<IPAddress>();
        var other = new Queue<IPAddress>();
        foreach (var address in addresses)
        {
            (address.AddressFamily == firstFamily ? preferred : other).Enqueue(address);
        }

        var ordered = new IPAddress[addresses.Count];
        var takePreferred = true;
        for (var i = 0; i < ordered.Length; i++)
        {
            var queue = (takePreferred && preferred.Count > 0) || other.Count == 0 ? preferred : other;
            ordered[i] = queue.Dequeue();
            takePreferred = !takePreferred;
        }

        return ordered;
    }

    /// <summary>Races connections to <paramref name="addresses"/> on <paramref name="port"/>.</summary>
    /// <param name="addresses">One or more addresses, in the resolver's order (reordered here by family).</param>
    /// <param name="port">The TCP port.</param>
    /// <param name="attemptDelay">How long an unanswered attempt runs alone before the next address is tried too
    /// (RFC 8305 §5: at least 10 ms, 250 ms recommended, at most 2 s).</param>
    /// <param name="cancellationToken">Ends the race: every socket is closed.</param>
    /// <param name="time">The clock of <paramref name="attemptDelay"/> (the pool's); default <see cref="TimeProvider.System"/>.</param>
    /// <returns>The connected socket (no-delay set), owned by the caller.</returns>
    /// <exception cref="ArgumentException"><paramref name="addresses"/> is empty.</exception>
    /// <exception cref="SocketException">Every address failed: the last failure (as <see cref="Socket.ConnectAsync(IPAddress[], int)"/> reports).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    internal static Task<Socket> ConnectAsync(IReadOnlyList<IPAddress> addresses, int port, TimeSpan attemptDelay,
        CancellationToken cancellationToken, TimeProvider? time = null)
    {
        if (addresses.Count == 0)
        {
            throw new ArgumentException("At least one address is needed.", nameof(addresses));
        }

        // One address (an IP literal, or a name with one address): nothing to race, so no race state (linked token
        // source, attempt lists, WhenAny) per connection; the outcome is the same as a race of one.
        return addresses.Count == 1
            ? ConnectOneAsync(addresses[0], port, cancellationToken)
            : RaceAsync(addresses, port, attemptDelay, cancellationToken, time);
    }

    /// <summary>The race of one: connects to <paramref name="address"/>; the socket is closed if that fails or is
    /// cancelled.</summary>
    private static async Task<Socket> ConnectOneAsync(IPAddress address, int port, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<Socket> RaceAsync(IReadOnlyList<IPAddress> addresses, int port, TimeSpan attemptDelay,
        CancellationToken cancellationToken, TimeProvider? time)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var ordered = Interleave(addresses);
        var sockets = new List<Socket>(ordered.Length);
        var attempts = new List<Task>(ordered.Length);
        using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Socket? winner = null;
        ExceptionDispatchInfo? lastError = null;
        var next = 0;
        var handled = 0; // attempts whose outcome was taken into account, in completion order
        var done = new bool[ordered.Length]; // indexed like attempts
        try
        {
            while (winner is null)
            {
                if (next < ordered.Length)
                {
                    Socket socket;
                    try
                    {
                        socket = new Socket(ordered[next].AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    }
                    catch (SocketException ex)
                    {
                        // This family is not available here (e.g. IPv6 disabled): that address failed, try the next.
                        lastError = ExceptionDispatchInfo.Capture(ex);
                        next++;
                        continue;
                    }

                    sockets.Add(socket);
                    attempts.Add(socket.ConnectAsync(new IPEndPoint(ordered[next], port), race.Token).AsTask());
                    next++;
                }

                if (handled == attempts.Count)
                {
                    break; // nothing pending and nothing left to start: every address failed
                }

                // Wait for an attempt to finish, or for the attempt delay if another address is waiting its turn.
                var pending = new List<Task>(attempts.Count + 1);
                for (var i = 0; i < attempts.Count; i++)
                {
                    if (!done[i])
                    {
                        pending.Add(attempts[i]);
                    }
                }

                Task? delay = next < ordered.Length ? Task.Delay(attemptDelay, time ?? TimeProvider.System, race.Token) : null;
                if (delay is not null)
                {
                    pending.Add(delay);
                }

                await Task.WhenAny(pending).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                for (var i = 0; i < attempts.Count && winner is null; i++)
                {
                    if (done[i] || !attempts[i].IsCompleted)
                    {
                        continue;
                    }

                    done[i] = true;
                    handled++;
                    if (attempts[i].IsCompletedSuccessfully)
                    {
                        winner = sockets[i];
                    }
                    else
                    {
                        lastError = ExceptionDispatchInfo.Capture(attempts[i].Exception?.InnerException
                            ?? new SocketException((int)SocketError.OperationAborted));
                    }
                }
            }
        }
        finally
        {
            // Losers: cancel their connects, close their sockets and wait until the connect operations are over, so
            // no attempt outlives this call (and none leaves an unobserved exception behind).
            race.Cancel();
            foreach (var socket in sockets)
            {
                if (socket != winner)
                {
                    socket.Dispose();
                }
            }

            try
            {
                await Task.WhenAll(attempts).ConfigureAwait(false);
            }
            catch
            {
                // Expected: the losers fail with a cancellation or a socket error; each was handled or is moot.
            }
        }

        if (winner is not null)
        {
            return winner;
        }

        cancellationToken.ThrowIfCancellationRequested();
        lastError!.Throw();
        throw null!; // unreachable: Throw() never returns
    }
}
