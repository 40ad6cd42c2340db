namespace Tether.Tests.Diagnostics;

/// <summary>Issue 16 review finding 3: call sites on the same line numbers as
/// <c>CallSiteNamesTests.SameLineNumberClient</c> and <c>SameLineNumberLoop</c>, in another file (the test checks that
/// the lines stay aligned).</summary>
internal static class CallSiteNamesOtherFile
{
    //
    // Padding so that the two methods below sit on lines 18 and 20, as their twins do in CallSiteNamesTests.cs.
    //
    //
    //
    //
    //
    //

    /// <summary>A client made on line 18 of this file.</summary>
    public static AsyncHttpClient Client() => new AsyncHttpClient();

    public static string Loop() => EventLoop.Run(() => Task.FromResult(EventLoop.Current!.AllocationSite));
}
