namespace Tether.Diagnostics;

/// <summary>Why a census could not be taken; carried by <see cref="CensusException.Reason"/>.</summary>
public enum CensusErrorReason
{
    /// <summary>There is no <c>/proc/&lt;pid&gt;</c>: the process has exited or never existed.</summary>
    ProcessNotFound,

    /// <summary>
    /// <c>/proc/&lt;pid&gt;/fd</c>, its links or its <c>net</c> tables exist but cannot be read by this user (another
    /// user's process; or root without CAP_SYS_PTRACE, which may list the fds but not read their links).
    /// </summary>
    AccessDenied,

    /// <summary>There is no procfs here: not Linux, or <c>/proc</c> is not mounted.</summary>
    ProcUnavailable,
}
