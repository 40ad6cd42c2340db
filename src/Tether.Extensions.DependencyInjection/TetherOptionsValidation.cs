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
internal sealed class TetherClientOptionsValidator(string clientName, string keyPrefix) : IValidateOptions<TetherClientOptions>
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
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
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
