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

    /// <summary>Adds the <see cref="Timeout(string, TimeSpan)"/> problem of <paramref name="prefix"/><paramref name="name"/>
    /// to <paramref name="problems"/> (created at the first problem): valid values allocate nothing, not even the
    /// name (issue 16: a client per loop validates its options per loop).</summary>
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
