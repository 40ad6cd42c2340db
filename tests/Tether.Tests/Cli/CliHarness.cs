using System.CommandLine;
using System.Text;
using Tether.Cli;
using Tether.Cli.Commands;
using Tether.Cli.Soak;

namespace Tether.Tests.Cli;

/// <summary>Runs the tether commands in process with stdout and stderr captured.</summary>
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

    /// <summary>Runs the real root command (all subcommands); fetch writes its body bytes to a memory stream.</summary>
    public static (int Code, string Out, string Err, byte[] Body) RunTether(string[] args, byte[]? stdin = null)
    {
        var body = new MemoryStream();
        var io = new FetchIo
        {
            OpenStdin = () => new MemoryStream(stdin ?? []),
            OpenStdout = () => body,
            StdoutIsTerminal = () => false,
            StderrIsTerminal = () => false,
        };
        var root = TetherCli.CreateRoot(io);

        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = CliSupport.Run(root, args, output, error);
        return (code, output.ToString(), error.ToString(), body.ToArray());
    }

    /// <summary>The request headers the test server's <c>/echo/headers</c> received, from a run that must have
    /// succeeded (names case-insensitive; every value of each).</summary>
    public static Dictionary<string, string[]> Received((int Code, string Out, string Err, byte[] Body) run)
    {
        Xunit.Assert.True(run.Code == ExitCodes.Ok, $"exit {run.Code}: {run.Err}");
        return System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string[]>>(run.Body)!
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase);
    }

    public static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    public static string[] Lines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
