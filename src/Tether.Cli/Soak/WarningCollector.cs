using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Tether.Cli.Soak;

/// <summary>Collects the warnings Tether raises during a soak, so they are shown once after the table instead of
/// interleaved with the progress output.</summary>
internal sealed class WarningCollector : ILogger
{
    private readonly ConcurrentQueue<string> _messages = new();

    public IReadOnlyCollection<string> Messages => _messages;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            _messages.Enqueue($"{eventId.Name}: {formatter(state, exception)}");
        }
    }
}
