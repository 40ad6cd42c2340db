using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Tether.Diagnostics;

namespace Tether;

/// <summary>
/// A single-threaded event loop: the .NET analogue of Python's <c>asyncio.run</c>.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Run(Func{Task}, CancellationToken, string, int, string)"/> installs a fresh loop on the calling thread, runs the coroutine
/// until it completes, and then closes everything bound to the loop: pending timers are dropped, every
/// <see cref="AsyncHttpClient"/> owned by the loop (created inside it, or <see cref="AsyncHttpClient.Shared"/>) is
/// closed, which fails its in-flight fetches with a "loop closed" 599 and closes its sockets. Only then does
/// <c>Run</c> return or rethrow.
/// </para>
/// <para>
/// Ownership: the thread that calls <c>Run</c> owns the loop for the duration of the call. The loop owns its
/// timers, its callbacks and the clients bound to it. Nothing global keeps a loop alive after <c>Run</c> returns.
/// </para>
/// <example>
/// <code>
/// for (var i = 0; i &lt; 2000; i++)
/// {
///     EventLoop.Run(async () =&gt;
///     {
///         var client = new AsyncHttpClient();          // owned by this loop
///         var response = await client.FetchAsync("http://127.0.0.1:8080/hello");
///         Console.WriteLine(response.Text);
///     });                                             // loop ends: the client and its socket are closed
/// }
/// </code>
/// </example>
/// <para>Thread-safety: <see cref="AddCallback"/> may be called from any thread; the other members run on the
/// loop's thread.</para>
/// </remarks>
public sealed partial class EventLoop
{
    private static long s_nextId;
    private static long s_active;

    [ThreadStatic]
    private static EventLoop? t_current;

    private readonly object _gate = new();
    private readonly Queue<(SendOrPostCallback Callback, object? State)> _ready;

    // The ready queue of the last loop this thread ran, empty and unreachable by then (a closed loop accepts no work):
    // a loop per call reuses its grown array instead of growing a new one.
    [ThreadStatic]
    private static Queue<(SendOrPostCallback Callback, object? State)>? t_readyCache;
    // Allocated at the first CallLater / PeriodicCallback: a loop per call usually schedules none.
    private PriorityQueue<LoopTimer, long>? _timers;

    // The resources the loop closes when it ends, in the order they were added: the first in a field (a loop per call
    // owns one client), any others in a list made for them.
    private ILoopResource? _resource;
    private List<ILoopResource>? _moreResources;
    private readonly string _allocationSite;
    private LoopState _state = LoopState.Running;
    private readonly TimeProvider _time;
    private ExceptionDispatchInfo? _callbackFault;
    private AsyncHttpClient? _shared;

    // What the pump waits for (see PumpUntil): the coroutine and the caller's token while it runs, the owned
    // resources' closes while the loop shuts down. Cleared when the loop has closed.
    private Task? _main;
    private CancellationToken _stop;
    private Task? _closing;

    // Only with a TimeProvider other than System: a provider timer that wakes the pump when the earliest loop timer
    // is due (a fake clock's Advance fires it). With System the pump's wait timeout does that job.
    private ITimer? _wake;

    // The pump sleeps on this signal, set by a waker outside the loop's lock (a Monitor.Pulse under the lock woke the
    // pump straight into that lock: two context switches per wake instead of one). Never disposed: it holds no OS
    // handle unless its WaitHandle is asked for, and a late waker may still set it.
    // Reused by the next loop on this thread (t_signalCache): a late Set from a waker of an ended loop is at worst one
    // spurious wake of the next one, whose pump re-checks its state before sleeping again.
    private readonly ManualResetEventSlim _signal;

    [ThreadStatic]
    private static ManualResetEventSlim? t_signalCache;
    private bool _sleeping; // guarded by _gate: the pump is (about to be) waiting on _signal

