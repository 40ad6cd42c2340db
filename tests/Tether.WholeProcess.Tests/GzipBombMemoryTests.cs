using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;
using static Tether.Tests.Fault.HostileAssert;

namespace Tether.Tests.Sec;

/// <summary>SEC-09: a gzip bomb fails "body too large" with allocation below twice the limit. Process alone, as
/// FAULT-07's <c>HeaderMemoryTests</c>: the allocation is measured with the process-wide
/// <c>GC.GetTotalAllocatedBytes</c> (a fetch's work hops threads, so a per-thread count would miss it), which in the
/// parallel assembly also counted what the tests beside it allocated (one run under load saw 8.4 MB against the 8 MB
/// bound).</summary>
[Collection(CensusCollection.Name)]
public sealed class GzipBombMemoryTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    /// <summary>Upper bound for the failure: well under a second unloaded, while a hang would last the client's request
    /// timeout; 3 s is the margin for a loaded 2-core machine (as SecurityTests).</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(3);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    [Trait("Spec", "SEC-09")]
    public async Task SEC_09_gzip_bomb_fails_body_too_large_with_allocation_below_twice_the_limit()
    {
        const long limit = 4 * 1024 * 1024;
        await using var hostile = HostileServer.Start(HostileBehavior.GzipBomb, new HostileServerOptions { GzipBombInflatedSize = 256L << 20 });
        await using (var warm = HostileServer.Start(HostileBehavior.GzipBomb, new HostileServerOptions { GzipBombInflatedSize = 256L << 20 }))
        {
            // Builds (and caches) the bomb outside the measurement.
            await using var probe = NewClient();
            await Assert.ThrowsAsync<FetchException>(() => probe.FetchAsync(new FetchRequest(warm.Url()) { MaxBodySize = 1024 }, Ct));
        }

        var check = LeakCheck.Start(server, hostile.Port);
        await using (var client = NewClient())
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            var error = await Fails599("SEC-09", client, new FetchRequest(hostile.Url()) { MaxBodySize = limit }, FetchErrorKind.BodyTooLarge, Bound);
            var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            Measure("SEC-09", $"256 MiB bomb, MaxBodySize {limit}: {allocated} bytes allocated ({(double)allocated / limit:F2}× the limit)");
            Assert.Contains($"MaxBodySize = {limit}", error.Message, StringComparison.Ordinal);
            Assert.True(allocated < 2 * limit, $"allocated {allocated} bytes, limit {limit}");
        }

        await check.AssertCleanAsync();
    }
}
