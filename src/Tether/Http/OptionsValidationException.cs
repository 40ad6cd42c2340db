namespace Tether;

/// <summary>Thrown when options are invalid. Lists every problem at once; each line names the option, its value
/// and the fix.</summary>
public sealed class OptionsValidationException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="optionsType">The options being validated, e.g. <c>ConnectionPoolOptions</c>.</param>
    /// <param name="problems">One line per invalid value.</param>
    public OptionsValidationException(string optionsType, IReadOnlyList<string> problems)
        : base($"{optionsType} has {problems.Count} invalid value{(problems.Count == 1 ? "" : "s")}:"
               + string.Concat(problems.Select(static p => Environment.NewLine + "  - " + p)))
    {
        OptionsType = optionsType;
        Problems = problems;
    }

    /// <summary>The options type that failed validation.</summary>
    public string OptionsType { get; }

    /// <summary>One line per invalid value.</summary>
    public IReadOnlyList<string> Problems { get; }
}
