using Xunit;
using Xunit.Sdk;
using Xunit.v3;

[assembly: TestCollectionOrderer(typeof(Tether.Tests.Support.LongestFirstCollectionOrderer))]

namespace Tether.Tests.Support;

/// <summary>
/// Starts the longest test collections first (issue 13, CI wall time). xunit runs a fixed number of collections at once
/// (xunit.runner.json, <c>maxParallelThreads</c>) and starts them in the orderer's order; by default that order is a
/// hash of each collection's id, so a collection that takes 15 s could start in the last seconds of the run and finish
/// alone while the other slots sat empty (a full run on 2 cores: the soak, ownership and security classes started
/// 85-100 s into a 112 s run). With the suite's CPU cut (OwnTcpSockets), the run is bound by these slots rather than
/// by the cores: a full run used 3.8 of its 4 slots on average and 1.25 of its 2 cores. Longest first, then the rest in xunit's default order, is the usual greedy schedule for
/// jobs of known length on a fixed number of workers: the short classes fill the gaps at the end. ("First" is as
/// close as xunit's scheduling allows: see <see cref="OrderTestCollections"/>.) Only the order
/// changes: no test is added, skipped or run differently, and a class missing from <see cref="Longest"/> runs after
/// them, as before.
/// </summary>
public sealed class LongestFirstCollectionOrderer : ITestCollectionOrderer
{
    /// <summary>The collections that took longest in a full run (wall time of each collection, 2 cores, suite in
    /// parallel), longest first: the soak, child-process, real-time timeout and read-until-close classes. A renamed
    /// class only falls back to the default order (<c>Orderer_lists_only_collections_that_exist</c> reports it).</summary>
    internal static readonly string[] Longest =
    [
        "Tether.Tests.Cli.SoakCommandTests",
        "Tether.Tests.Cli.TimeWaitAttributionTests",
        "Tether.Tests.Core.OwnershipByScopeTests",
        "Tether.Tests.Loop.ChildProcessLoop03ScenarioTests",
        "Tether.Tests.Conformance.FramingConformanceReadUntilCloseSecondTests",
        "Tether.Tests.Conformance.FramingConformanceReadUntilCloseFirstTests",
        "Tether.Tests.Loop.ChildProcessLoop01ScenarioTests",
        "Tether.Tests.Replay.Http2PingReplayTests",
        "Tether.Tests.Replay.Http2UploadStallReplayTests",
        "Tether.Tests.Cli.SoakHttp2Tests",
        "Tether.Tests.Cli.SoakGrowthVerdictTests",
        "Tether.Tests.Cli.WatchCommandTests",
        "Tether.Tests.Cli.SoakCloseModeAndHttp2Tests",
        "Tether.Tests.Loop.ChildProcessLoop02ScenarioTests",
        "Tether.Tests.Http.RedirectDeadlineTests",
        "Tether.Tests.Cli.CurlHabitsTests",
        "Tether.Tests.Http.BodyDeadlineTests",
        "Tether.Tests.Pool.PoolLifecycleTests",
        "Tether.Tests.Timeouts.TimeoutCancelAndLimitTests",
        "Tether.Tests.Timeouts.TimeoutTests",
        "Tether.Tests.Replay.PoolSlotReplayTests",
        "Tether.Tests.Replay.Http2ReplayTests",
        "Tether.Tests.Core.CoreNetHealthCheckTests",
        "Tether.Tests.Sec.SecurityTests",
        "Tether.Tests.Docs.DocSnippetTests",
        "Tether.Tests.Loop.ChildProcessLoop04ScenarioTests",
        "Tether.Tests.Loop.ChildProcessLoop05ScenarioTests",
    ];

    public IReadOnlyCollection<TTestCollection> OrderTestCollections<TTestCollection>(IReadOnlyCollection<TTestCollection> testCollections)
        where TTestCollection : ITestCollection
    {
        var byDefault = DefaultTestCollectionOrderer.Instance.OrderTestCollections(testCollections);
        var ranked = byDefault
            .Select((collection, index) => (Collection: collection, Index: index, Rank: Rank(collection)))
            .OrderBy(c => c.Rank)
            .ThenBy(c => c.Index)
            .ToList();

        // xunit queues one thread-pool task per collection, in this order, and each waits for a free slot. The thread
        // that queued them takes from its own queue's end (last in, first out), and the pool's other threads take from
        // the front: measured, the last collection of the list starts first and the rest start front to back. So the
        // longest goes last, and the other long ones lead the list in order.
        var longest = ranked.Where(c => c.Rank < Longest.Length).Select(c => c.Collection).ToList();
        var rest = ranked.Where(c => c.Rank >= Longest.Length).Select(c => c.Collection);
        return longest.Count == 0 ? [.. rest] : [.. longest.Skip(1), .. rest, longest[0]];
    }

    /// <summary>The class (or collection definition) name of a collection: xunit names a class's own collection
    /// "Test collection for {class} (id: {hash})".</summary>
    internal static string NameOf(ITestCollection collection)
    {
        var name = collection.TestCollectionDisplayName;
        const string prefix = "Test collection for ";
        if (name.StartsWith(prefix, StringComparison.Ordinal))
        {
            name = name[prefix.Length..];
        }

        var id = name.IndexOf(" (id: ", StringComparison.Ordinal);
        return id >= 0 ? name[..id] : name;
    }

    private static int Rank(ITestCollection collection)
    {
        var index = Array.IndexOf(Longest, NameOf(collection));
        return index >= 0 ? index : Longest.Length;
    }
}
