namespace Tether.Diagnostics;

/// <summary>Why a census could not be taken; carried by <see cref="CensusException.Reason"/>.</summary>
public enum CensusErrorReason
{
    /// <summary>There is no <c>/proc/&lt;pid&gt;</c>: the process has exited or never existed.</summary>
    ProcessNotFound,

    /// <summary><c>/proc/&lt;pid&gt;/fd</c> or its <c>net</c> tables exist but cannot be read by this user.</summary>
    AccessDenied,

    /// <summary>There is no procfs here: not Linux, or <c>/proc</c> is not mounted.</summary>
    ProcUnavailable,
}
