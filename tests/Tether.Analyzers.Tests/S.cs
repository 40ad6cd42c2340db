namespace Tether.Analyzers.Tests; public class S { [Xunit.Fact] public void B() => Xunit.Assert.True(true); }
