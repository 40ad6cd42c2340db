using Microsoft.Extensions.Logging;

namespace Tether.Diagnostics;

/// <summary>The fallback logger when none is configured: one line per warning on stderr,
/// <c>warn: Tether[1001] ClientNotClosed: message</c>.</summary>
internal sealed class StderrLogger : ILogger
{
    public static readonly StderrLogger Instance = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }

        var level = logLevel switch { LogLevel.Warning => "warn", LogLevel.Error => "fail", _ => "crit" };
        Console.Error.WriteLine($"{level}: Tether[{eventId.Id}] {eventId.Name}: {formatter(state, exception)}");
    }
}
