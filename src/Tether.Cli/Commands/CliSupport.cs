using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Spectre.Console;
using Tether.Diagnostics;

namespace Tether.Cli.Commands;

/// <summary>Pieces shared by the commands: duration parsing, consoles, error reporting, invocation.</summary>
public static partial class CliSupport
{
    // The text shown after a command's generated help (examples, exit codes). Kept out of Command.Description so
    // the root help's command list shows one line per command instead of repeating every example and the exit codes.
    private static readonly ConditionalWeakTable<Command, string> Epilogs = [];

    /// <summary>Attaches <paramref name="text"/> (examples, notes) to be printed after <paramref name="command"/>'s help.</summary>
    /// <param name="command">The command.</param>
    /// <param name="text">The text; the exit-code table is appended to it.</param>
    /// <returns>The command.</returns>
    internal static T WithEpilog<T>(this T command, string text)
        where T : Command
    {
        Epilogs.AddOrUpdate(command, text.TrimEnd() + "\n\n" + ExitCodes.HelpTable);
        return command;
    }

    /// <summary>Parses and invokes <paramref name="root"/> synchronously; see <see cref="RunAsync"/>.</summary>
    /// <param name="root">The root command.</param>
    /// <param name="args">The arguments.</param>
    /// <param name="output">Standard output (defaults to the console).</param>
    /// <param name="error">Standard error (defaults to the console).</param>
    /// <param name="cancellationToken">Stands for Ctrl-C in tests.</param>
    /// <returns>The exit code.</returns>
    public static int Run(RootCommand root, IReadOnlyList<string> args, TextWriter? output = null, TextWriter? error = null, CancellationToken cancellationToken = default) =>
        RunAsync(root, args, output, error, handleSignals: false, cancellationToken).GetAwaiter().GetResult();

    /// <summary>
    /// Parses and invokes <paramref name="root"/>. Parse errors print every error, each naming the offending token,
    /// on <paramref name="error"/> and return <see cref="ExitCodes.Usage"/> (System.CommandLine's default would be 1,
    /// which is our HTTP-error code). With <paramref name="handleSignals"/>, the first SIGINT (Ctrl-C) or SIGTERM
    /// cancels the command's token (the command then prints what it gathered and returns
    /// <see cref="ExitCodes.Interrupted"/>); a second one terminates the process at once.
    /// </summary>
    /// <param name="root">The root command.</param>
    /// <param name="args">The arguments.</param>
    /// <param name="output">Standard output (defaults to the console).</param>
    /// <param name="error">Standard error (defaults to the console).</param>
    /// <param name="handleSignals">Register SIGINT/SIGTERM handlers (the real process only).</param>
    /// <param name="cancellationToken">Cancels the command like Ctrl-C.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(
        RootCommand root, IReadOnlyList<string> args, TextWriter? output = null, TextWriter? error = null, bool handleSignals = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(args);
        error ??= Console.Error;
        output ??= Console.Out;

        // No response files: `-d @file` is curl's syntax for a body file, not a file of arguments.
        var parserConfig = new ParserConfiguration { ResponseFileTokenReplacer = null };
        ParseResult parsed = root.Parse(args, parserConfig);
        List<string> errors = Errors(root, args, parsed, parserConfig);
        if (errors.Count > 0)
        {
            Command command = parsed.CommandResult.Command;
            string name = ReferenceEquals(command, root) ? "tether" : "tether " + command.Name;
            for (int i = 0; i < errors.Count; i++)
            {
                error.WriteLine(i == errors.Count - 1 ? $"tether: {errors[i]} Run '{name} --help' for usage." : $"tether: {errors[i]}");
            }

            return ExitCodes.Usage;
        }

        if (parsed.Action is System.CommandLine.Help.HelpAction)
        {
            // Help names the root after the entry assembly (Tether.Cli); the installed command is `tether`.
            using var help = new StringWriter();
            int helpCode = parsed.Invoke(new InvocationConfiguration { Output = help, Error = error });
            string text = help.ToString()
                .Replace("  " + RootCommand.ExecutableName + " ", "  tether ", StringComparison.Ordinal)
                .Replace("  " + RootCommand.ExecutableName + Environment.NewLine, "  tether" + Environment.NewLine, StringComparison.Ordinal);
            output.Write(text.TrimEnd() + Environment.NewLine);
            if (Epilogs.TryGetValue(parsed.CommandResult.Command, out string? epilog))
            {
                output.WriteLine();
                output.WriteLine(epilog.ReplaceLineEndings());
            }

            return helpCode;
        }