    private EventLoop(string allocationSite, TimeProvider timeProvider)
    {
        _ready = t_readyCache ?? new();
        t_readyCache = null;
        _signal = t_signalCache ?? new(initialState: false);
        t_signalCache = null;
        Id = Interlocked.Increment(ref s_nextId);
        ThreadId = Environment.CurrentManagedThreadId;
        _allocationSite = allocationSite;
        _time = timeProvider;
        Context = new LoopSynchronizationContext(this);
    }

    /// <summary>The loop running on the current thread, or <see langword="null"/> outside any loop.</summary>
    public static EventLoop? Current => t_current;

    /// <summary>The number of loops currently running in this process.</summary>
    public static long ActiveCount => Interlocked.Read(ref s_active);

    /// <summary>A process-unique id, used in error messages and the ledger.</summary>
    public long Id { get; }

    /// <summary>A short name such as <c>EventLoop#3</c>.</summary>
    public string Name => _name ??= $"EventLoop#{Id}";

    private string? _name;

    /// <summary>The managed thread id of the thread that runs this loop.</summary>
    public int ThreadId { get; }

    /// <summary>The clock of this loop's timers (<see cref="CallLater"/>, <see cref="PeriodicCallback"/>): the one
    /// given to <see cref="Run(Func{Task}, TimeProvider, CancellationToken, string, int, string)"/>, <see cref="TimeProvider.System"/> by
    /// default. Clients this loop owns (and their private pools) run their timeouts on it too, unless
    /// <see cref="AsyncHttpClientOptions.TimeProvider"/> says otherwise.</summary>
    public TimeProvider TimeProvider => _time;

    /// <summary>Where <c>EventLoop.Run</c> was called for this loop (caller's method and line).</summary>
    public string AllocationSite => _allocationSite;

    /// <summary>Whether the loop has ended; a closed loop runs nothing and owns nothing.</summary>
    public bool IsClosed
    {
        get { lock (_gate) { return _state == LoopState.Closed; } }
    }

    /// <summary>The number of timers (<see cref="CallLater"/>, <see cref="PeriodicCallback"/>) still scheduled.</summary>
    public int PendingTimers
    {
        get { lock (_gate) { return _timers?.Count ?? 0; } }
    }

    internal LoopSynchronizationContext Context { get; }

    /// <inheritdoc />
    public override string ToString() => Name;

    /// <summary>Runs <paramref name="main"/> on a fresh loop on this thread, then closes the loop.</summary>
    /// <param name="main">The coroutine to run.</param>
    /// <param name="cancellationToken">Stops the loop early: everything is closed and
    /// <see cref="OperationCanceledException"/> is thrown.</param>
    /// <exception cref="LoopMisuseException">This thread is already running a loop (await the coroutine instead).</exception>
    /// <remarks>An exception thrown by <paramref name="main"/> is rethrown with its original type once the loop is
    /// closed. An exception thrown by a scheduled callback stops the loop and is rethrown by <c>Run</c>.</remarks>
    /// <param name="callerFilePath">Filled in by the compiler; do not pass (with <paramref name="callerLineNumber"/> it
    /// names the loop's allocation site with one stack walk per call site).</param>
    /// <param name="callerLineNumber">Filled in by the compiler; do not pass.</param>
    /// <param name="callerMemberName">Filled in by the compiler; do not pass.</param>
    public static void Run(Func<Task> main, CancellationToken cancellationToken = default,
        [System.Runtime.CompilerServices.CallerFilePath] string callerFilePath = "", [System.Runtime.CompilerServices.CallerLineNumber] int callerLineNumber = 0,
        [System.Runtime.CompilerServices.CallerMemberName] string callerMemberName = "") =>
        Run(main, TimeProvider.System, cancellationToken, callerFilePath, callerLineNumber, callerMemberName);

