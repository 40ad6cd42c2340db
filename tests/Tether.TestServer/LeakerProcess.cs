using System.Diagnostics;
using System.Globalization;

namespace Tether.TestServer;

/// <summary>
/// A helper process (<c>/usr/bin/python3 leak_socketpairs.py</c>) that leaks one socketpair (2 unix
/// sockets) every interval, up to a maximum count, and exits by itself after a maximum duration.
/// </summary>
/// <example>
/// <code>
/// await using var leaker = await LeakerProcess.StartAsync(intervalMs: 100, maxPairs: 20, TimeSpan.FromSeconds(30));
/// await leaker.WaitForPairsAsync(5, TimeSpan.FromSeconds(5));
/// // census of leaker.Pid shows 10 more unix sockets than at pair 0
/// </code>
/// </example>
/// <remarks>
/// The script is shipped next to this assembly and embedded in it; when the file is missing the embedded
/// copy is written to a temporary file. Disposing kills the process (and deletes a temporary script).
/// <see cref="PairsCreated"/> follows the script's "pairs N" lines. Thread-safe.
/// </remarks>
public sealed class LeakerProcess : IAsyncDisposable
{
    /// <summary>The interpreter used to run the script.</summary>
    public const string PythonPath = "/usr/bin/python3";

    private const string ScriptName = "leak_socketpairs.py";

    private readonly Process _process;
    private readonly string? _temporaryScript;
    private readonly TaskCompletionSource<int> _pid = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _stdout;
    private int _pairs;
    private int _disposed;

    private LeakerProcess(Process process, string? temporaryScript)
    {
        _process = process;
        Pid = process.Id;
        _temporaryScript = temporaryScript;
        _stdout = ReadOutputAsync();
    }

    /// <summary>The helper's process id (still readable after dispose).</summary>
    public int Pid { get; }

    /// <summary>The underlying process.</summary>
    public Process Process => _process;

    /// <summary>Socketpairs the script reported so far.</summary>
    public int PairsCreated => Volatile.Read(ref _pairs);

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Starts the helper and waits until it has printed its PID.</summary>
    /// <param name="intervalMs">Milliseconds between socketpairs (at least 1).</param>
    /// <param name="maxPairs">How many socketpairs to leak at most; 0 gives a flat process.</param>
    /// <param name="maxDuration">When the process exits by itself (at most 1 hour).</param>
    /// <returns>The running helper, which the caller must dispose.</returns>
    /// <exception cref="FileNotFoundException"><see cref="PythonPath"/> does not exist.</exception>
    /// <exception cref="InvalidOperationException">The script did not start within 10 s.</exception>
    public static async Task<LeakerProcess> StartAsync(int intervalMs, int maxPairs, TimeSpan maxDuration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(intervalMs, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxPairs);
        if (!File.Exists(PythonPath))
        {
            throw new FileNotFoundException($"LeakerProcess needs {PythonPath}; install python3.", PythonPath);
        }

        var (script, temporary) = LocateScript();
        var info = new ProcessStartInfo(PythonPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-u");
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(intervalMs.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(maxPairs.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(maxDuration.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture));

        var process = Process.Start(info) ?? throw new InvalidOperationException("Process.Start returned null for " + PythonPath);
        var leaker = new LeakerProcess(process, temporary);
        try
        {
            await leaker._pid.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            return leaker;
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            await leaker.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"{ScriptName} did not print its PID within 10 s.", e);
        }
    }

    /// <summary>Starts the helper; same as <see cref="StartAsync"/> but blocking.</summary>
    /// <param name="intervalMs">Milliseconds between socketpairs.</param>
    /// <param name="maxPairs">How many socketpairs to leak at most.</param>
    /// <param name="maxDuration">When the process exits by itself.</param>
    /// <returns>The running helper, which the caller must dispose.</returns>
    public static LeakerProcess Start(int intervalMs, int maxPairs, TimeSpan maxDuration) =>
        StartAsync(intervalMs, maxPairs, maxDuration).GetAwaiter().GetResult();

    /// <summary>Waits until the script has reported at least <paramref name="pairs"/> socketpairs.</summary>
    /// <param name="pairs">The count to wait for.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <returns>A task that completes when the count is reached.</returns>
    /// <exception cref="TimeoutException">The count was not reached in time.</exception>
    public async Task WaitForPairsAsync(int pairs, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (PairsCreated < pairs)
        {
            if (Stopwatch.GetTimestamp() > deadline || (_process.HasExited && _stdout.IsCompleted))
            {
                throw new TimeoutException($"The leaker reported {PairsCreated} socketpairs, not {pairs}, within {timeout}.");
            }

            await Task.Delay(10).ConfigureAwait(false);
        }
    }

    /// <summary>Kills the process if it still runs, waits for it, and deletes a temporary script. Idempotent.</summary>
    /// <returns>A task that completes when the process is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            await _stdout.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            // Already gone, or not ours to wait for any more.
        }
        finally
        {
            _process.Dispose();
            if (_temporaryScript is not null)
            {
                File.Delete(_temporaryScript);
            }
        }
    }

    private static (string Path, string? Temporary) LocateScript()
    {
        var shipped = Path.Combine(AppContext.BaseDirectory, ScriptName);
        if (File.Exists(shipped))
        {
            return (shipped, null);
        }

        var temporary = Path.Combine(Path.GetTempPath(), $"tether-{Guid.NewGuid():N}-{ScriptName}");
        using var resource = typeof(LeakerProcess).Assembly.GetManifestResourceStream("Tether.TestServer." + ScriptName)
            ?? throw new InvalidOperationException($"The embedded {ScriptName} is missing from Tether.TestServer.");
        using var file = File.Create(temporary);
        resource.CopyTo(file);
        return (temporary, temporary);
    }

    private async Task ReadOutputAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                if (line.StartsWith("pid ", StringComparison.Ordinal))
                {
                    _pid.TrySetResult(int.Parse(line.AsSpan(4), CultureInfo.InvariantCulture));
                }
                else if (line.StartsWith("pairs ", StringComparison.Ordinal))
                {
                    Volatile.Write(ref _pairs, int.Parse(line.AsSpan(6), CultureInfo.InvariantCulture));
                }
            }
        }
        finally
        {
            _pid.TrySetException(new InvalidOperationException($"{ScriptName} exited before printing its PID."));
        }
    }
}
