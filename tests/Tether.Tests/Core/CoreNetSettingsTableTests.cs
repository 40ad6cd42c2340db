using System.Reflection;
using System.Security.Cryptography.X509Certificates;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Core;

/// <summary>Issue 16, item "the 25-field settings list that is repeated six times (copy, compare, resolve, DI copy,
/// validation) should exist once": checking, copying, comparing and the DI copy work on one record of values,
/// <c>FetchSettings.SettingValues</c>; these tests fail when a setting is added without its field.</summary>
public sealed class CoreNetSettingsTableTests
{
    private static PropertyInfo[] Settings() => typeof(FetchSettings)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(static p => p.CanWrite && p.SetMethod!.IsPublic)
        .ToArray();

    [Fact]
    public void Every_setting_has_one_field_in_the_record_that_checks_copies_and_compares_it()
    {
        var values = typeof(FetchSettings).GetNestedType("SettingValues", BindingFlags.NonPublic)!;
        var fields = values.GetFields(BindingFlags.Public | BindingFlags.Instance).Select(static f => f.Name).Order();
        Assert.Equal(Settings().Select(static p => p.Name).Order(), fields);
        using var certificate = KestrelTestServer.CreateClientCertificate();
        foreach (var property in Settings())
        {
            var one = new FetchSettings();
            property.SetValue(one, Sample(property.PropertyType, certificate));
            Assert.False(one.HasNoValues(), $"{property.Name} is set but HasNoValues() says none is");

            var copy = one.CopyValues();
            Assert.Equal(property.GetValue(one), property.GetValue(copy));
            Assert.True(one.SameValues(copy), $"{property.Name}: a copy is not the same");
            Assert.False(one.SameValues(new FetchSettings()), $"{property.Name}: a set value compares equal to unset");

            var viaDi = new FetchSettings();
            FetchSettings.CopyInto(one, viaDi);
            Assert.True(one.SameValues(viaDi), $"{property.Name} is not copied by CopyInto (the DI package's copy)");
        }

        Assert.True(new FetchSettings().HasNoValues());
    }

    private static object Sample(Type type, X509Certificate2 certificate)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t switch
        {
            _ when t == typeof(TimeSpan) => TimeSpan.FromSeconds(7),
            _ when t == typeof(bool) => true,
            _ when t == typeof(int) => 4096,
            _ when t == typeof(long) => 4096L,
            _ when t == typeof(string) => "value",
            _ when t == typeof(Uri) => new Uri("http://127.0.0.1:1/"),
            _ when t == typeof(Version) => new Version(2, 0),
            _ when t == typeof(AuthMode) => AuthMode.Digest,
            _ when t == typeof(X509Certificate2Collection) => new X509Certificate2Collection(),
            _ when t == typeof(X509Certificate2) => certificate,
            _ => throw new InvalidOperationException($"Add a sample value for settings of type {t}."),
        };
    }
}
