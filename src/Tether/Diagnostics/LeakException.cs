namespace Tether.Diagnostics;

/// <summary>A leak or misuse reported under <see cref="LeakPolicy.Strict"/>: the message is the warning that
/// <see cref="LeakPolicy.Warn"/> would have logged (type, allocation site and fix).</summary>
public sealed class LeakException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="kind">What leaked.</param>
    /// <param name="allocationSite">Where the leaked object was created.</param>
    /// <param name="message">The full warning text.</param>
    public LeakException(LeakKind kind, string allocationSite, string message)
        : base(message)
    {
        Kind = kind;
        AllocationSite = allocationSite;
    }

    /// <summary>What leaked.</summary>
    public LeakKind Kind { get; }

    /// <summary>Where the leaked object was created (the user's method and line, or a stack trace with
    /// <see cref="CallSite.FullStackTraces"/>).</summary>
    public string AllocationSite { get; }
}
