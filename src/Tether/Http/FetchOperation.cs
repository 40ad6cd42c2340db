namespace Tether;

/// <summary>
/// The state of one <see cref="AsyncHttpClient.FetchAsync(FetchRequest, CancellationToken)"/> call, from the call
/// until its body is read or its response disposed. Owned by its client, which keeps it in its in-flight set so
/// that closing the client (or its loop) can fail it and close the socket it holds.
/// </summary>
internal sealed class FetchOperation
{
    // A handle for a request Tether did not build (the bridge), created on first use; a request Tether built names the
    // fetch itself (_named), so the usual fetch allocates no handle.
    private OperationRef? _ref;
    private TetherRequestMessage? _named;

    /// <summary>A handle to this fetch that is cleared when it completes (see <see cref="OperationRef"/>), for a
    /// request message Tether did not build.</summary>
    internal OperationRef Handle
    {
        get
        {
            if (Volatile.Read(ref _ref) is { } existing)
            {
                return existing;
            }

            var created = new OperationRef(this);
            var handle = Interlocked.CompareExchange(ref _ref, created, null) ?? created;
            if (IsCompleted)
            {
                handle.Operation = null; // completed meanwhile: Complete may have looked before the handle existed
            }

            return handle;
        }
    }

    /// <summary>Makes <paramref name="request"/> (this fetch's current hop) name this fetch until the fetch completes or
    /// sends its next hop (the handler may keep a request message after the fetch is over, and that must not keep the
    /// fetch and its client reachable).</summary>
    internal void Name(TetherRequestMessage request)
    {
        request.Attempt = AttemptSettings;
        request.Operation = this;
        if (Interlocked.Exchange(ref _named, request) is { } previous && !ReferenceEquals(previous, request))
        {
            previous.Operation = null;
        }

        if (IsCompleted)
        {
            request.Operation = null; // completed meanwhile: Complete may have looked before this request was named
        }
    }
    private readonly long _start;
    // Created on first use only (a streamed body's reads, the bridge, a fetch with neither a timeout nor a caller's
    // token): most fetches have a fetch source of their own, which an abort cancels directly (LinkAbort).
    private CancellationTokenSource? _abort;
    private CancellationTokenSource? _fetchSource;
    private long _dequeued;
    private long _sent;
    private long _headers;
    private long _end;
    private int _completed;
    // Why the fetch was aborted (the first abort wins), allocated only by an abort: one field instead of a kind and a
    // message in every fetch (issue 16, sixth pass).
    private AbortReason? _aborted;
    // What aborting or discarding the fetch disposes: the handler's response, or for a bridged response handed to the
    // caller a handle that reaches the caller's message only weakly (see ReplaceResponse).
    private IDisposable? _response;
    private bool _holdsClientSlot;
    private static readonly Task s_handedOff = System.Threading.Tasks.Task.CompletedTask;
    private Task? _task;

    public FetchOperation(AsyncHttpClient client, EventLoop? loop, FetchRequest request, ResolvedSettings settings)
    {
        Client = client;
        Loop = loop;
        Request = request;
        Settings = settings;
        CurrentUrl = request.Url;
        _start = Clock.Now(client.Time); // every timestamp here is on the client's clock (issue 13)
    }

    // The client's list of its fetches in flight (guarded by the client's lock).
    internal FetchOperation? InflightPrevious;
    internal FetchOperation? InflightNext;
    internal bool InflightListed;

    public AsyncHttpClient Client { get; }

    public EventLoop? Loop { get; }

    public FetchRequest Request { get; }

    public ResolvedSettings Settings { get; }

    public string CurrentUrl { get; set; }

    public string CurrentMethod { get; set; } = "GET";

    /// <summary>Cancelled when the fetch is aborted from outside (client, loop or pool closing).</summary>
    public CancellationToken AbortToken
    {
        get
        {
            if (Volatile.Read(ref _abort) is { } existing)
            {
                return existing.Token;
            }

            var created = new CancellationTokenSource();
            var source = Interlocked.CompareExchange(ref _abort, created, null) ?? created;
            if (!ReferenceEquals(source, created))
            {
                created.Dispose();
            }
            else if (Volatile.Read(ref _aborted) is not null)
            {
                // Aborted before the source existed: AbortWith found nothing to cancel.
                source.Cancel();
            }

            return source.Token;
        }
    }

    /// <summary>The content codings the response body undid (HTTP-04), for
    /// <see cref="FetchResponse.DecodedContentEncodings"/>.</summary>
    public IReadOnlyList<string>? DecodedContentEncodings { get; set; }

    /// <summary>Set when a body read failed because <see cref="FetchSettings.BodyTimeout"/> ran out (not the request
    /// deadline), so the fetch's failure is reported as a body timeout.</summary>
    public bool BodyTimedOut { get; set; }

