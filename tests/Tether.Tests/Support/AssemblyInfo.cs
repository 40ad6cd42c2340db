using Xunit;

// Lifecycle tests assert exact fd and socket counts of this process; a test running beside them would open and close
// fds of its own. The whole assembly therefore runs one test at a time (2 cores: little is lost).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
[assembly: AssemblyFixture(typeof(Tether.Tests.Support.ServerFixture))]
