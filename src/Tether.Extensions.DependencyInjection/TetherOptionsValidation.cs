using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Tether.Extensions.DependencyInjection;

/// <summary>Validates <see cref="TetherOptions"/> with Tether's own pool rules; each failure names the configuration
/// key, the value and the fix.</summary>
internal sealed class TetherOptionsValidator(string keyPrefix) : IValidateOptions<TetherOptions>
{
    public ValidateOptionsResult Validate(string? name, TetherOptions options)
    {
        if (name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        var failures = options.Pool.Validate().Select(p => TetherKeys.Prefix(keyPrefix + "Pool:", p)).ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>Validates one named <see cref="TetherClientOptions"/> with the rules <see cref="AsyncHttpClient"/> applies at
/// its first fetch, so a bad value fails the host at start-up rather than at the first request.</summary>
/// <remarks>With a configuration section, a key the binder would ignore is a failure too (newcomer review 2026-12-01:
/// <c>Clients:downstream:RequestTimeout</c>, one level too high, was silently dropped and the client kept its 20 s
/// default).</remarks>
internal sealed class TetherClientOptionsValidator(string clientName, string keyPrefix, IConfiguration? section = null)
    : IValidateOptions<TetherClientOptions>
{
    public ValidateOptionsResult Validate(string? name, TetherClientOptions options)
    {
        if ((name ?? Options.DefaultName) != clientName)
        {
            return ValidateOptionsResult.Skip;
        }

        var probe = new AsyncHttpClientOptions { MaxClients = options.MaxClients };
        TetherClientFactory.Copy(options.Defaults, probe.Defaults);
        var failures = probe.Validate().Select(p => TetherKeys.Prefix(keyPrefix, p)).ToList();
        failures.AddRange(UnknownKeys());
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private IEnumerable<string> UnknownKeys()
    {
        if (section is null)
        {
            yield break;
        }

        foreach (var child in section.GetChildren())
        {
            if (child.Key.Equals(nameof(TetherClientOptions.MaxClients), StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (child.Key.Equals(nameof(TetherClientOptions.Defaults), StringComparison.OrdinalIgnoreCase))
            {
                foreach (var setting in child.GetChildren().Where(c => !IsSetting(c.Key)))
                {
                    yield return $"{keyPrefix}Defaults:{setting.Key} is not a request setting (a FetchSettings property such as " +
                        "RequestTimeout, ConnectTimeout or MaxRedirects): check its spelling.";
                }

                continue;
            }

            yield return IsSetting(child.Key)
                ? $"{keyPrefix}{child.Key} is a request setting: move it to {keyPrefix}Defaults:{child.Key}."
                : $"{keyPrefix}{child.Key} is not a client option: a client section holds MaxClients and Defaults:<request setting>.";
        }
    }

    private static bool IsSetting(string key) =>
        typeof(FetchSettings).GetProperty(key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) is { CanWrite: true };
}

internal static class TetherKeys
{
    /// <summary>Turns Tether's "Defaults.ConnectTimeout = ..." into "Tether:Clients:api:Defaults:ConnectTimeout = ...".</summary>
    public static string Prefix(string prefix, string problem)
    {
        var end = problem.IndexOf(" = ", StringComparison.Ordinal);
        return end < 0
            ? prefix + problem
            : prefix + problem[..end].Replace('.', ':') + problem[end..];
    }

    public static string ForSection(Microsoft.Extensions.Configuration.IConfiguration configuration) =>
        configuration is Microsoft.Extensions.Configuration.IConfigurationSection section && section.Path.Length > 0
            ? section.Path + ":"
            : string.Empty;
}
