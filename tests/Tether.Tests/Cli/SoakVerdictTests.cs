using Tether.Cli.Soak;
using Xunit;

namespace Tether.Tests.Cli;

/// <summary>CLI-06: the soak's flat/grows verdict. A runtime assembly mapped after the baseline (once per process,
/// lazily: seen in a stress run as System.Linq.Expressions.dll under the never-closed pattern) is not a leak; any other
/// new fd is.</summary>
public sealed class SoakVerdictTests
{
    private static SoakResult Result(int endFds, params string[] newFiles) => new()
    {
        Pattern = SoakPatterns.All[0],
        Iterations = 200,
        Errors = 0,
        Seconds = 1,
        Samples = [Sample(0, 304), Sample(200, endFds)],
        NewFiles = newFiles,
    };

    private static SoakSample Sample(int iteration, int fds) => new(iteration, fds, 3, 0, 0, 0, 1, 1, 0, 16, fds - 24, 0);

    [Fact]
    [Trait("Spec", "CLI-06")]
    public void CLI_06_a_runtime_assembly_mapped_after_the_baseline_is_not_growth()
    {
        var result = Result(306, "/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.12/System.Linq.Expressions.dll", "/usr/lib/x86_64-linux-gnu/libz.so");
        Assert.Equal(2, result.RuntimeFilesAdded);
        Assert.True(result.IsFlat);
        Assert.Equal("flat", result.Verdict);
    }

    [Fact]
    [Trait("Spec", "CLI-06")]
    public void CLI_06_any_other_new_fd_is_growth()
    {
        Assert.Equal("grows", Result(306, "/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.12/System.Linq.Expressions.dll", "/tmp/leaked.log").Verdict);
        Assert.Equal("grows", Result(305).Verdict); // a socket or pipe: no file to explain it
        Assert.Equal("flat", Result(304).Verdict);
    }
}
