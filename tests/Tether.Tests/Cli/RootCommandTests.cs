using System.Diagnostics;
using System.Reflection;
using Tether.Cli;
using Xunit;

namespace Tether.Tests.Cli;

public sealed class RootCommandTests
{
    // CLI-12
    [Theory]
    [Trait("Spec", "CLI-12")]
    [InlineData]
    [InlineData("fetch")]
    [InlineData("soak")]
    [InlineData("census")]
    [InlineData("watch")]
    public void CLI12_help_shows_usage_with_examples(params string[] command)
    {
        var (code, output, err, _) = CliHarness.RunTether([.. command, "--help"]);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(string.Empty, err);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        Assert.Contains("Examples:", output, StringComparison.Ordinal);
        Assert.Contains("Usage:\n  tether " + (command.Length > 0 ? command[0] + " " : "[command]"), output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("Exit codes: 0 ok, 1 HTTP error, 2 usage error", output, StringComparison.Ordinal);
    }

    // CLI-12
    [Fact]
    [Trait("Spec", "CLI-12")]
    public void CLI12_version_prints_the_library_version()
    {
        string expected = typeof(AsyncHttpClient).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        var (code, output, _, _) = CliHarness.RunTether(["--version"]);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(expected, output.Trim());
        Assert.Equal(expected, TetherCli.LibraryVersion);
    }

    // CLI-12: dotnet pack, dotnet tool install from the local folder, run the installed `tether --version`.
    // Slow: measured 84 s on the shared 2-core machine (over the 60 s budget), so it runs only with TETHER_PACKAGING=1;
    // scripts/verify-tool.sh does the same from a shell.
    [Fact]
    [Trait("Spec", "CLI-12")]
    [Trait("Category", "Packaging")]
    public void CLI12_package_installs_as_a_dotnet_tool_and_prints_the_version()
    {
        Assert.SkipUnless(
            Environment.GetEnvironmentVariable("TETHER_PACKAGING") == "1",
            "dotnet pack + tool install takes 60-90 s on 2 shared cores; set TETHER_PACKAGING=1 or run scripts/verify-tool.sh.");
        string root = FindRepoRoot();
        string work = Path.Combine(Path.GetTempPath(), $"tether-tool-{Guid.NewGuid():N}");
        try
        {
            string nupkg = Path.Combine(work, "nupkg"), tools = Path.Combine(work, "tools");
            Run("dotnet", ["pack", Path.Combine(root, "src", "Tether.Cli"), "-o", nupkg, "-p:PackageVersion=" + TetherCli.LibraryVersion]);
            Assert.Single(Directory.GetFiles(nupkg, "Tether.Cli.*.nupkg"));
            Run("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", nupkg, "Tether.Cli", "--version", TetherCli.LibraryVersion]);
            string output = Run(Path.Combine(tools, "tether"), ["--version"]);
            Assert.Equal(TetherCli.LibraryVersion, output.Trim());
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Tether.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Tether.slnx not found above " + AppContext.BaseDirectory);
    }

    private static string Run(string file, string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(180_000)) // a hang guard only, spent when the child hangs
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in 180 s");
        }

        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}\n{output.Result}\n{error.Result}");
        return output.Result;
    }
}