    /// <summary>Runs <paramref name="main"/> on a fresh loop on this thread whose timers use
    /// <paramref name="timeProvider"/>, then closes the loop.</summary>
    /// <param name="main">The coroutine to run.</param>
    /// <param name="timeProvider">The clock of the loop's timers (<see cref="CallLater"/>,
    /// <see cref="PeriodicCallback"/>) and, by default, of the timeouts of the clients the loop owns:
    /// <see cref="TimeProvider.System"/> in production; a fake clock (e.g. <c>FakeTimeProvider</c> from
    /// Microsoft.Extensions.TimeProvider.Testing) in tests of timer logic.</param>
    /// <param name="cancellationToken">Stops the loop early: everything is closed and
    /// <see cref="OperationCanceledException"/> is thrown.</param>
    /// <exception cref="LoopMisuseException">This thread is already running a loop (await the coroutine instead).</exception>
    /// <param name="callerFilePath">Filled in by the compiler; do not pass.</param>
    /// <param name="callerLineNumber">Filled in by the compiler; do not pass.</param>
    /// <param name="callerMemberName">Filled in by the compiler; do not pass.</param>
    public static void Run(Func<Task> main, TimeProvider timeProvider, CancellationToken cancellationToken = default,
        [System.Runtime.CompilerServices.CallerFilePath] string callerFilePath = "", [System.Runtime.CompilerServices.CallerLineNumber] int callerLineNumber = 0,
        [System.Runtime.CompilerServices.CallerMemberName] string callerMemberName = "")
    {
        ArgumentNullException.ThrowIfNull(main);
        Run<object?>(async () =>
        {
            await main().ConfigureAwait(true);
            return null;
        }, timeProvider, cancellationToken, callerFilePath, callerLineNumber, callerMemberName);
    }

    /// <summary>Runs <paramref name="main"/> on a fresh loop on this thread, closes the loop and returns the result.</summary>
    /// <typeparam name="T">The coroutine's result type.</typeparam>
    /// <param name="main">The coroutine to run.</param>
    /// <param name="cancellationToken">Stops the loop early: everything is closed and
    /// <see cref="OperationCanceledException"/> is thrown.</param>
    /// <returns>The coroutine's result.</returns>
    /// <exception cref="LoopMisuseException">This thread is already running a loop (await the coroutine instead).</exception>
    /// <param name="callerFilePath">Filled in by the compiler; do not pass.</param>
    /// <param name="callerLineNumber">Filled in by the compiler; do not pass.</param>
    /// <param name="callerMemberName">Filled in by the compiler; do not pass.</param>
    public static T Run<T>(Func<Task<T>> main, CancellationToken cancellationToken = default,
        [System.Runtime.CompilerServices.CallerFilePath] string callerFilePath = "", [System.Runtime.CompilerServices.CallerLineNumber] int callerLineNumber = 0,
        [System.Runtime.CompilerServices.CallerMemberName] string callerMemberName = "") =>
        Run(main, TimeProvider.System, cancellationToken, callerFilePath, callerLineNumber, callerMemberName);

    /// <summary>Runs <paramref name="main"/> on a fresh loop on this thread whose timers use
    /// <paramref name="timeProvider"/>, closes the loop and returns the result.</summary>
    /// <typeparam name="T">The coroutine's result type.</typeparam>
    /// <param name="main">The coroutine to run.</param>
    /// <param name="timeProvider">The clock of the loop's timers; <see cref="TimeProvider.System"/> in production.</param>
    /// <param name="cancellationToken">Stops the loop early: everything is closed and
    /// <see cref="OperationCanceledException"/> is thrown.</param>
    /// <returns>The coroutine's result.</returns>
    /// <exception cref="LoopMisuseException">This thread is already running a loop (await the coroutine instead).</exception>
    /// <param name="callerFilePath">Filled in by the compiler; do not pass.</param>
    /// <param name="callerLineNumber">Filled in by the compiler; do not pass.</param>
    /// <param name="callerMemberName">Filled in by the compiler; do not pass.</param>
    public static T Run<T>(Func<Task<T>> main, TimeProvider timeProvider, CancellationToken cancellationToken = default,
        [System.Runtime.CompilerServices.CallerFilePath] string callerFilePath = "", [System.Runtime.CompilerServices.CallerLineNumber] int callerLineNumber = 0,
        [System.Runtime.CompilerServices.CallerMemberName] string callerMemberName = "")
    {
        ArgumentNullException.ThrowIfNull(main);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (t_current is { } running)
        {
            throw LoopMisuseException.NestedRun(running);
        }

        var loop = new EventLoop(CallSite.Capture(callerFilePath, callerLineNumber, callerMemberName), timeProvider);
        return loop.RunCore(main, cancellationToken);
    }

