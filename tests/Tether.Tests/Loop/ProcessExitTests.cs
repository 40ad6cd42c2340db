using System.Diagnostics;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Loop;

public sealed class ProcessExitTests(ServerFixture server)
{
    [Fact]
    [Trait("Spec", "LOOP-23")]
    public async Task LOOP_23_a_process_that_never_closes_its_clients_exits_0_and_silently()
    {
        var probe = Path.Combine(AppContext.BaseDirectory, "Tether.ExitProbe.dll");
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

        Assert.Equal("ok 200", (await stdout).Trim());
        Assert.Equal(string.Empty, await stderr);
        Assert.Equal(0, process.ExitCode);
    }
}
