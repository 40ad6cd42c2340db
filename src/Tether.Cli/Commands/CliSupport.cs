using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Spectre.Console;
using Tether.Diagnostics;

namespace Tether.Cli.Commands;

/// <summary>Pieces shared by the commands: duration parsing, consoles, error reporting, invocation.</summary>
public static class CliSupport
{
    /// <summary>
    /// Parses and invokes <paramref name="root"/>. Parse errors print one line on <paramref name="error"/>
    /// and return <see cref="ExitCodes.Usage"/> (System.CommandLine's default would be 1, which is our
    /// HTTP-error code).
    /// </summary>
    /// <param name="root">The root command.</param>
    /// <param name="args">The arguments.</param>
    /// <param name="output">Standard output (defaults to the console).</param>
    /// <param name="error">Standard error (defaults to the console).</param>
    /// <returns>The exit code.</returns>
    public static int Run(RootCommand root, IReadOnlyList<string> args, TextWriter? output = null, TextWriter? error = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        // No response files: `-d @file` is curl's syntax for a body file, not a file of arguments.
        ParseResult parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        error ??= Console.Error;
        if (parsed.Errors.Count > 0)
        {
            string command = parsed.CommandResult.Command.Name;
            error.WriteLine($"tether: {parsed.Errors[0].Message} Run 'tether {command} --help' for usage.");
            return ExitCodes.Usage;
        }

        output ??= Console.Out;
        if (parsed.Action is System.CommandLine.Help.HelpAction)
        {
            // Help names the root after the entry assembly (Tether.Cli); the installed command is `tether`.
            using var help = new StringWriter();
            int helpCode = parsed.Invoke(new InvocationConfiguration { Output = help, Error = error });
            output.Write(help.ToString().Replace("  " + RootCommand.ExecutableName + " ", "  tether ", StringComparison.Ordinal)
                .Replace("  " + RootCommand.ExecutableName + Environment.NewLine, "  tether" + Environment.NewLine, StringComparison.Ordinal));
            return helpCode;
        }

        var config = new InvocationConfiguration
        {
            Output = output,
            Error = error,
        };
        return parsed.Invoke(config);
    }

    /// <summary>Creates the recursive-by-command <c>--verbose</c> option.</summary>
    internal static Option<bool> VerboseOption() => new("--verbose", "-v")
    {
        Description = "Print the full exception (with stack trace) on errors.",
    };

    /// <summary>Creates a duration option such as <c>--interval 250ms</c>.</summary>
    internal static Option<TimeSpan> DurationOption(string name, TimeSpan defaultValue, string description) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
            if (TryParseDuration(text, out TimeSpan value) && value > TimeSpan.Zero)
            {
                return value;
            }

            result.AddError($"{name} '{text}' is not a positive duration; use e.g. 250ms, 1s, 2m or 00:00:05.");
            return default;
        },
    };

    /// <summary>Parses <c>250ms</c>, <c>1s</c>, <c>1.5s</c>, <c>2m</c>, <c>1h</c> or a TimeSpan (<c>00:00:05</c>).</summary>
    internal static bool TryParseDuration(string text, out TimeSpan value)
    {
        ReadOnlySpan<char> s = text.AsSpan().Trim();
        (string Suffix, double Ms)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];
        foreach ((string suffix, double ms) in units)
        {
            if (s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(s[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out double n)
                && double.IsFinite(n))
            {
                value = TimeSpan.FromMilliseconds(n * ms);
                return true;
            }
        }

        return TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>A Spectre console over <paramref name="writer"/>; ANSI and colour only on a real terminal.</summary>
    internal static IAnsiConsole ConsoleFor(TextWriter writer)
    {
        bool terminal = IsTerminal(writer);
        return AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
    }

    internal static bool IsTerminal(TextWriter writer) =>
        ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected;

    /// <summary>Maps a census failure to one stderr line (plus the stack with --verbose) and an exit code.</summary>
    internal static int Report(CensusException ex, TextWriter error, bool verbose)
    {
        error.WriteLine($"tether: {ex.Message}");
        if (verbose)
        {
            error.WriteLine(ex.ToString());
        }

        return ex.Reason == CensusErrorReason.ProcessNotFound ? ExitCodes.ProcessNotFound : ExitCodes.ProcUnreadable;
    }
}
