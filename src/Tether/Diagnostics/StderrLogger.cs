using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Tether.Diagnostics;

/// <summary>The fallback logger when none is configured: one line per warning on stderr,
/// <c>warn: Tether[1001] ClientNotClosed: message</c>.</summary>
/// <remarks>Writes to fd 2 directly instead of through <see cref="Console.Error"/>, whose first use dups the fd:
/// a leak warning must not itself change the process's fd count that leak checks compare.</remarks>
internal sealed class StderrLogger : ILogger
{
    public static readonly StderrLogger Instance = new();
    private static readonly object s_gate = new();
    private static FileStream? s_stderr;

    /// <summary>Test seam: when set, lines go here instead of fd 2.</summary>
    internal static TextWriter? Override { get; set; }

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
        var line = $"{level}: Tether[{eventId.Id}] {eventId.Name}: {formatter(state, exception)}{Environment.NewLine}";
        if (Override is { } writer)
        {
            writer.Write(line);
            return;
        }

        try
        {
            lock (s_gate)
            {
                s_stderr ??= new FileStream(new SafeFileHandle(2, ownsHandle: false), FileAccess.Write, bufferSize: 0);
                s_stderr.Write(Encoding.UTF8.GetBytes(line));
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // No usable stderr: the metric and the event still record the leak.
        }
    }
}
