using System.Diagnostics;

namespace Tether;

/// <summary>
/// The state of one <see cref="AsyncHttpClient.FetchAsync(FetchRequest, CancellationToken)"/> call, from the call
/// until its body is read or its response disposed. Owned by its client, which keeps it in its in-flight set so
/// that closing the client (or its loop) can fail it and close the socket it holds.
/// </summary>
internal sealed class FetchOperation
{
    private static readonly AsyncLocal<OperationRef?> s_current = new();
    private readonly OperationRef _ref;

    /// <summary>A handle to this fetch that is cleared when it completes (see <see cref="OperationRef"/>).</summary>
    internal OperationRef Handle => _ref;
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly CancellationTokenSource _abort = new();
    private CancellationTokenSource? _fetchSource;
    private long _dequeued;
    private long _connectStart;
    private long _connectEnd;
    private long _tlsEnd;
    private long _sent;
    private long _firstByte;
    private long _end;
    private int _completed;
    private FetchErrorKind? _abortKind;
    private string? _abortMessage;
    private PoolLease? _poolLease;
    private Timer? _handshakeDeadline;
    private bool _handshakeTimedOut;
    private bool _holdsClientSlot;
    private static readonly Task s_handedOff = System.Threading.Tasks.Task.CompletedTask;
    private Task? _task;
    private int _retries;
    private bool _wroteOnClosedConnection;
    private int _closedConnectionRetries;

    public FetchOperation(AsyncHttpClient client, EventLoop? loop, FetchRequest request, ResolvedSettings settings)
    {
        Client = client;
        Loop = loop;
        Request = request;
        Settings = settings;
        CurrentUrl = request.Url;
        _ref = new OperationRef(this);
    }

    /// <summary>The fetch whose request the current flow is sending (read by <see cref="LedgerStream"/>).</summary>
    /// <remarks>The AsyncLocal holds an indirection that <see cref="Complete"/> clears: SocketsHttpHandler starts
    /// work inside the fetch's ExecutionContext (e.g. the idle connection's read-ahead) that outlives the fetch, and
    /// must not keep the operation, and through it the client, reachable (the client's leak finalizer depends on it).</remarks>
    public static FetchOperation? Current
    {
        get => s_current.Value?.Operation;
        set => s_current.Value = value?._ref;
    }

    public AsyncHttpClient Client { get; }

    public EventLoop? Loop { get; }

    public FetchRequest Request { get; }

    public ResolvedSettings Settings { get; }

    public string CurrentUrl { get; set; }

    public string CurrentMethod { get; set; } = "GET";

    public TrackedConnection? Connection { get; private set; }

    public bool ConnectionReused { get; private set; }

    public CancellationToken AbortToken => _abort.Token;

    /// <summary>The request URL as parsed when the fetch started (validated once, used for the first hop).</summary>
    public Uri? Target { get; init; }

    /// <summary>Makes an abort also cancel the fetch's own token source (its request timeout and the caller's
    /// token), so that the fetch needs no source linked to <see cref="AbortToken"/>.</summary>
    public void LinkAbort(CancellationTokenSource fetchSource)
    {
        Interlocked.Exchange(ref _fetchSource, fetchSource);
        if (_abortKind is not null || _abort.IsCancellationRequested)
        {
            CancelFetchSource();
        }
    }

    private void CancelFetchSource()
    {
        try
        {
            Volatile.Read(ref _fetchSource)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The fetch already ended.
        }
    }

    public FetchErrorKind? AbortKind => _abortKind;

    public string? AbortMessage => _abortMessage;

    /// <summary>The fetch's task, kept to observe an abandoned failure. Dropped once a streamed response is handed
    /// to the caller, so that the in-flight set never keeps an undisposed response reachable (its leak sentinel must
    /// be collectable).</summary>
    public Task? Task
    {
        get { var task = Volatile.Read(ref _task); return ReferenceEquals(task, s_handedOff) ? null : task; }
        set => Interlocked.CompareExchange(ref _task, value, null);
    }

    /// <summary>For a streamed fetch, the user code that called FetchStreamAsync (null for buffered fetches: the
    /// client's allocation site is used, so the hot path walks no stack).</summary>
    public string? AllocationSite { get; set; }

    /// <summary>The streamed response is now the caller's: forget the task (see <see cref="Task"/>).</summary>
    public void MarkHandedOff() => Volatile.Write(ref _task, s_handedOff);

