using System.Collections;

namespace Tether;

/// <summary>An ordered, case-insensitive, multi-valued header collection.</summary>
/// <remarks>Not thread-safe. A fetch never modifies the collection it was given.</remarks>
public sealed class FetchHeaders : IEnumerable<KeyValuePair<string, string>>
{
    private readonly List<KeyValuePair<string, string>> _items;

    /// <summary>The empty collection of a request that never asked for its headers; never modified (callers that
    /// change headers clone them first).</summary>
    internal static readonly FetchHeaders Empty = new();

    /// <summary>Creates an empty collection.</summary>
    public FetchHeaders()
    {
        _items = new();
    }

    /// <summary>An empty collection sized for about <paramref name="capacity"/> pairs.</summary>
    internal FetchHeaders(int capacity)
    {
        _items = new(capacity);
    }

    /// <summary>Creates a collection holding <paramref name="headers"/>, in order.</summary>
    /// <param name="headers">Name/value pairs; repeat a name for several values.</param>
    public FetchHeaders(IEnumerable<KeyValuePair<string, string>> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        _items = new(headers);
    }

    /// <summary>The pairs, for enumeration without boxing an enumerator (Tether's hot path only).</summary>
    internal List<KeyValuePair<string, string>> Items => _items;

    /// <summary>The number of name/value pairs.</summary>
    public int Count => _items.Count;

    /// <summary>Gets the first value of <paramref name="name"/> (or null); setting replaces every value.</summary>
    /// <param name="name">The header name, any case.</param>
    public string? this[string name]
    {
        get => Get(name);
        set
        {
            Remove(name);
            if (value is not null)
            {
                Add(name, value);
            }
        }
    }

    /// <summary>Adds a value, keeping existing values of the same name.</summary>
    /// <param name="name">The header name.</param>
    /// <param name="value">The value.</param>
    public void Add(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        _items.Add(new(name, value));
    }

    /// <summary>The first value of <paramref name="name"/>, or null.</summary>
    /// <param name="name">The header name, any case.</param>
    /// <returns>The value, or null.</returns>
    public string? Get(string name)
    {
        foreach (var (key, value) in _items)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }

    /// <summary>Every value of <paramref name="name"/>, in order.</summary>
    /// <param name="name">The header name, any case.</param>
    /// <returns>The values (empty when absent).</returns>
    public IReadOnlyList<string> GetValues(string name) =>
        _items.Where(p => string.Equals(p.Key, name, StringComparison.OrdinalIgnoreCase)).Select(p => p.Value).ToList();

    /// <summary>Whether <paramref name="name"/> is present.</summary>
    /// <param name="name">The header name, any case.</param>
    /// <returns>True when present.</returns>
    public bool Contains(string name)
    {
        foreach (var item in _items)
        {
            if (string.Equals(item.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Removes every value of <paramref name="name"/>.</summary>
    /// <param name="name">The header name, any case.</param>
    /// <returns>True when something was removed.</returns>
    public bool Remove(string name) =>
        _items.RemoveAll(p => string.Equals(p.Key, name, StringComparison.OrdinalIgnoreCase)) > 0;

    /// <summary>A copy of this collection.</summary>
    /// <returns>The copy.</returns>
    public FetchHeaders Clone() => new(_items);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
