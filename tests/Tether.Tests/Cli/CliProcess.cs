using System.Diagnostics;

namespace Tether.Tests.Cli;

/// <summary>Runs the built tether CLI (Tether.Cli.dll next to the tests) as a real child process.</summary>
internal static class CliProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "Tether.Cli.dll");

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
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("tether did not exit within 60 s");
        }

        copy.Wait(10_000);
        return (p.ExitCode, stdout.ToArray(), err.Result);
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
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("script did not exit within 60 s");
        }

        return (p.ExitCode, output.Result);
    }
}