    private T RunCore<T>(Func<Task<T>> main, CancellationToken cancellationToken)
    {
        var previousContext = SynchronizationContext.Current;
        t_current = this;
        Interlocked.Increment(ref s_active);
        SynchronizationContext.SetSynchronizationContext(Context);
        Task<T>? task = null;
        try
        {
            using var stop = cancellationToken.CanBeCanceled
                ? cancellationToken.UnsafeRegister(static s => ((EventLoop)s!).Wake(), this)
                : default;
            try
            {
                task = main() ?? throw new InvalidOperationException("EventLoop.Run: the coroutine returned a null Task.");
            }
            catch (Exception ex)
            {
                task = Task.FromException<T>(ex);
            }

            // The coroutine may finish on another thread (ConfigureAwait(false)); wake the pump when it does. A task that
            // is already complete needs no wake. The wake runs synchronously wherever the task completes: an awaiter's
            // continuation may not run inline on a thread with a SynchronizationContext, so when the coroutine finished on
            // this loop (the usual case) it queued a thread-pool work item per loop just to set a signal the pump no
            // longer waits on.
            if (!task.IsCompleted)
            {
                task.ContinueWith(static (_, s) => ((EventLoop)s!).Wake(), this, CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            _main = task;
            _stop = cancellationToken;
            Pump(PumpUntil.MainDone);
        }
        finally
        {
            Shutdown();
            SynchronizationContext.SetSynchronizationContext(previousContext);
            t_current = null;
            Interlocked.Decrement(ref s_active);
        }

        _callbackFault?.Throw();
        if (!task.IsCompleted)
        {
            cancellationToken.ThrowIfCancellationRequested();
        }

        return task.GetAwaiter().GetResult();
    }

    /// <summary>Schedules <paramref name="callback"/> to run on the loop's thread after the work already queued (FIFO).</summary>
    /// <param name="callback">The callback. An exception it throws stops the loop and is rethrown by <c>Run</c>.</param>
    /// <exception cref="LoopMisuseException">The loop is closed.</exception>
    public void AddCallback(Action callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        if (!TryEnqueue(static s => ((Action)s!)(), callback, userCallback: true))
        {
            throw LoopMisuseException.LoopClosed(this, "AddCallback", _allocationSite);
        }
    }

    /// <summary>Runs <paramref name="callback"/> on the loop's thread once <paramref name="delay"/> has passed.</summary>
    /// <param name="delay">How long to wait; zero or more.</param>
    /// <param name="callback">The callback.</param>
    /// <returns>A handle whose <see cref="TimerHandle.Cancel"/> stops the callback from running.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delay"/> is negative.</exception>
    /// <exception cref="LoopMisuseException">Called from another thread, or the loop is closed.</exception>
    public TimerHandle CallLater(TimeSpan delay, Action callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        var timer = new LoopTimer(this, callback, period: null);
        Schedule(timer, delay);
        return new TimerHandle(timer);
    }

    /// <summary>Creates a <see cref="Tether.PeriodicCallback"/> on this loop; call <see cref="Tether.PeriodicCallback.Start"/> to begin.</summary>
    /// <param name="interval">The interval between ticks; must be positive.</param>
    /// <param name="callback">Runs on the loop's thread at every tick.</param>
    /// <returns>The (stopped) periodic callback.</returns>
    public PeriodicCallback PeriodicCallback(TimeSpan interval, Action callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        return new PeriodicCallback(this, interval, callback);
    }

    internal void Schedule(LoopTimer timer, TimeSpan delay)
    {
        EnsureOnLoopThread("CallLater");
        var due = _time.GetTimestamp() + (long)(delay.TotalSeconds * _time.TimestampFrequency);
        lock (_gate)
        {
            if (_state == LoopState.Closed)
            {
                throw LoopMisuseException.LoopClosed(this, "CallLater", _allocationSite);
            }

            timer.Due = due;
            (_timers ??= new()).Enqueue(timer, due);
        }
    }

    internal void EnsureOnLoopThread(string operation)
    {
        if (Environment.CurrentManagedThreadId != ThreadId)
        {
            throw LoopMisuseException.WrongThread(this, operation);
        }
    }

    /// <summary>Registers a resource the loop must close when it ends. Returns false when the loop is already closed.</summary>
    internal bool TryOwn(ILoopResource resource)
    {
        lock (_gate)
        {
            if (_state == LoopState.Closed)
            {
                return false;
            }

            if (_resource is null && _moreResources is not { Count: > 0 })
            {
                _resource = resource;
            }
            else
            {
                (_moreResources ??= []).Add(resource);
            }

            return true;
        }
    }

    internal void Disown(ILoopResource resource)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_resource, resource))
            {
                _resource = null;
            }
            else
            {
                _moreResources?.Remove(resource);
            }
        }
    }

    internal AsyncHttpClient GetOrCreateShared()
    {
        lock (_gate)
        {
            if (_state == LoopState.Closed)
            {
                throw LoopMisuseException.LoopClosed(this, "AsyncHttpClient.Shared", _allocationSite);
            }

            return _shared ??= AsyncHttpClient.CreateShared(this);
        }
    }

    internal bool TryEnqueue(SendOrPostCallback callback, object? state, bool userCallback)
    {
        bool wake;
        lock (_gate)
        {
            if (_state == LoopState.Closed)
            {
                return false;
            }

            _ready.Enqueue((userCallback ? WrapUser(callback) : callback, state));
            wake = _sleeping;
            _sleeping = false;
        }

        if (wake)
        {
            _signal.Set();
        }

        return true;
    }

    private SendOrPostCallback WrapUser(SendOrPostCallback callback) => state =>
    {
        try
        {
            callback(state);
        }
        catch (Exception ex)
        {
            _callbackFault ??= ExceptionDispatchInfo.Capture(ex);
        }
    };

    private Action WakeAction => _wakeAction ??= Wake;

    private Action? _wakeAction;

    private void Wake()
    {
        bool wake;
        lock (_gate)
        {
            wake = _sleeping;
            _sleeping = false;
        }

        if (wake)
        {
            _signal.Set();
        }
    }

    /// <summary>Runs ready callbacks and due timers until <paramref name="until"/> holds (while the coroutine runs, also
    /// until a callback has faulted).</summary>
    private void Pump(PumpUntil until)
    {
        var stopOnFault = until == PumpUntil.MainDone;
        while (true)
        {
            (SendOrPostCallback Callback, object? State) item;
            while (true)
            {
                int wait;
                lock (_gate)
                {
                    _sleeping = false;
                    MoveDueTimers();
                    if (_ready.Count > 0)
                    {
                        item = _ready.Dequeue();
                        break;
                    }

                    if (until == PumpUntil.MainDone ? MainDone() : _closing!.IsCompleted)
                    {
                        return;
                    }

                    wait = Timeout.Infinite;
                    long due = 0;
                    if (_timers is not null && _timers.TryPeek(out _, out due))
                    {
                        var ms = (due - _time.GetTimestamp()) * 1000.0 / _time.TimestampFrequency;
                        wait = (int)Math.Clamp(Math.Ceiling(ms), 0, int.MaxValue);
                    }

                    if (wait != Timeout.Infinite && !ReferenceEquals(_time, TimeProvider.System))
                    {
                        // Another clock: it, not the wall clock, says when the earliest timer is due.
                        _wake ??= _time.CreateTimer(static s => ((EventLoop)s!).Wake(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                        _wake.Change(TimeSpan.FromMilliseconds(wait), Timeout.InfiniteTimeSpan);
                        wait = Timeout.Infinite;
                        if (due <= _time.GetTimestamp())
                        {
                            continue; // the clock moved before the wake timer was armed: it is already due
                        }
                    }

                    // Whoever queues work or changes what done() sees from now on sets the signal (after its own lock,
                    // so the woken pump does not block on the lock the waker still holds).
                    _signal.Reset();
                    _sleeping = true;
                }

                _signal.Wait(wait);
            }

            item.Callback(item.State);
            if (stopOnFault && _callbackFault is not null)
            {
                return;
            }
        }
    }

    private void MoveDueTimers()
    {
        if (_timers is not { Count: > 0 })
        {
            return;
        }

        var now = _time.GetTimestamp();
        while (_timers.TryPeek(out var timer, out var due) && due <= now)
        {
            _timers.Dequeue();
            if (!timer.Cancelled)
            {
                _ready.Enqueue((WrapUser(static s => ((LoopTimer)s!).Fire()), timer));
            }
        }
    }

    internal void RemoveTimer(LoopTimer timer)
    {
        lock (_gate)
        {
            _timers?.Remove(timer, out _, out _);
        }
    }

    /// <summary>
    /// Closes what the loop owns, in order: stop scheduling (drop timers), close owned clients (which fails their
    /// in-flight fetches and closes their sockets), keep pumping until those closes finish, then refuse new work.
    /// Continuations that arrive after that run on the thread pool, so orphaned <c>finally</c> blocks still run.
    /// </summary>
    private void Shutdown()
    {
        // Usually one resource (the client created in the loop): no array, list or WhenAll for it.
        ILoopResource? single = null;
        ILoopResource[]? several = null;
        lock (_gate)
        {
            _state = LoopState.Closing;
            DropTimers();
            if (_moreResources is not { Count: > 0 })
            {
                single = _resource;
            }
            else
            {
                several = _resource is null ? _moreResources.ToArray() : [_resource, .. _moreResources];
            }

            _resource = null;
            _moreResources = null;
        }

        Task all;
        if (several is null)
        {
            all = single is null ? Task.CompletedTask : CloseResource(single);
        }
        else
        {
            var closing = new Task[several.Length];
            for (var i = 0; i < several.Length; i++)
            {
                closing[i] = CloseResource(several[i]);
            }

            all = Task.WhenAll(closing);
        }

        // Closes are synchronous today (every socket is closed when they return): a completed task needs no wake, and
        // registering on it would queue the wake to the thread pool.
        if (!all.IsCompleted)
        {
            all.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(WakeAction);
        }

        _closing = all;
        Pump(PumpUntil.ClosesDone);
        _closing = null;
        _main = null;

        lock (_gate)
        {
            _state = LoopState.Closed;
            DropTimers();
            _wake?.Dispose();
            _wake = null;
            while (_ready.TryDequeue(out var orphan))
            {
                ThreadPool.UnsafeQueueUserWorkItem(static s => s.Callback(s.State), orphan, preferLocal: false);
            }
        }

        t_readyCache = _ready;
        t_signalCache = _signal;

        // Closing owned resources never throws into the caller: failures there are reported by the resources'
        // own diagnostics; the loop must still end.
        _ = all.Exception;
    }

    /// <summary>Cancels and forgets every scheduled timer (under <see cref="_gate"/>).</summary>
    private void DropTimers()
    {
        if (_timers is not { Count: > 0 })
        {
            return;
        }

        foreach (var (timer, _) in _timers.UnorderedItems)
        {
            timer.Cancelled = true;
        }

        _timers.Clear();
    }

    private Task CloseResource(ILoopResource resource)
    {
        try
        {
            return resource.CloseFromLoopAsync(this);
        }
        catch (Exception ex)
        {
            return Task.FromException(ex);
        }
    }

    /// <summary>The coroutine is done, the caller's token stopped the loop, or a callback faulted.</summary>
    private bool MainDone() => _main!.IsCompleted || _stop.IsCancellationRequested || _callbackFault is not null;

    /// <summary>What <see cref="Pump"/> runs until (a state, not a closure: a loop per call pumps twice per call).</summary>
    private enum PumpUntil
    {
        MainDone,
        ClosesDone,
    }

    private enum LoopState
    {
        Running,
        Closing,
        Closed,
    }
}
