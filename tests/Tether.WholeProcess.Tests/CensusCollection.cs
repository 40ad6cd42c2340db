using Xunit;
namespace Tether.Tests.Support;

/// <summary>
/// The one non-parallel collection (issue 13): tests that need the process alone, one test at a time. They are in their
/// own test assembly (this project), which `dotnet test` runs in a process of its own beside Tether.Tests, so they
/// neither share a process with a parallel test nor wait for the parallel tests to end. Each class in it says why it
/// needs the process alone (a whole-process count of fds or threads, or process-global settings such as the leak
/// logger and policy).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CensusCollection
{
    public const string Name = "process alone (not parallel)";
}
