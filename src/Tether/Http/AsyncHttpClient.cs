using Tether.Diagnostics;

namespace Tether;

/// <summary>
/// A non-blocking HTTP client in the style of Tornado's <c>AsyncHTTPClient</c>, built on
/// <see cref="SocketsHttpHandler"/>, that owns and can account for every socket it opens.
/// </summary>
/// <remarks>
/// <para>
/// Construction captures nothing: no socket, timer, thread or loop is created until the first fetch. Ownership is
/// decided by where the client is created (see <see cref="ClientOwnership"/>): created inside
/// <see cref="EventLoop.Run(Func{Task}, CancellationToken, string, int, string)"/> it belongs to that loop, which closes it when it ends;
/// created outside any loop it belongs to the caller, who closes it with <see cref="Close"/> or
/// <c>await using</c>. <see cref="Shared"/> is borrowed and can never be closed by a borrower.
/// </para>
/// <para>
/// Closing fails every queued and in-flight fetch with a "client closed" 599 and closes every socket the client
/// holds, including sockets held by streamed responses nobody disposed, before <see cref="Close"/> returns.
/// </para>
/// <example>
/// <code>
/// await using var client = new AsyncHttpClient();
/// FetchResponse response = await client.FetchAsync("http://127.0.0.1:8080/hello");
/// Console.WriteLine($"{response.Code} {response.Text}");
/// </code>
/// </example>
/// <para>Thread-safety: fetches may run concurrently from any thread; options freeze at the first fetch.</para>
/// </remarks>
public sealed partial class AsyncHttpClient : IAsyncDisposable, IDisposable, ILoopResource
{
    private static long s_nextId;
    private static readonly Lazy<AsyncHttpClient> s_processShared = new(() => new AsyncHttpClient(
        new AsyncHttpClientOptions
        {
            // CORE-07: outside a loop there is no Tornado max_clients; the process-wide client allows as many
            // concurrent fetches as a default SocketsHttpHandler (the pool's limits still apply).
            MaxClients = int.MaxValue,
            Pool = ConnectionPool.Process,
            Ownership = ClientOwnership.Caller,
            Name = "AsyncHttpClient.Shared(process)",
        },
        isShared: true));

    private readonly Lock _gate = new(); // System.Threading.Lock: cheaper than a Monitor on an object (issue 16, sixth pass)
    // The fetches queued or in flight: an intrusive list (FetchOperation.InflightPrevious/Next) under _gate, so that
    // registering a fetch allocates nothing and a client costs no set of its own.
    private FetchOperation? _inflight;
    private int _inflightCount;
    private readonly EventLoop? _creationLoop;
    private readonly bool _isShared;
    private AsyncFifoSemaphore? _slots;
    private ConnectionPool? _pool;
    private bool _ownsPool;
    private bool _boundToLoop;
    private int _closed;
    private string? _closedAt;
    // Set instead of _closedAt when a loop's end closed the client: the text is formatted only if an error needs it
    // (a loop per call closes a client per fetch).
    private EventLoop? _closedByLoop;

    /// <summary>The handler this client's process-wide shared settings last went through in its (non-process) pool:
    /// see <see cref="ConnectionPool"/>'s send. A hint, checked on every use.</summary>
    internal volatile TransportHint? TransportHint;

    internal string ClosedAt => _closedAt ?? (_closedByLoop is { } loop ? $"the end of {loop.Name}" : "unknown");
    private TimeProvider _time = TimeProvider.System;

