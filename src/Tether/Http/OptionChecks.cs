namespace Tether;

/// <summary>Shared validation rules, so every option reports problems in the same words.</summary>
internal static class OptionChecks
{
    /// <summary>The problem of a timeout option <paramref name="name"/>, if its value is invalid (the rule and its
    /// words are those of the list form below).</summary>
    public static IEnumerable<string> Timeout(string name, TimeSpan value)
    {
        List<string>? problems = null;
        Timeout(ref problems, string.Empty, name, value);
        return (IEnumerable<string>?)problems ?? [];
    }

    /// <summary>Adds a problem for <paramref name="prefix"/><paramref name="name"/> to <paramref name="problems"/> (created
    /// at the first problem) when its value is set and neither positive nor <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>.
    /// Valid values allocate nothing, not even the name (issue 16: a client per loop validates its options per loop).</summary>
    public static void Timeout(ref List<string>? problems, string prefix, string name, TimeSpan? value)
    {
        if (value is { } v && v != System.Threading.Timeout.InfiniteTimeSpan && v <= TimeSpan.Zero)
        {
            (problems ??= []).Add($"{prefix}{name} = {v}: must be positive; use Timeout.InfiniteTimeSpan to disable the timeout.");
        }
    }

    /// <summary>Throws one <see cref="OptionsValidationException"/> listing every problem, if there are any.</summary>
    public static void ThrowIfAny(string what, IEnumerable<string> problems)
    {
        if (problems is ICollection<string> { Count: 0 })
        {
            return;
        }

        var list = problems.ToList();
        if (list.Count > 0)
        {
            throw new OptionsValidationException(what, list);
        }
    }
}
