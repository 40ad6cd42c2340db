namespace Tether;

/// <summary>Shared validation rules, so every option reports problems in the same words.</summary>
internal static class OptionChecks
{
    public static IEnumerable<string> Timeout(string name, TimeSpan value)
    {
        if (value != System.Threading.Timeout.InfiniteTimeSpan && value <= TimeSpan.Zero)
        {
            yield return $"{name} = {value}: must be positive; use Timeout.InfiniteTimeSpan to disable the timeout.";
        }
    }

    public static IEnumerable<string> Timeout(string name, TimeSpan? value) =>
        value is { } v ? Timeout(name, v) : [];

    /// <summary>Throws one <see cref="OptionsValidationException"/> listing every problem, if there are any.</summary>
    public static void ThrowIfAny(string what, IEnumerable<string> problems)
    {
        var list = problems.ToList();
        if (list.Count > 0)
        {
            throw new OptionsValidationException(what, list);
        }
    }
}