    /// <summary>Creates a client. Nothing is opened until the first fetch.</summary>
    /// <param name="options">Options; validated at the first fetch and frozen after it.</param>
    /// <param name="callerFilePath">Filled in by the compiler; do not pass. With <paramref name="callerLineNumber"/> it
    /// identifies the call site, so <see cref="AllocationSite"/> is found by one stack walk per call site rather than
    /// one per client.</param>
    /// <param name="callerLineNumber">Filled in by the compiler; do not pass.</param>
    /// <param name="callerMemberName">Filled in by the compiler; do not pass (with the file and line it keys the
    /// site, so two methods on one source line are two sites).</param>
    public AsyncHttpClient(AsyncHttpClientOptions? options = null,
        [System.Runtime.CompilerServices.CallerFilePath] string callerFilePath = "",
        [System.Runtime.CompilerServices.CallerLineNumber] int callerLineNumber = 0,
        [System.Runtime.CompilerServices.CallerMemberName] string callerMemberName = "")
        : this(options ?? new AsyncHttpClientOptions(), isShared: false, site: CallSite.Capture(callerFilePath, callerLineNumber, callerMemberName))
    {
    }

    /// <summary>A client whose allocation site the caller found (the DI package walks past its own frames).</summary>
    internal AsyncHttpClient(AsyncHttpClientOptions options, string allocationSite)
        : this(options, isShared: false, site: allocationSite)
    {
    }

    /// <summary>A client whose allocation site the caller found, owned by its creator when <paramref name="callerOwned"/>.</summary>
    /// <param name="options">The options.</param>
    /// <param name="allocationSite">The caller's site.</param>
    /// <param name="callerOwned">Owned by the object that creates it (<see cref="BlockingHttpClient"/>) whatever
    /// <see cref="AsyncHttpClientOptions.Ownership"/> says, without writing to the caller's options (which may be
    /// frozen by another client, or be given next to a client created inside a loop).</param>
    internal AsyncHttpClient(AsyncHttpClientOptions options, string allocationSite, bool callerOwned)
        : this(options, isShared: false, site: allocationSite, callerOwned: callerOwned)
    {
    }

    private AsyncHttpClient(AsyncHttpClientOptions options, bool isShared, EventLoop? sharedLoop = null, string? site = null,
        bool callerOwned = false)
    {
        Options = options;
        _isShared = isShared;
        Id = Interlocked.Increment(ref s_nextId);
        _name = options.Name; // the default name is formatted when first asked for
        AllocationSite = isShared ? "AsyncHttpClient.Shared" : site ?? CallSite.Capture();
        _creationLoop = !callerOwned && options.Ownership == ClientOwnership.Auto ? sharedLoop ?? EventLoop.Current : null;
        OnConstructed();
    }

    /// <summary>
    /// The shared client of the running loop (one per loop, closed when the loop ends), or outside any loop a single
    /// process-wide client leasing from <see cref="ConnectionPool.Process"/>. Borrowers must not close it.
    /// </summary>
    /// <remarks>Limits (CORE-07): a loop's shared client has Tornado's <c>max_clients = 10</c>
    /// (<see cref="AsyncHttpClientOptions.MaxClients"/>' default); the process-wide one has no MaxClients queue
    /// (<see cref="int.MaxValue"/>) and leases from <see cref="ConnectionPool.Process"/>, which has no per-host or total
    /// cap, so thread-pool and ASP.NET Core code gets at least the concurrency of a default SocketsHttpHandler
    /// (<c>MaxConnectionsPerServer = int.MaxValue</c>).</remarks>
    public static AsyncHttpClient Shared => EventLoop.Current is { } loop ? loop.GetOrCreateShared() : s_processShared.Value;

    /// <summary>The client's options (frozen at the first fetch).</summary>
    public AsyncHttpClientOptions Options { get; }

    /// <summary>A process-unique id.</summary>
    public long Id { get; }

    /// <summary>The name used in logs and the ledger.</summary>
    public string Name => _name ??= $"AsyncHttpClient#{Id}";

    private string? _name;

    /// <summary>Where the client was created (the caller's method and line).</summary>
    public string AllocationSite { get; }

    /// <summary>Set once a response of this client's HttpClient bridge was dropped undisposed: from then on each bridged
    /// request records its caller's method (a stack walk), so the next warning names it.</summary>
    internal volatile bool NamesBridgeCallers;

