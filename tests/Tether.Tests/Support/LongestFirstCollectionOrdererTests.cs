using System.Reflection;
using Xunit;

namespace Tether.Tests.Support;

/// <summary>The test-run orderer's own checks (issue 13): it names only classes that exist and hold tests, so a renamed
/// class is noticed instead of silently losing its early start.</summary>
public sealed class LongestFirstCollectionOrdererTests
{
    [Fact]
    public void Orderer_lists_only_collections_that_exist()
    {
        var assembly = typeof(LongestFirstCollectionOrderer).Assembly;
        var missing = LongestFirstCollectionOrderer.Longest
            .Where(name => assembly.GetType(name) is not { } type
                || !type.GetMethods().Any(m => m.GetCustomAttributes<FactAttribute>(inherit: true).Any()))
            .ToList();
        Assert.True(missing.Count == 0, "not a test class of Tether.Tests: " + string.Join(", ", missing));
        Assert.Equal(LongestFirstCollectionOrderer.Longest.Length, LongestFirstCollectionOrderer.Longest.Distinct().Count());
    }

    [Fact]
    public void Orderer_is_the_assemblys_collection_orderer()
    {
        var attribute = typeof(LongestFirstCollectionOrderer).Assembly.GetCustomAttribute<TestCollectionOrdererAttribute>();
        Assert.Equal(typeof(LongestFirstCollectionOrderer), attribute?.OrdererType);
    }
}
