using System.CommandLine;
using System.Reflection;
using Tether.Cli.Commands;
using Tether.Cli.Soak;

namespace Tether.Cli;

/// <summary>Builds the <c>tether</c> root command with every subcommand; Program.cs and the tests share it.</summary>
public static class TetherCli
{
    /// <summary>Gets the Tether library version (informational version of Tether.dll, without the source-revision suffix).</summary>
    public static string LibraryVersion
    {
        get
        {
            Assembly library = typeof(AsyncHttpClient).Assembly;
            string? version = library.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
            version ??= library.GetName().Version?.ToString(3) ?? "unknown";
            int plus = version.IndexOf('+', StringComparison.Ordinal);
            return plus >= 0 ? version[..plus] : version;
        }
    }

    /// <summary>Creates the root command.</summary>
    /// <param name="fetchIo">The streams <c>fetch</c> uses (default: the console).</param>
    /// <returns>The root command.</returns>
    public static RootCommand CreateRoot(FetchIo? fetchIo = null)
    {
        var root = new RootCommand("tether: an HTTP client that owns its sockets, and the tools to prove it.");
        root.WithEpilog(
            "Examples:\n"
            + "  tether fetch -v http://127.0.0.1:8080/hello\n"
            + "  tether soak --iterations 1000 --report ./soak-report\n"
            + "  tether census --pid 1234 --json\n"
            + "  tether watch --pid 1234 --duration 60 --fail-on-growth 10\n\n"
            + "Durations: a bare number is seconds; 500ms, 2s, 1m, 1h also work.\n"
            + "Shell completion: install dotnet-suggest (dotnet tool install -g dotnet-suggest) and register "
            + "its shim; tether answers the [suggest] directive.");
        foreach (Command command in new[] { FetchCommand.Create(fetchIo), SoakCommand.Create(), CensusCommand.Create(), WatchCommand.Create() })
        {
            root.Subcommands.Add(command);
        }

        // Replace the default --version (which prints the CLI assembly's version) with the library version.
        foreach (Option option in root.Options)
        {
            if (option is VersionOption version)
            {
                version.Action = new PrintVersion();
            }
        }

        return root;
    }

    private sealed class PrintVersion : System.CommandLine.Invocation.SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(LibraryVersion);
            return ExitCodes.Ok;
        }
    }
}