    /// <summary>The digest Authorization value computed from the server's challenge, for the one retry.</summary>
    public string? DigestAuthorization { get; set; }

    /// <summary>Set when the response forbids reuse (e.g. HTTP/1.0 without keep-alive): completion closes the
    /// connection instead of returning it to the pool.</summary>
    public bool DiscardOnComplete { get; set; }

    /// <summary>The fetch's combined token (caller, request timeout, abort), so a connect started for this fetch stops
    /// with it.</summary>
    public CancellationToken FetchToken { get; set; }

    public bool IsCompleted => Volatile.Read(ref _completed) != 0;

    /// <summary>Whether any response byte has been read (tells a failed request write from a failed response).</summary>
    public bool ResponseStarted => Interlocked.Read(ref _firstByte) != 0;

    public string Describe() => $"{CurrentMethod} {Redaction.Url(CurrentUrl)}";

    public void MarkDequeued(bool holdsSlot)
    {
        _dequeued = Stopwatch.GetTimestamp();
        _holdsClientSlot = holdsSlot;
    }

    public void SetPoolLease(PoolLease? lease)
    {
        _poolLease?.Dispose();
        _poolLease = lease;
    }

    public void OnConnectStart() => _connectStart = Stopwatch.GetTimestamp();

    public void OnConnectEnd() => _connectEnd = Stopwatch.GetTimestamp();

    public void OnTlsEnd()
    {
        _tlsEnd = Stopwatch.GetTimestamp();
        Interlocked.Exchange(ref _handshakeDeadline, null)?.Dispose();
    }

    /// <summary>Set when the TLS handshake (or proxy CONNECT) outlived the connect timeout and its socket was aborted.</summary>
    public bool HandshakeTimedOut => Volatile.Read(ref _handshakeTimedOut);

    /// <summary>Aborts <paramref name="connection"/> unless the handshake ends (<see cref="OnTlsEnd"/>) within
    /// <paramref name="remaining"/>.</summary>
    public void ArmHandshakeDeadline(TrackedConnection connection, TimeSpan remaining)
    {
        using (ExecutionContext.SuppressFlow())
        {
            var timer = new Timer(static s =>
            {
                var (op, conn) = ((FetchOperation, TrackedConnection))s!;
                if (Interlocked.Exchange(ref op._handshakeDeadline, null) is { } t)
                {
                    t.Dispose();
                    Volatile.Write(ref op._handshakeTimedOut, true);
                    conn.Abort();
                }
            }, (this, connection), Timeout.Infinite, Timeout.Infinite);
            Interlocked.Exchange(ref _handshakeDeadline, timer)?.Dispose();
            timer.Change(remaining, Timeout.InfiniteTimeSpan);
        }
    }

    public void OnConnectionAttached(TrackedConnection connection, bool reused)
    {
        if (Connection is { } previous && previous != connection)
        {
            // The handler is re-sending this hop's request on another connection after the first one failed before
            // any response byte. Allowed once, for an idempotent method, when that first connection was a reused one.
            if (PreviousAttemptSentRequest)
            {
                if (!RetryAllowed)
                {
                    throw new RetryRefusedException(RetryRefusal());
                }

                _retries++;
            }
        }

        Connection = connection;
        ConnectionReused = reused;
        if (_sent == 0)
        {
            _sent = Stopwatch.GetTimestamp();
        }
    }

