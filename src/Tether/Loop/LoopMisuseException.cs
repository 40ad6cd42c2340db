namespace Tether;

/// <summary>What kind of scope misuse a <see cref="LoopMisuseException"/> reports.</summary>
public enum LoopMisuseKind
{
    /// <summary><see cref="EventLoop.Run(Func{Task}, CancellationToken, string, int, string)"/> was called on a thread already running a loop.</summary>
    NestedRun,

    /// <summary>A client owned by one running loop was used from another loop.</summary>
    CrossLoop,

    /// <summary>A client, response or loop was used after its owning loop had ended.</summary>
    LoopClosed,

    /// <summary>A loop-thread-only operation was called from another thread.</summary>
    WrongThread,

    /// <summary>A blocking call was made on a thread that is running a loop (it would deadlock).</summary>
    BlockingInLoop,

    /// <summary>A borrower tried to close a shared instance it does not own.</summary>
    SharedClose,
}

/// <summary>
/// Thrown when a loop, client or response is used outside the scope that owns it. The message names the loops, the
/// creation site, and the fix.
/// </summary>
public sealed class LoopMisuseException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="kind">What went wrong.</param>
    /// <param name="message">A message naming the scopes involved and the fix.</param>
    public LoopMisuseException(LoopMisuseKind kind, string message)
        : base(message)
    {
        Kind = kind;
    }

    /// <summary>What went wrong.</summary>
    public LoopMisuseKind Kind { get; }

    internal static LoopMisuseException NestedRun(EventLoop running) => new(
        LoopMisuseKind.NestedRun,
        $"EventLoop.Run was called on thread {running.ThreadId}, which is already running {running.Name} " +
        $"(started at {running.AllocationSite}). A loop cannot be nested: await the coroutine instead of " +
        "calling EventLoop.Run inside it.");

    internal static LoopMisuseException LoopClosed(EventLoop loop, string operation, string createdAt) => new(
        LoopMisuseKind.LoopClosed,
        $"{operation}: {loop.Name} has ended and closed everything it owned (the object was created at {createdAt}). " +
        "Create the client inside the EventLoop.Run that uses it, use AsyncHttpClient.Shared inside each loop, " +
        "or create it outside any loop and close it yourself.");

    internal static LoopMisuseException WrongThread(EventLoop loop, string operation) => new(
        LoopMisuseKind.WrongThread,
        $"{operation} must be called on the thread running {loop.Name} (thread {loop.ThreadId}), not on thread " +
        $"{Environment.CurrentManagedThreadId}. Use AddCallback to hop onto the loop first.");

    internal static LoopMisuseException CrossLoop(string what, EventLoop owner, EventLoop user, string createdAt) => new(
        LoopMisuseKind.CrossLoop,
        $"{what} is owned by {owner.Name} (created at {createdAt}) but was used from {user.Name}. " +
        "A loop-owned client belongs to one loop: create a client inside each loop, use AsyncHttpClient.Shared, " +
        "or create one client outside any loop and close it yourself.");

    internal static LoopMisuseException BlockingInLoop(EventLoop loop, string operation) => new(
        LoopMisuseKind.BlockingInLoop,
        $"{operation} blocks, but this thread is running {loop.Name}: the loop could never run the work it waits " +
        "for. Await AsyncHttpClient.FetchAsync instead.");

    /// <param name="what">The shared instance's name, e.g. <c>AsyncHttpClient.Shared(process)</c>.</param>
    /// <param name="ownInstead">How to make one the caller owns, e.g. <c>new AsyncHttpClient()</c>.</param>
    /// <param name="owner">The loop that closes it (a loop's <c>Shared</c>), or null for a process-wide instance,
    /// which nothing closes.</param>
    internal static LoopMisuseException SharedClose(string what, string ownInstead, EventLoop? owner) => new(
        LoopMisuseKind.SharedClose,
        $"{what} is shared: it is borrowed, not owned, and other code is using it. Do not close it; " +
        (owner is null
            ? "nothing closes it: it stays open as long as the process runs."
            : $"{owner.Name} closes it when its EventLoop.Run returns.") +
        $" Create your own with {ownInstead} if you need to close one.");
}
