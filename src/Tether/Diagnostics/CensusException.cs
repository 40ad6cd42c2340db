namespace Tether.Diagnostics;

/// <summary>
/// Thrown by <see cref="SocketCensus"/> when a process's fds cannot be read. The message names the PID,
/// what failed and what to do; <see cref="Reason"/> lets callers (the <c>tether</c> CLI) pick an exit code.
/// </summary>
public sealed class CensusException : Exception
{
    /// <summary>Initializes a new instance with the failing PID, the reason and a message.</summary>
    /// <param name="pid">The PID whose census failed.</param>
    /// <param name="reason">Why it failed.</param>
    /// <param name="message">An actionable message naming the PID.</param>
    /// <param name="innerException">The I/O error that caused it, if any.</param>
    public CensusException(int pid, CensusErrorReason reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Pid = pid;
        Reason = reason;
    }

    /// <summary>Gets the PID whose census failed.</summary>
    public int Pid { get; }

    /// <summary>Gets why the census failed.</summary>
    public CensusErrorReason Reason { get; }

    internal static CensusException NotFound(int pid, Exception? inner) => new(
        pid,
        CensusErrorReason.ProcessNotFound,
        $"Process {pid} not found: /proc/{pid} does not exist. Is the process still running? Check with `ps -p {pid}`.",
        inner);

    internal static CensusException Exited(int pid, string detail) => new(
        pid,
        CensusErrorReason.ProcessNotFound,
        $"Process {pid} has exited: {detail}, and a dead process has no fds to count. Check with `ps -o pid,stat,ppid -p {pid}`; "
        + "take the census while the process runs.");

    internal static CensusException Denied(int pid, string path, Exception? inner) => new(
        pid,
        CensusErrorReason.AccessDenied,
        $"Cannot read {path} of process {pid} ({inner?.Message ?? "access denied"}). Run as the same user as process {pid} or as root.",
        inner);

    internal static CensusException LinksDenied(int pid, string path, Exception? inner) => new(
        pid,
        CensusErrorReason.AccessDenied,
        $"Cannot read the fd links of process {pid} ({path}: permission denied): listing /proc/{pid}/fd "
        + "is allowed but reading its links needs ptrace access to the process, which this user lacks (another user's "
        + "process, or root without CAP_SYS_PTRACE as in a default container). Run as the process's user: "
        + $"`sudo -u \"$(ps -o user= -p {pid})\" tether census --pid {pid}`, or grant CAP_SYS_PTRACE "
        + "(docker run --cap-add SYS_PTRACE).",
        inner);

    internal static CensusException Unavailable(int pid, string detail, Exception? inner = null) => new(
        pid,
        CensusErrorReason.ProcUnavailable,
        $"Cannot take a socket census of process {pid}: {detail}. The census reads procfs and needs Linux with /proc mounted.",
        inner);
}
