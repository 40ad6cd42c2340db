using System.CommandLine;
using Tether.Cli.Commands;

namespace Tether.Tests.Cli;

/// <summary>Runs the census commands in process with stdout and stderr captured.</summary>
internal static class CliHarness
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var root = new RootCommand("test root") { CensusCommand.Create(), WatchCommand.Create() };
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = CliSupport.Run(root, args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    public static string[] Lines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
