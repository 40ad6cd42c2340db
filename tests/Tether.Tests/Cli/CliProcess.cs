using System.Diagnostics;

namespace Tether.Tests.Cli;

/// <summary>Runs the built tether CLI (Tether.Cli.dll next to the tests) as a real child process.</summary>
internal static class CliProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "Tether.Cli.dll");

    /// <summary>Tether.ExitProbe.dll in its own output folder (its own deps and runtimeconfig), built with this test
    /// project's configuration.</summary>
    public static string ExitProbeDll
    {
        get
        {
            var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var tests = testBin.Parent!.Parent!.Parent!.Parent!.FullName;
            return Path.Combine(tests, "Tether.ExitProbe", "bin", testBin.Parent.Name, testBin.Name, "Tether.ExitProbe.dll");
        }
    }

    /// <summary>Runs `dotnet Tether.Cli.dll args` with stdout and stderr piped (not terminals); bounded by 60 s.</summary>
    public static (int Code, byte[] Out, string Err) Run(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Dll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        using var stdout = new MemoryStream();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(stdout);
        var err = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) // a hang guard: one CLI command takes about a second unloaded
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("tether did not exit within 60 s");
        }

        copy.Wait(10_000);
        return (p.ExitCode, stdout.ToArray(), err.Result);
    }

    /// <summary>
    /// Runs `dotnet Tether.Cli.dll args` as a child process with stdout and stderr piped, for commands whose verdict
    /// judges the whole process's fds and sockets (`tether soak`): in the child, that process is the soak's alone, so
    /// neither this test host's runtime (tier-1 recompiles map assemblies) nor tests running beside it move the count
    /// (issue 13). Tiered compilation at its default, as in a user's shell. Bounded by <paramref name="timeout"/>, a
    /// hang guard only (a 100-iteration soak of every pattern takes a few seconds unloaded). <paramref name="environment"/>
    /// is applied in order: a value sets the variable in the child, null removes it.
    /// </summary>
    public static (int Code, string Out, string Err) RunChild(string[] args, TimeSpan timeout, string? dll = null,
        IEnumerable<KeyValuePair<string, string?>>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.Environment.Remove("DOTNET_TieredCompilation");
        foreach (var (name, value) in environment ?? [])
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        info.ArgumentList.Add(dll ?? Dll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var err = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(5_000);
            throw new TimeoutException($"dotnet {Path.GetFileName(dll ?? Dll)} {string.Join(' ', args)} did not exit within {timeout.TotalSeconds:0} s\nstdout:\n{(output.IsCompleted ? output.Result : "")}");
        }

        p.WaitForExit();
        return (p.ExitCode, output.Result, err.Result);
    }

    /// <summary>Runs a shell command line under `script`, which gives it a pseudo-terminal as stdout and stderr.</summary>
    public static (int Code, string Transcript) RunOnTerminal(string commandLine)
    {
        var info = new ProcessStartInfo("script") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-qec", commandLine, "/dev/null" })
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["TERM"] = "xterm-256color";
        info.Environment["COLUMNS"] = "120";
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) // a hang guard: one CLI command takes about a second unloaded
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("script did not exit within 60 s");
        }

        return (p.ExitCode, output.Result);
    }
}
