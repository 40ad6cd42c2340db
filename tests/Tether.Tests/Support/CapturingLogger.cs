using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Tether.Tests.Support;

/// <summary>One log call: level, event, the formatted message and the structured fields (name → value).</summary>
internal sealed record LogEntry(LogLevel Level, EventId Id, string Message, IReadOnlyDictionary<string, object?> Fields);

/// <summary>An <see cref="ILogger"/> that keeps every entry, for tests that assert what Tether logged (thread-safe:
/// leak warnings are written from the leak tracker's timer).</summary>
internal sealed class CapturingLogger : ILogger
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => _entries.ToArray();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var fields = state is IReadOnlyList<KeyValuePair<string, object?>> list
            ? list.ToDictionary(k => k.Key, k => k.Value)
            : new Dictionary<string, object?>();
        _entries.Enqueue(new LogEntry(logLevel, eventId, formatter(state, exception), fields));
    }
}
