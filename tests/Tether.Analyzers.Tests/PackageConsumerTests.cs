using System.Diagnostics;

namespace Tether.Analyzers.Tests;

/// <summary>
/// End to end: pack Tether, build samples/AnalyzerConsumer against that package, and see the
/// analyzers report. Runs samples/AnalyzerConsumer/verify.sh (bash, unzip and the dotnet SDK).
/// </summary>
public class PackageConsumerTests
{
    [Fact]
    public async Task Consumer_project_picks_up_the_analyzers_from_the_Tether_package()
    {
        var repo = FindRepoRoot();
        var script = Path.Combine(repo, "samples", "AnalyzerConsumer", "verify.sh");
        Assert.True(File.Exists(script), script);

        var start = new ProcessStartInfo("bash", [script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = repo,
        };
        // The test host's MSBuild variables would point the nested build at the wrong SDK pieces.
        foreach (var name in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH" })
        {
            start.Environment.Remove(name);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(5)); // a hang guard for the nested pack, restore and build, spent only when it hangs
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, output);
        Assert.Contains("warning TETHER001", output, StringComparison.Ordinal);
        Assert.Contains("OK: the consumer project picked up the Tether analyzers", output, StringComparison.Ordinal);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Tether.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Tether.slnx not found above " + AppContext.BaseDirectory);
    }
}
