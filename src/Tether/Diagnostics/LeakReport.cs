namespace Tether.Diagnostics;

/// <summary>The payload of the <c>Tether.Leak</c> diagnostic event (<see cref="TetherDiagnostics.ListenerName"/>):
/// one deduplicated warning.</summary>
/// <param name="Kind">What leaked.</param>
/// <param name="TypeName">The type of the leaked object, e.g. <c>AsyncHttpClient</c>.</param>
/// <param name="AllocationSite">Where it was created.</param>
/// <param name="Count">How many leaks from this site and kind this warning covers.</param>
/// <param name="Total">How many from this site and kind since the process started.</param>
/// <param name="Message">The warning text.</param>
public sealed record LeakReport(LeakKind Kind, string TypeName, string AllocationSite, long Count, long Total, string Message);