    public void OnFirstByte()
    {
        if (_firstByte == 0)
        {
            _firstByte = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>Whether the handler may send this hop's request again on another connection: only when the first
    /// attempt rode a reused keep-alive connection (which the server may have closed while idle), only for an
    /// idempotent method, and only once. Checked before a retry connects (<see cref="ConnectionPool"/>) and when it
    /// writes (<see cref="OnConnectionAttached"/>), so a refused retry sends nothing.</summary>
    public bool RetryAllowed => Connection is null || !PreviousAttemptSentRequest
        || (_retries == 0 && ConnectionReused && IsIdempotent(CurrentMethod));

    /// <summary>Whether the connection attached so far carried the request: a reused one or a plain-http one did; a
    /// fresh https one only once its TLS handshake completed (its handshake bytes attach it before that, and a
    /// handshake that failed sent nothing of the request, so another attempt is not a re-send).</summary>
    private bool PreviousAttemptSentRequest =>
        ConnectionReused || !CurrentUrl.StartsWith("https:", StringComparison.OrdinalIgnoreCase) || Interlocked.Read(ref _tlsEnd) != 0;

    public string RetryRefusal() =>
        $"the connection closed before any response to {Describe()}; not re-sent because " +
        (!IsIdempotent(CurrentMethod) ? $"{CurrentMethod} is not idempotent"
            : _retries > 0 ? "it was already retried once" : "it was sent on a new connection, not a reused one");

    private static bool IsIdempotent(string method) => method is "GET" or "HEAD" or "OPTIONS" or "TRACE" or "PUT" or "DELETE";

    /// <summary>Called by <see cref="LedgerStream"/> when the handler writes this fetch's request on a connection that
    /// the pool had already closed (an idle connection evicted or reaped while the handler was renting it).</summary>
    public void MarkWroteOnClosedConnection() => Volatile.Write(ref _wroteOnClosedConnection, true);

    /// <summary>True (at most three times) when the last send failed only because it was written on a connection the
    /// pool had closed, the method is idempotent and the body can be built again.</summary>
    public bool TakeClosedConnectionRetry(bool replayable)
    {
        if (!Volatile.Read(ref _wroteOnClosedConnection) || _closedConnectionRetries >= 3 || !replayable || !IsIdempotent(CurrentMethod))
        {
            return false;
        }

        _closedConnectionRetries++;
        Volatile.Write(ref _wroteOnClosedConnection, false);
        return true;
    }

    /// <summary>Fails the fetch from outside (client, loop or pool closing): remember why, cancel, and close the
    /// socket it holds at once (RST) so nothing waits on a timeout.</summary>
    public void AbortWith(FetchErrorKind kind, string message)
    {
        if (IsCompleted && Connection is null)
        {
            return;
        }

        _abortMessage ??= message;
        _abortKind ??= kind;
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Completed concurrently.
        }

        CancelFetchSource();

        if (Connection is { } held && held.Lease == this)
        {
            held.Abort();
        }

        if (Task is { } task)
        {
            // An abandoned fetch nobody awaits must not surface later as an UnobservedTaskException.
            task.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>The response body is fully read (or abandoned): hand the connection back and free the slots.
    /// Idempotent.</summary>
    public void Complete(bool discardConnection = false)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return;
        }

        _end = Stopwatch.GetTimestamp();
        Interlocked.Exchange(ref _handshakeDeadline, null)?.Dispose();
        _ref.Operation = null;
        if (Connection is { } connection)
        {
            if ((discardConnection || DiscardOnComplete) && connection.Lease == this)
            {
                // Only while this fetch still holds it: once the handler has handed the connection to another
                // request (the body ended just before a late cancel), aborting it would kill that request instead.
                connection.Abort();
            }
            else
            {
                connection.Detach(this);
            }
        }

        _poolLease?.Dispose();
        _poolLease = null;
        Client.OnOperationCompleted(this, _holdsClientSlot);
        _holdsClientSlot = false;
        _abort.Dispose();
    }

    /// <summary>Called when a redirect or digest retry moves on: the previous hop's connection is released.</summary>
    public void ReleaseHop()
    {
        if (Connection is { } connection)
        {
            connection.Detach(this);
            Connection = null;
        }

        _retries = 0;
        _poolLease?.Dispose();
        _poolLease = null;
    }

    public TimeInfo GetTimeInfo()
    {
        var end = _end != 0 ? _end : Stopwatch.GetTimestamp();
        var queue = Between(_start, _dequeued);
        var connect = ConnectionReused ? TimeSpan.Zero : Between(_connectStart, _connectEnd);
        var tls = ConnectionReused || _tlsEnd == 0 ? TimeSpan.Zero : Between(_connectEnd, _tlsEnd);
        // Time to first byte starts when the request can go out: not before this connection's TLS handshake ended
        // (the connection can be attached before TLS finishes; counting from then would count TLS twice and make the
        // phases add up to more than the total, CLIENT-19).
        var firstByte = Between(ConnectionReused ? _sent : Math.Max(_sent, _tlsEnd), _firstByte);
        return new TimeInfo(queue, connect, tls, firstByte, Between(_start, end));
    }

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_start);

    private static TimeSpan Between(long from, long to) =>
        from == 0 || to == 0 || to < from ? TimeSpan.Zero : Stopwatch.GetElapsedTime(from, to);
}

/// <summary>The ambient link to a fetch, cut when the fetch completes.</summary>
internal sealed class OperationRef(FetchOperation operation)
{
    public volatile FetchOperation? Operation = operation;
}