        // Our own signal handling: System.CommandLine's would end the process 2 s after Ctrl-C with its own code.
        var config = new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null };
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        PosixSignalRegistration? sigint = null, sigterm = null;
        if (handleSignals)
        {
            void OnSignal(PosixSignalContext context)
            {
                if (!interrupt.IsCancellationRequested)
                {
                    context.Cancel = true; // the first one: stop gracefully and report
                    interrupt.Cancel();
                }
            }

            sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        }

        try
        {
            return await parsed.InvokeAsync(config, interrupt.Token).ConfigureAwait(false);
        }
        finally
        {
            sigint?.Dispose();
            sigterm?.Dispose();
        }
    }

    // Every parse error, each naming its token. System.CommandLine binds an unknown `--flag` to the next free argument
    // (so `fetch --bogus URL` blamed URL) and reports only the symptoms; unknown options are found first, then the args
    // are parsed again without them so the remaining errors are the real ones.
    private static List<string> Errors(RootCommand root, IReadOnlyList<string> args, ParseResult parsed, ParserConfiguration config)
    {
        var errors = new List<string>();
        Command command = parsed.CommandResult.Command;
        var suspects = new List<string>(parsed.UnmatchedTokens);
        foreach (ArgumentResult argument in parsed.CommandResult.Children.OfType<ArgumentResult>())
        {
            suspects.AddRange(argument.Tokens.Select(t => t.Value));
        }

        var unknownOptions = suspects.Where(LooksLikeOption).Distinct(StringComparer.Ordinal).ToList();
        foreach (string token in unknownOptions)
        {
            string? near = Closest(token, OptionNames(command));
            errors.Add($"unknown option '{token}' for '{CommandPath(command)}'" + (near is null ? "." : $"; did you mean '{near}'?"));
        }

        if (unknownOptions.Count > 0)
        {
            parsed = root.Parse(args.Where(a => !unknownOptions.Contains(a, StringComparer.Ordinal)).ToArray(), config);
            if (parsed.Errors.Any(e => UnrecognizedPattern().IsMatch(e.Message)))
            {
                // The unknown option probably took a value (`-A agent URL`): without the option alone, its value became
                // the URL and the URL an extra argument, reported as a second, wrong error. If the arguments parse once
                // the token after each unknown option is left out too, that token was its value.
                var withoutValues = new List<string>(args.Count);
                for (int i = 0; i < args.Count; i++)
                {
                    if (unknownOptions.Contains(args[i], StringComparer.Ordinal))
                    {
                        if (i + 1 < args.Count && !LooksLikeOption(args[i + 1]))
                        {
                            i++;
                        }

                        continue;
                    }

                    withoutValues.Add(args[i]);
                }

                ParseResult retry = root.Parse(withoutValues.ToArray(), config);
                if (!retry.Errors.Any(e => UnrecognizedPattern().IsMatch(e.Message)))
                {
                    parsed = retry;
                }
            }
        }

        bool unknownCommand = parsed.Errors.Any(e => UnrecognizedPattern().IsMatch(e.Message)) && ReferenceEquals(parsed.CommandResult.Command, root);
        foreach (ParseError e in parsed.Errors)
        {
            if (unknownCommand && e.SymbolResult is CommandResult { Command: RootCommand } && !UnrecognizedPattern().IsMatch(e.Message))
            {
                continue; // "Required command was not provided": the unknown command below says it better
            }

            Match m = UnrecognizedPattern().Match(e.Message);
            if (m.Success && ReferenceEquals(parsed.CommandResult.Command, root) && !LooksLikeOption(m.Groups[1].Value))
            {
                string word = m.Groups[1].Value;
                string? near = Closest(word, root.Subcommands.Select(c => c.Name), maxDistance: int.MaxValue);
                errors.Add($"unknown command '{word}'; did you mean '{near}'? Commands: {string.Join(", ", root.Subcommands.Select(c => c.Name))}.");
                continue;
            }

            Match p = CannotParsePattern().Match(e.Message);
            if (p.Success)
            {
                string type = p.Groups[3].Value;
                string what = type.Contains("Int32", StringComparison.Ordinal) || type.Contains("Int64", StringComparison.Ordinal) ? "a whole number"
                    : type.Contains("Double", StringComparison.Ordinal) ? "a number"
                    : type.Contains("Boolean", StringComparison.Ordinal) ? "true or false"
                    : "a valid value";
                errors.Add($"{p.Groups[2].Value} '{p.Groups[1].Value}' is not {what}.");
                continue;
            }

            errors.Add(e.Message);
        }

        return errors;
    }

    private static bool LooksLikeOption(string token) =>
        token.Length > 1 && token[0] == '-' && token != "--"
        && !double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static IEnumerable<string> OptionNames(Command command)
    {
        for (Command? c = command; c is not null; c = c.Parents.OfType<Command>().FirstOrDefault())
        {
            foreach (Option o in c.Options.Where(o => ReferenceEquals(c, command) || o.Recursive))
            {
                yield return o.Name;
                foreach (string alias in o.Aliases)
                {
                    yield return alias;
                }
            }
        }
    }

    private static string CommandPath(Command command)
    {
        var names = new List<string>();
        for (Command? c = command; c is not null; c = c.Parents.OfType<Command>().FirstOrDefault())
        {
            names.Insert(0, c is RootCommand ? "tether" : c.Name);
        }

        return string.Join(' ', names);
    }

    // The candidate with the smallest edit distance (ties: the first), if it is within maxDistance (default: a third
    // of the word, at least 2).
    internal static string? Closest(string word, IEnumerable<string> candidates, int? maxDistance = null)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string c in candidates)
        {
            int d = Distance(word.ToLowerInvariant(), c.ToLowerInvariant());
            if (d < bestDistance)
            {
                (best, bestDistance) = (c, d);
            }
        }

        int limit = maxDistance ?? Math.Max(2, word.Length / 3);
        return bestDistance <= limit ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var row = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            row[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }

        return row[b.Length];
    }

    [GeneratedRegex("^Unrecognized command or argument '(.*)'")]
    private static partial Regex UnrecognizedPattern();

    [GeneratedRegex("^Cannot parse argument '(.*)' for option '(.*)' as expected type '(.*)'")]
    private static partial Regex CannotParsePattern();

    /// <summary>Creates the recursive-by-command <c>--verbose</c> option.</summary>
    internal static Option<bool> VerboseOption() => new("--verbose", "-v")
    {
        Description = "Print the full exception (with stack trace) on errors.",
    };

    /// <summary>Creates a <c>--pid</c> option whose parse error says what a PID is.</summary>
    internal static Option<int?> PidOption(string description, bool required) => new("--pid", "-p")
    {
        Description = description,
        Required = required,
        HelpName = "PID",
        CustomParser = result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 0)
            {
                return pid;
            }

            result.AddError($"--pid '{text}' is not a process id; give a positive whole number (see `ps`).");
            return null;
        },
    };

    /// <summary>Creates a duration option such as <c>--interval 250ms</c>; see <see cref="TryParseDuration"/>.</summary>
    internal static Option<TimeSpan> DurationOption(string name, TimeSpan defaultValue, string description) => new(name)
    {
        Description = description,
        HelpName = "TIME",
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result => ParseDuration(result, name) ?? default,
    };

    /// <summary>Creates an optional duration option with aliases (fetch's <c>--max-time</c>, <c>--connect-timeout</c>).</summary>
    internal static Option<TimeSpan?> OptionalDurationOption(string name, string description, params string[] aliases) => new(name, aliases)
    {
        Description = description,
        HelpName = "TIME",
        CustomParser = result => ParseDuration(result, (result.Parent as OptionResult)?.IdentifierToken?.Value ?? name),
    };

    private static TimeSpan? ParseDuration(ArgumentResult result, string name)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (TryParseDuration(text, out TimeSpan value) && value > TimeSpan.Zero)
        {
            return value;
        }

        result.AddError($"{name} '{text}' is not a positive duration; write seconds (3, 2.5) or 500ms, 2s, 1m, 1h.");
        return null;
    }

    /// <summary>
    /// Parses a duration the same way for every command: a bare number is seconds (<c>3</c>, <c>2.5</c>), or a number
    /// with <c>ms</c>, <c>s</c>, <c>m</c> or <c>h</c> (<c>500ms</c>, <c>2s</c>, <c>1m</c>). Anything else (including
    /// <c>00:00:05</c> and <c>3d</c>) is rejected, so a bare number can never mean days.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="value">The duration.</param>
    /// <returns>True when <paramref name="text"/> is a finite duration in one of those forms.</returns>
    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        ReadOnlySpan<char> s = (text ?? string.Empty).AsSpan().Trim();
        (string Suffix, double Ms)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), (string.Empty, 1000)];
        foreach ((string suffix, double ms) in units)
        {
            if (s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(s[..^suffix.Length], NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out double n)
                && double.IsFinite(n) && Math.Abs(n * ms) < TimeSpan.MaxValue.TotalMilliseconds)
            {
                value = TimeSpan.FromMilliseconds(n * ms);
                return true;
            }
        }

        return false;
    }

    /// <summary>Formats a duration the way it is parsed: <c>250ms</c>, <c>3s</c>, <c>1.5m</c>.</summary>
    internal static string Format(TimeSpan t) =>
        t.TotalSeconds < 1 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:0.#}ms")
        : t.TotalSeconds < 120 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.###}s")
        : string.Create(CultureInfo.InvariantCulture, $"{t.TotalMinutes:0.##}m");

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
