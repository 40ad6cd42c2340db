namespace Tether.Cli;

/// <summary>
/// The exit codes of every <c>tether</c> command. The table is printed in each command's help
/// (<see cref="HelpTable"/>) so scripts can rely on it. <c>fetch</c> uses curl's numbers where curl has one for the
/// same failure (7, 22, 28, 35, 60, 63), so a script written for curl reads the same code.
/// </summary>
public static class ExitCodes
{
    /// <summary>Success; for <c>watch</c>, no growth above the limit.</summary>
    public const int Ok = 0;

    /// <summary>The server answered with an HTTP error status (fetch without <c>-f</c>; curl exits 0 there).</summary>
    public const int HttpError = 1;

    /// <summary>Bad command line: unknown flag, bad value, missing required option, unusable <c>-o</c>/<c>--report</c> path.</summary>
    public const int Usage = 2;

    /// <summary>Growth detected: the fd slope exceeded <c>--fail-on-growth</c> (or a soak found a leak).</summary>
    public const int GrowthDetected = 3;

    /// <summary>
    /// Any other transport error: no HTTP response (reset, closed, protocol error, name resolution, too many redirects…),
    /// a body that could not be written (a full disk, or stdout closed: a broken pipe), or a soak report that could not be written.
    /// </summary>
    public const int TransportError = 4;

    /// <summary>The PID given to <c>census</c>/<c>watch</c> is not a running process.</summary>
    public const int ProcessNotFound = 5;

    /// <summary>
    /// <c>/proc/&lt;pid&gt;</c> cannot be read: the fd directory or its links are denied (another user's process, or no
    /// CAP_SYS_PTRACE), or there is no procfs (not Linux).
    /// </summary>
    public const int ProcUnreadable = 6;

    /// <summary>fetch: the connection was refused or could not be made (curl 7).</summary>
    public const int ConnectFailed = 7;

    /// <summary>fetch with <c>-f/--fail</c>: the server answered 400 or above; the body is not written (curl 22).</summary>
    public const int HttpErrorFail = 22;

    /// <summary>fetch: a timeout (<c>--max-time</c>, <c>--connect-timeout</c>, the pool queue) ended the transfer (curl 28).</summary>
    public const int Timeout = 28;

    /// <summary>fetch: the TLS handshake failed (curl 35).</summary>
    public const int TlsHandshake = 35;

    /// <summary>fetch: the server's certificate was not trusted; use <c>--cacert FILE</c> or <c>-k</c> (curl 60).</summary>
    public const int TlsCertificate = 60;

    /// <summary>fetch: the body is larger than <c>--max-filesize</c>, or a decoded body tripped the decompression-bomb
    /// guard (curl 63).</summary>
    public const int FileTooLarge = 63;

    /// <summary>Interrupted by Ctrl-C (SIGINT, 128 + 2), after printing what was gathered.</summary>
    public const int Interrupted = 130;

    /// <summary>The exit code table, printed once at the end of each command's help.</summary>
    public const string HelpTable =
        "Exit codes: 0 ok, 1 HTTP error, 2 usage error, 3 growth detected, 4 transport error, "
        + "5 process not found, 6 /proc unreadable (permission, or not Linux), 7 connect failed, "
        + "22 HTTP error with -f, 28 timeout, 35 TLS handshake, 60 certificate not trusted, 63 body over --max-filesize, 130 interrupted (Ctrl-C).";
}