    /// <summary>This is a <see cref="TetherHttpMessageHandler"/>'s inner client: its warnings name the handler, the type
    /// the user created. Set by the handler right after construction.</summary>
    internal bool ServesHandler { get; set; }

    /// <summary>The loop that owns this client, or null when the caller owns it.</summary>
    public EventLoop? OwnerLoop => _creationLoop;

    /// <summary>Whether this is a <see cref="Shared"/> instance.</summary>
    public bool IsShared => _isShared;

    /// <summary>Whether the client has been closed.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>The number of fetches queued or in flight, including streamed responses not yet read or disposed.</summary>
    public int InFlight
    {
        get { lock (_gate) { return _inflightCount; } }
    }

    /// <summary>The pool this client uses (its own, or the one it leases from); null before the first fetch.</summary>
    public ConnectionPool? Pool => _pool;

    /// <summary>The clock of the client's timers (<see cref="AsyncHttpClientOptions.TimeProvider"/>, resolved at the
    /// first fetch; <see cref="TimeProvider.System"/> before it).</summary>
    internal TimeProvider Time => _time;

    internal static AsyncHttpClient CreateShared(EventLoop loop) =>
        new(new AsyncHttpClientOptions { Name = $"AsyncHttpClient.Shared({loop.Name})" }, isShared: true, sharedLoop: loop);

    /// <inheritdoc />
    public override string ToString() => Name;

    /// <summary>Closes the client: fails queued and in-flight fetches with a "client closed" 599 and closes every
    /// socket the client holds before returning. Idempotent.</summary>
    /// <exception cref="LoopMisuseException">This is <see cref="Shared"/>, which borrowers must not close.</exception>
    public void Close()
    {
        if (_isShared)
        {
            throw LoopMisuseException.SharedClose(Name, "new AsyncHttpClient()", _creationLoop);
        }

        CloseCore(FetchErrorKind.ClientClosed, CallSite.Capture());
    }

    /// <summary>Same as <see cref="Close"/>.</summary>
    /// <returns>A completed task: every socket is closed when <see cref="Close"/> returns.</returns>
    public ValueTask DisposeAsync()
    {
        Close();
        return ValueTask.CompletedTask;
    }

    /// <summary>Same as <see cref="Close"/>.</summary>
    public void Dispose() => Close();

    Task ILoopResource.CloseFromLoopAsync(EventLoop loop)
    {
        CloseCore(FetchErrorKind.LoopClosed, closedAt: null, closedByLoop: loop);
        return Task.CompletedTask;
    }

    private void CloseCore(FetchErrorKind kind, string? closedAt, EventLoop? closedByLoop = null)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        _closedAt = closedAt;
        _closedByLoop = closedByLoop;
        GC.SuppressFinalize(this);
        FetchOperation[] operations;
        lock (_gate)
        {
            operations = _inflightCount == 0 ? [] : new FetchOperation[_inflightCount];
            var i = 0;
            for (var op = _inflight; op is not null; op = op.InflightNext)
            {
                operations[i++] = op;
            }
        }

        // Built only when something is aborted with it: a loop per call usually ends with nothing in flight, and its
        // private pool then has no fetch to fail either (the pool asks for the text only if it does).
        var reason = operations.Length == 0 ? null : CloseReason(kind);
        foreach (var operation in operations)
        {
            operation.AbortWith(kind, reason!);
        }

        // A leasing client touches no socket: each of its fetches was aborted above (token cancelled, response
        // disposed), and the handler closed exactly their HTTP/1.1 connections or reset their HTTP/2 streams. Only an
        // owned pool goes away whole.
        if (_ownsPool)
        {
            _pool?.CloseNow(kind, reason, this);
        }

