using Xunit;
namespace Tether.Tests.Support;

/// <summary>
/// The tests that use <see cref="ConnectionPool.Process"/>, the one process-wide pool: one after another, in parallel
/// with everything else. LOOP-08/POOL-11 counts the connections 1,000 loops make through it (exactly one), and the
/// HttpClient bridge tests close its idle connections when they end; run side by side, a bridge test's
/// <c>CloseIdleConnections</c> closed the seed test's connection mid-run (stress run: 2 accepted connections, not 1).
/// </summary>
[CollectionDefinition(Name)]
public sealed class ProcessPoolCollection
{
    public const string Name = "ConnectionPool.Process users";
}
