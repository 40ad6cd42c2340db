namespace Tether.TestServer;

/// <summary>Which invalid status line <see cref="HostileBehavior.GarbageStatusLine"/> sends.</summary>
public enum GarbageStatusLineVariant
{
    /// <summary><c>FOO</c> followed by a blank line.</summary>
    Foo,

    /// <summary><c>HTTP/1.1 abc OK</c>: a status code that is not a number.</summary>
    NonNumericStatus,

    /// <summary>Binary bytes (NUL, 0xFF, a TLS record header) followed by a blank line.</summary>
    Binary,
}
