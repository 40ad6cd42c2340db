namespace Tether.Cli;

/// <summary>
/// The exit codes of every <c>tether</c> command. The table is printed in each command's help
/// (<see cref="HelpTable"/>) so scripts can rely on it.
/// </summary>
public static class ExitCodes
{
    /// <summary>Success; for <c>watch</c>, no growth above the limit.</summary>
    public const int Ok = 0;

    /// <summary>The server answered with an HTTP error status (fetch commands).</summary>
    public const int HttpError = 1;

    /// <summary>Bad command line: unknown flag, bad value, missing required option.</summary>
    public const int Usage = 2;

    /// <summary>Growth detected: the fd slope exceeded <c>--fail-on-growth</c> (or a soak found a leak).</summary>
    public const int GrowthDetected = 3;

    /// <summary>Transport error: no HTTP response (refused, reset, timeout, TLS…).</summary>
    public const int TransportError = 4;

    /// <summary>The PID given to <c>census</c>/<c>watch</c> is not a running process.</summary>
    public const int ProcessNotFound = 5;

    /// <summary><c>/proc/&lt;pid&gt;</c> is unreadable (another user's process) or there is no procfs (not Linux).</summary>
    public const int ProcUnreadable = 6;

    /// <summary>The exit code table, for command descriptions.</summary>
    public const string HelpTable =
        "Exit codes: 0 ok, 1 HTTP error, 2 usage error, 3 growth detected, 4 transport error, "
        + "5 process not found, 6 /proc unreadable (permission, or not Linux).";
}
