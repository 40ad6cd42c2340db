using Xunit;
namespace Tether.Tests.Support;

/// <summary>
/// The one non-parallel collection (issue 13): tests that need the process alone. xunit runs it after the parallel
/// collections, one test at a time. Each class in it says why it needs the process alone (a whole-process count of
/// fds or threads, or process-global settings such as the leak logger and policy). Everything else runs in parallel.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CensusCollection
{
    public const string Name = "process alone (not parallel)";
}