    /// <summary>The request URL as parsed when the fetch started (validated once, used for the first hop).</summary>
    public Uri? Target { get; init; }

    /// <summary>Makes an abort also cancel the fetch's own token source (its request timeout and the caller's
    /// token), so that the fetch needs no source linked to <see cref="AbortToken"/>.</summary>
    public void LinkAbort(CancellationTokenSource fetchSource)
    {
        Interlocked.Exchange(ref _fetchSource, fetchSource);
        if (Volatile.Read(ref _aborted) is not null || Volatile.Read(ref _abort)?.IsCancellationRequested == true)
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

    public FetchErrorKind? AbortKind => Volatile.Read(ref _aborted)?.Kind;

    public string? AbortMessage => Volatile.Read(ref _aborted)?.Message;

    /// <summary>The fetch's task, kept to observe an abandoned failure. Dropped once a streamed response is handed
    /// to the caller, so that the in-flight set never keeps an undisposed response reachable (its leak sentinel must
    /// be collectable).</summary>
    public Task? Task
    {
        get { var task = Volatile.Read(ref _task); return ReferenceEquals(task, s_handedOff) ? null : task; }
        set => Interlocked.CompareExchange(ref _task, value, null);
    }

    /// <summary>What a connection attempt this fetch causes takes from it, as values: the attempt may start after the
    /// fetch is over (the handler runs it for the pool, not for the request), and still keeps this fetch's deadline.</summary>
    public AttemptSettings AttemptSettings => new(Settings.ConnectTimeout, Settings.AllowIPv6, AllocationSite ?? Client.AllocationSite);

    /// <summary>For a streamed fetch, the user code that called FetchStreamAsync (null for buffered fetches: the
    /// client's allocation site is used, so the hot path walks no stack).</summary>
    public string? AllocationSite { get; set; }

    /// <summary>The streamed response is now the caller's: forget the task (see <see cref="Task"/>).</summary>
    public void MarkHandedOff() => Volatile.Write(ref _task, s_handedOff);

    /// <summary>Set when the response forbids reuse (HTTP/1.0 without keep-alive) or broke a framing rule, which the
    /// handler may otherwise reuse: on completion the origin's idle connections are closed, if the origin is then idle
    /// (exact: the connection that carried this response is among them; nothing else of that origin is in
    /// flight).</summary>
    public bool DiscardOnComplete { get; set; }

    /// <summary>The fetch's combined token (caller, request timeout, abort).</summary>
    public CancellationToken FetchToken { get; set; }

    public bool IsCompleted => Volatile.Read(ref _completed) != 0;

    /// <summary>Whether the response head has arrived (tells a failed request write from a failed response).</summary>
    public bool ResponseStarted => Interlocked.Read(ref _headers) != 0;

    /// <summary>The current hop's response head has not arrived (still queued, connecting, sending, or waiting for the
    /// server).</summary>
    public bool AwaitingResponseHead => Volatile.Read(ref _response) is null;

    public string Describe() => $"{CurrentMethod} {Redaction.Url(CurrentUrl)}";

    /// <summary>The request body of the current hop while its response head is awaited (null without a body, once the
    /// head arrived, and once the fetch completed): how far it got is said when the fetch fails before any answer.</summary>
    public WatchedContent? SentBody { get; private set; }

    /// <summary>Whether the fetch holds one of its client's <c>MaxClients</c> slots.</summary>
    public bool HoldsClientSlot => _holdsClientSlot;

    /// <summary>The fetch has its <c>MaxClients</c> slot. <paramref name="waited"/>: it queued for it (a slot taken at
    /// once ends the queue time where the fetch started, with no clock read).</summary>
    public void MarkDequeued(bool holdsSlot, bool waited = true)
    {
        _dequeued = waited ? Clock.Now(Client.Time) : _start;
        _holdsClientSlot = holdsSlot;
    }

    // Set once the fetch has taken pool slots: until then its dequeue timestamp is the last clock reading before the
    // first hop asks the pool for slots, and the fetch gets from there to the pool's fast path without awaiting, so a
    // pool on the same clock uses that timestamp as the slots' acquisition time instead of reading the clock again
    // (issue 16, sixth pass). A later hop's slots read the clock.
    private bool _tookSlots;

    /// <summary>A timestamp of <paramref name="poolTime"/> for slots taken now, without awaiting since the fetch
    /// started or left the client's queue: that moment's timestamp when the pool's clock is the client's, else a new
    /// reading.</summary>
    internal long SlotsTakenNow(TimeProvider poolTime)
    {
        var stamp = _dequeued;
        return !_tookSlots && stamp != 0 && ReferenceEquals(poolTime, Client.Time) ? stamp : Clock.Now(poolTime);
    }

    // The pool slots of the current hop: one per-host and one total slot of a ConnectionPool, held by the fetch itself
    // (issue 16: no lease object per fetch). While held the fetch is also in the pool's list of holders (an intrusive
    // list), which is how the pool knows exactly which fetches hold its slots (pool-wait errors name them) and which
    // origins have nothing in flight.
    private AsyncFifoSemaphore? _slotHost;
    private AsyncFifoSemaphore? _slotTotal; // set while the slots are held; cleared (once) by ReleaseSlots
    private Transport? _transport;

    /// <summary>The pool of the slots last taken (kept after they are released).</summary>
    internal ConnectionPool? SlotPool;

    /// <summary>The origin of the slots last taken (kept after they are released).</summary>
    internal string? SlotHostKey;

    /// <summary>When the current slots were taken (a timestamp of the pool's clock).</summary>
    internal long SlotsAcquiredAt;

    // The pool's list of slot holders (guarded by the pool's lease lock).
    internal FetchOperation? HolderPrevious;
    internal FetchOperation? HolderNext;
    internal bool HolderListed;

    /// <summary>Whether the fetch holds pool slots now.</summary>
    public bool HoldsSlots => Volatile.Read(ref _slotTotal) is not null;

    /// <summary>The pool granted a per-host and a total slot (the pool lists the fetch as their holder next). Slots
    /// still held from a previous hop are given back first.</summary>
    internal void TakeSlots(ConnectionPool pool, string hostKey, AsyncFifoSemaphore host, AsyncFifoSemaphore total, long acquiredAt)
    {
        ReleaseSlots();
        _tookSlots = true;
        SlotPool = pool;
        SlotHostKey = hostKey;
        SlotsAcquiredAt = acquiredAt;
        _slotHost = host;
        Volatile.Write(ref _slotTotal, total);
    }

    /// <summary>Marks <paramref name="transport"/> used by this fetch's slots until they are released (at most one at
    /// a time).</summary>
    public bool UseTransport(Transport transport)
    {
        if (ReferenceEquals(Volatile.Read(ref _transport), transport))
        {
            return true;
        }

        if (!transport.TryUse())
        {
            return false;
        }

        Interlocked.Exchange(ref _transport, transport)?.Release();
        return true;
    }

    /// <summary>Gives the pool slots back (and unlists the fetch as their holder). Idempotent; true if this call
    /// released them.</summary>
    public bool ReleaseSlots() => ReleaseSlots(0);

    /// <summary>As <see cref="ReleaseSlots()"/>; <paramref name="clientNow"/> is a timestamp of the client's clock
    /// taken just before (the fetch's end) that the pool reuses when it runs on the same clock, instead of reading the
    /// clock again for the handler's and the origin's idle times (issue 16, sixth pass); 0 to read the clock.</summary>
    private bool ReleaseSlots(long clientNow)
    {
        if (Interlocked.Exchange(ref _slotTotal, null) is not { } total)
        {
            return false;
        }

        var pool = SlotPool!;
        var now = clientNow != 0 && ReferenceEquals(pool.Time, Client.Time) ? clientNow : 0;
        pool.Unlist(this);
        Interlocked.Exchange(ref _transport, null)?.Release(now);
        total.Release(now);
        var host = Interlocked.Exchange(ref _slotHost, null)!;
        host.Release(now);
        pool.OnLeaseReleased(host);
        return true;
    }

    /// <summary>The request of the current hop is handed to the handler. How far its body gets is read if the fetch
    /// fails before the response head (FetchErrors).</summary>
    public void OnSending(HttpRequestMessage request)
    {
        _sent = Clock.Now(Client.Time);
        SentBody = request.Content as WatchedContent;
    }

    /// <summary>The handler returned the response head of the current hop. The fetch owns that response until it
    /// completes: aborting the fetch disposes it, which is how exactly its own stream or connection is closed.</summary>
    public void OnResponse(HttpResponseMessage response)
    {
        _headers = Clock.Now(Client.Time);
        SentBody = null;
        Volatile.Write(ref _response, response);
        if (Volatile.Read(ref _aborted) is not null)
        {
            DisposeResponse();
        }
    }

    /// <summary>The response is handed to a caller who may drop it (the HttpClient bridge): from now on an abort or a
    /// discard disposes <paramref name="handle"/> instead of the response, so that this fetch, which its client lists
    /// in flight, does not keep the caller's response (and its leak sentinel) reachable.</summary>
    public void ReplaceResponse(IDisposable handle)
    {
        Volatile.Write(ref _response, handle);
        if (Volatile.Read(ref _aborted) is not null || IsCompleted)
        {
            DisposeResponse();
        }
    }

    private void DisposeResponse()
    {
        try
        {
            Interlocked.Exchange(ref _response, null)?.Dispose();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or HttpRequestException)
        {
            // The connection under it is already gone.
        }
    }

    /// <summary>Fails the fetch from outside (client, loop or pool closing): remember why, cancel its token (the
    /// handler then closes the HTTP/1.1 connection or resets the HTTP/2 stream that carries the request) and dispose
    /// its response (the same for a response being read). Nothing else is touched: another fetch on the same HTTP/2
    /// connection, or a connection this fetch no longer uses, is left alone (CORE-01, CORE-02).</summary>
    public void AbortWith(FetchErrorKind kind, string message)
    {
        if (IsCompleted)
        {
            return;
        }

        Interlocked.CompareExchange(ref _aborted, new AbortReason(kind, message), null);

        // Full fence: the kind must be visible before the source is read. AbortToken publishes a new source (CAS) and
        // then reads the kind; without the fence this store and that load may pass each other, and neither side
        // cancels the source (a store may be reordered after a later load).
        Interlocked.MemoryBarrier();
        try
        {
            Volatile.Read(ref _abort)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Completed concurrently.
        }

        CancelFetchSource();
        DisposeResponse();

        if (Task is { } task)
        {
            // An abandoned fetch nobody awaits must not surface later as an UnobservedTaskException.
            task.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>The response body is fully read (or abandoned): free the slots. With
    /// <paramref name="discardConnection"/> the response is disposed first, so an
    /// unfinished one closes its HTTP/1.1 connection or resets its HTTP/2 stream (the handler's drain size is 0).
    /// Idempotent.</summary>
    public void Complete(bool discardConnection = false)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return;
        }

        _end = Clock.Now(Client.Time);
        if (Volatile.Read(ref _ref) is { } handle)
        {
            handle.Operation = null;
        }

        if (Interlocked.Exchange(ref _named, null) is { } named)
        {
            named.Operation = null;
        }

        if (discardConnection)
        {
            DisposeResponse();
        }

        SentBody = null;
        Volatile.Write(ref _response, null);
        if (ReleaseSlots(_end) && DiscardOnComplete)
        {
            SlotPool!.CloseIdleOf(SlotHostKey!);
        }

        Client.OnOperationCompleted(this, _holdsClientSlot);
        _holdsClientSlot = false;
        Volatile.Read(ref _abort)?.Dispose();
    }

    /// <summary>Called when a redirect or digest retry moves on: the previous hop's response is done and its slots
    /// are released.</summary>
    public void ReleaseHop()
    {
        Volatile.Write(ref _response, null);
        ReleaseSlots();
    }

    /// <summary>Queue and first-byte times are this fetch's own; connect and TLS are reported as zero: the handler, not
    /// this fetch, owns connection attempts (a connection started for one fetch may serve another), and the runtime's
    /// only exact record of the connection a request was sent on costs every request something (see
    /// <see cref="TimeInfo"/>).</summary>
    public (TimeSpan Queue, TimeSpan FirstByte, TimeSpan Total) GetTimes()
    {
        var end = _end != 0 ? _end : Clock.Now(Client.Time);
        return (Between(_start, _dequeued), Between(_sent, _headers), Between(_start, end));
    }

    public TimeSpan Elapsed => Clock.Since(Client.Time, _start);

    private TimeSpan Between(long from, long to) =>
        from == 0 || to == 0 || to < from ? TimeSpan.Zero : Clock.Between(Client.Time, from, to);
}

/// <summary>Why a fetch was aborted (<see cref="FetchOperation.AbortWith"/>).</summary>
internal sealed record AbortReason(FetchErrorKind Kind, string Message);

/// <summary>The link from a request message to its fetch, cut when the fetch completes (the handler may keep a
/// request message after the fetch is over, and that must not keep the client alive).</summary>
internal sealed class OperationRef(FetchOperation operation)
{
    public volatile FetchOperation? Operation = operation;

    /// <summary>What a connection attempt takes from the fetch, kept after the fetch is over (see
    /// <see cref="FetchOperation.AttemptSettings"/>).</summary>
    public readonly AttemptSettings Attempt = operation.AttemptSettings;
}

/// <summary>What a connection attempt takes from the request that caused it: its connect deadline
/// (<see cref="ResolvedSettings.ConnectTimeout"/>, covering DNS, TCP and TLS), whether IPv6 addresses may be used, and
/// the call site shown in the ledger. Values only, so the request message keeps no fetch or client reachable.</summary>
internal readonly record struct AttemptSettings(TimeSpan ConnectTimeout, bool AllowIPv6, string Site);
