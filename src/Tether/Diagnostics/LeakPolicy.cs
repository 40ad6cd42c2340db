namespace Tether.Diagnostics;

/// <summary>What Tether does when it detects a leak or a misuse (see <see cref="TetherDiagnostics.Policy"/>).</summary>
public enum LeakPolicy
{
    /// <summary>Log one deduplicated warning (ILogger or stderr), raise a diagnostic event and count it. Default.</summary>
    Warn,

    /// <summary>Throw <see cref="LeakException"/> instead, so a test suite fails on it. Leaks found by a finalizer
    /// (which must not throw) are thrown by the next <c>new AsyncHttpClient()</c> or
    /// <see cref="TetherDiagnostics.ThrowIfLeaked"/>.</summary>
    Strict,

    /// <summary>Only count it in the <c>tether.leaks.detected</c> metric; no log, no event, no exception. The
    /// resources are still closed.</summary>
    Off,
}
