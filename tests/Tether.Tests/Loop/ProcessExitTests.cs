using System.Diagnostics;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Loop;

public sealed class ProcessExitTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    [Trait("Spec", "LOOP-23")]
    public async Task LOOP_23_a_process_that_never_closes_its_clients_exits_0_and_silently()
    {
        // Run the probe from its own output folder (…/tests/Tether.ExitProbe/bin/<configuration>/net10.0), with its
        // own deps and runtimeconfig: the test folder resolves some assemblies from the ASP.NET shared framework.
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = testBin.Parent!.Name;
        var tests = testBin.Parent.Parent!.Parent!.Parent!.FullName;
        var probe = Path.Combine(tests, "Tether.ExitProbe", "bin", configuration, testBin.Name, "Tether.ExitProbe.dll");
        Assert.True(File.Exists(probe), $"missing {probe}");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { probe, server.Url("/hello").ToString() },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        // A hang guard, spent only when the probe hangs: it starts, runs its short scenario and exits in seconds
        // unloaded; 60 s is the margin for a loaded 2-core machine.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        var output = (await stdout).Trim();
        var errors = await stderr;
        Assert.True(output == "ok 200", $"stdout: {output}; stderr: {errors}");
        Assert.Equal(string.Empty, errors);
        Assert.Equal(0, process.ExitCode);
    }
}
