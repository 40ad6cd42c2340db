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

    // A full CI-shaped run saw "inside" end at +2 fds (30 iterations) with one new file named: the runtime had mapped
    // System.Runtime.Intrinsics.dll through two fds (it holds some assemblies open twice), and the verdict counted the
    // path once.
    [Fact]
    [Trait("Spec", "CLI-06")]
    public void CLI_06_a_runtime_assembly_held_through_two_new_fds_counts_as_two_runtime_fds()
    {
        const string Intrinsics = "/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.12/System.Runtime.Intrinsics.dll";
        string[] added = [.. SoakRunner.AddedSince(["/dev/null", "/tmp/a.dll"], ["/dev/null", Intrinsics, "/tmp/a.dll", Intrinsics])];
        Assert.Equal([Intrinsics, Intrinsics], added);
        Assert.Equal(["/tmp/a.dll"], SoakRunner.AddedSince(["/tmp/a.dll"], ["/tmp/a.dll", "/tmp/a.dll"]));
        Assert.Empty(SoakRunner.AddedSince(["/tmp/a.dll", "/tmp/a.dll"], ["/tmp/a.dll"]));

        var result = Result(306, added);
        Assert.Equal(2, result.RuntimeFilesAdded);
        Assert.Equal("flat", result.Verdict);
        Assert.Equal("grows", Result(307, added).Verdict); // a third fd with no file to explain it
    }

    [Fact]
    [Trait("Spec", "CLI-06")]
    public void CLI_06_any_other_new_fd_is_growth()
    {
        Assert.Equal("grows", Result(306, "/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.12/System.Linq.Expressions.dll", "/tmp/leaked.log").Verdict);
        Assert.Equal("grows", Result(305).Verdict); // a socket or pipe: no file to explain it
        Assert.Equal("flat", Result(304).Verdict);
    }

    // A stress run of CLI-08 (two CPU hogs beside the suite) saw "inside" grow 101 -> 105 fds between iterations 0 and
    // 10 of 30, and not after: no socket, no file to name. Four fds once is the runtime, not the pattern.
    private static SoakResult Stepped(params (int Iteration, int Fds, int Sockets)[] samples) => new()
    {
        Pattern = SoakPatterns.All[0],
        Iterations = samples[^1].Iteration,
        Errors = 0,
        Seconds = 1,
        Samples = [.. samples.Select(s => new SoakSample(s.Iteration, s.Fds, s.Sockets, 0, 0, 0, 1, 1, 0, 16, 0, 0))],
    };

    [Fact]
    [Trait("Spec", "CLI-06")]
    public void CLI_06_non_socket_fds_added_once_and_not_in_the_second_half_are_flat()
    {
        var result = Stepped((0, 101, 3), (10, 105, 3), (20, 105, 3), (30, 105, 3));
        Assert.Equal(4, result.NonSocketGrowth);
        Assert.True(result.IsOneTimeStep);
        Assert.Equal("flat", result.Verdict);
    }

    [Fact]
    [Trait("Spec", "CLI-06")]
    public void CLI_06_fds_still_added_in_the_second_half_or_any_new_socket_is_growth()
    {
        // Tornado's leak: fds every iteration.
        Assert.Equal("grows", Stepped((0, 101, 3), (10, 131, 3), (20, 161, 3), (30, 191, 3)).Verdict);
        // A step, then one more fd after the midpoint sample.
        Assert.Equal("grows", Stepped((0, 101, 3), (10, 105, 3), (20, 105, 3), (30, 106, 3)).Verdict);
        // A socket more at the end, even with a pipe fewer: a socket is never a one-time step.
        Assert.Equal("grows", Stepped((0, 101, 3), (10, 101, 4), (20, 101, 4), (30, 101, 4)).Verdict);
        // No sample in the second half before the end: nothing tells a step from growth.
        Assert.Equal("grows", Stepped((0, 101, 3), (30, 105, 3)).Verdict);
    }
}
