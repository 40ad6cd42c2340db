namespace Tether.Analyzers.Tests;

public class SmokeTests
{
    [Fact]
    public async Task Stubs_compile_and_nothing_is_reported_for_empty_code()
    {
        await Verify.AllAnalyzersAsync("""
            using Tether;
            class C { }
            """);
    }
}