        if (_boundToLoop)
        {
            _creationLoop?.Disown(this);
        }
    }

    /// <summary>Why this client's fetches (and those holding its private pool) fail once it is closed.</summary>
    internal string CloseReason(FetchErrorKind kind) => kind == FetchErrorKind.LoopClosed
        ? $"{Name} was closed by {ClosedAt}"
        : $"{Name} was closed at {ClosedAt}";

    /// <summary>Checks that this client may be used from the current context and binds it on first use.</summary>
    private void EnsureUsable(EventLoop? current)
    {
        if (IsClosed)
        {
            if (_creationLoop is { IsClosed: true } ended && ReferenceEquals(_closedByLoop, ended))
            {
                throw LoopMisuseException.LoopClosed(ended, $"{Name}.FetchAsync", AllocationSite);
            }

            throw new ClientClosedException(Name, ClosedAt, AllocationSite);
        }

        if (_creationLoop is { } owner)
        {
            if (owner.IsClosed)
            {
                throw LoopMisuseException.LoopClosed(owner, $"{Name}.FetchAsync", AllocationSite);
            }

            if (current is not null && current != owner)
            {
                throw LoopMisuseException.CrossLoop(Name, owner, current, AllocationSite);
            }
        }

        if (_slots is not null)
        {
            return;
        }

        lock (_gate)
        {
            if (_slots is not null)
            {
                return;
            }

            OptionChecks.ThrowIfAny(nameof(AsyncHttpClientOptions), Options.Validate());
            Options.Freeze();
            // Issue 13: one clock for the client's timers; by default the owning loop's, so a fake clock given to
            // EventLoop.Run drives the timeouts of the clients that loop owns too.
            _time = Options.TimeProvider ?? _creationLoop?.TimeProvider ?? TimeProvider.System;
            if (Options.Pool is { } leased)
            {
                _pool = leased;
            }
            else
            {
                _pool = new ConnectionPool(Options.PoolOptions ?? ConnectionPoolOptions.ClientDefault) { Kind = PoolKinds.Client, InheritedTime = _time };
                _ownsPool = true;
            }

            _pool.EnsureStarted();
            if (_creationLoop is { } loop)
            {
                if (!loop.TryOwn(this))
                {
                    throw LoopMisuseException.LoopClosed(loop, $"{Name}.FetchAsync", AllocationSite);
                }

                _boundToLoop = true;
            }

            _slots = new AsyncFifoSemaphore(Options.MaxClients, _time, trackQuiet: false);
            OnResourcesAcquired();
        }
    }

    private void Register(FetchOperation operation)
    {
        lock (_gate)
        {
            if (IsClosed)
            {
                throw new ClientClosedException(Name, ClosedAt, AllocationSite);
            }

            operation.InflightNext = _inflight;
            if (_inflight is not null)
            {
                _inflight.InflightPrevious = operation;
            }

            _inflight = operation;
            operation.InflightListed = true;
            _inflightCount++;
        }
    }

    /// <summary>What the fetches holding this client's <c>MaxClients</c> slots are doing, for a queue-timeout message:
    /// how many have no response head yet (connecting, sending, waiting for the server) and how many a response not yet
    /// read to the end or disposed.</summary>
    internal (int Unanswered, int Open) CountSlotHolders()
    {
        var unanswered = 0;
        var open = 0;
        lock (_gate)
        {
            for (var op = _inflight; op is not null; op = op.InflightNext)
            {
                if (!op.HoldsClientSlot || op.IsCompleted)
                {
                    continue;
                }

                if (op.AwaitingResponseHead)
                {
                    unanswered++;
                }
                else
                {
                    open++;
                }
            }
        }

        return (unanswered, open);
    }

    internal void OnOperationCompleted(FetchOperation operation, bool heldSlot)
    {
        lock (_gate)
        {
            if (operation.InflightListed)
            {
                if (operation.InflightPrevious is { } previous)
                {
                    previous.InflightNext = operation.InflightNext;
                }
                else
                {
                    _inflight = operation.InflightNext;
                }

                if (operation.InflightNext is { } next)
                {
                    next.InflightPrevious = operation.InflightPrevious;
                }

                operation.InflightPrevious = null;
                operation.InflightNext = null;
                operation.InflightListed = false;
                _inflightCount--;
            }
        }

        if (heldSlot)
        {
            _slots?.Release();
        }
    }
}
