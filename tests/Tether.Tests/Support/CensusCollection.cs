using Xunit;
namespace Tether.Tests.Support;

/// <summary>
/// Tests that compare exact fd counts of this process run alone: any test running in parallel opens
/// and closes fds and would make exact equalities flaky.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CensusCollection
{
    public const string Name = "census (exact fd counts, not parallel)";
}
