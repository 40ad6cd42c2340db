using System.Diagnostics;
using Tether.Diagnostics;

namespace Tether.Cli.Soak;

/// <summary>One census sample of a soak: the process's fds and its sockets towards the pattern's server.</summary>
/// <param name="Iteration">Iterations done when the sample was taken (0 = baseline after the warm-up).</param>
/// <param name="Fds">Total fds of the process.</param>
/// <param name="Sockets">Socket fds of the process (TCP + unix + UDP + other; both ends of in-process servers).</param>
/// <param name="Established">Client-side TCP sockets ESTABLISHED towards the server port.</param>
/// <param name="CloseWait">Client-side TCP sockets in CLOSE_WAIT towards the server port.</param>
/// <param name="TimeWait">TIME_WAIT entries towards the server port (kernel-owned, no fd).</param>
/// <param name="Unix">Unix socket fds.</param>
/// <param name="Epoll">Epoll fds.</param>
/// <param name="EventFd">Eventfd fds.</param>
/// <param name="Pipes">Pipe fds.</param>
/// <param name="Files">File and device fds.</param>
/// <param name="OtherFds">Other fds (timerfd, inotify, …).</param>
public sealed record SoakSample(int Iteration, int Fds, int Sockets, int Established, int CloseWait, int TimeWait, int Unix, int Epoll, int EventFd, int Pipes, int Files, int OtherFds)
{
    /// <summary>Takes a sample of this process for a server on <paramref name="port"/>.</summary>
    /// <param name="iteration">Iterations done.</param>
    /// <param name="port">The server port.</param>
    /// <returns>The sample.</returns>
    public static SoakSample Take(int iteration, int port)
    {
        CensusSnapshot s = SocketCensus.Take(Environment.ProcessId, new CensusOptions { Ports = [port] });
        int established = 0, closeWait = 0;
        foreach (CensusSocket socket in s.TcpSockets)
        {
            if (socket.Remote.Port != port)
            {
                continue;
            }

            if (socket.State == TcpState.Established)
            {
                established++;
            }
            else if (socket.State == TcpState.CloseWait)
            {
                closeWait++;
            }
        }

        return new SoakSample(iteration, s.TotalFds, s.Sockets, established, closeWait, s.CountTimeWait(port), s.UnixSockets, s.Epoll, s.EventFd, s.Pipes, s.Files + s.Devices, s.OtherFds);
    }
}

/// <summary>The outcome of one pattern: its samples and the numbers the table, CSV and JSON all print.</summary>
public sealed class SoakResult
{
    /// <summary>Gets the pattern.</summary>
    public required SoakPattern Pattern { get; init; }

    /// <summary>Gets the iterations run (after the warm-up).</summary>
    public required int Iterations { get; init; }

    /// <summary>Gets the samples, first the baseline (iteration 0), last the end state after settling.</summary>
    public required IReadOnlyList<SoakSample> Samples { get; init; }

    /// <summary>Gets the number of iterations that threw.</summary>
    public required int Errors { get; init; }

    /// <summary>Gets the first error message, if any.</summary>
    public string? FirstError { get; init; }

    /// <summary>Gets the protocol the pattern ran over: <c>HTTP/1.1</c> or <c>HTTP/2</c>.</summary>
    public string Protocol { get; init; } = "HTTP/1.1";

    /// <summary>Gets how the pattern's pools closed idle connections: <c>graceful</c> or <c>abortive</c> (the
    /// <c>--idle-close</c> mode), or <c>graceful (fixed)</c> for a pattern whose pool the soak cannot configure.</summary>
    public string CloseMode { get; init; } = "graceful";

    /// <summary>Gets the number of connections on which the soak's own server saw a reset (RST) from the client during
    /// the measured iterations (after the baseline, until the end sample); null when the server is not the soak's
    /// (<c>--url</c>, <c>server-idle-close</c>).</summary>
    public long? ServerResets { get; init; }

    /// <summary>Gets the row's label: the pattern name, plus the protocol and close mode when they are not the defaults
    /// (HTTP/1.1, graceful), e.g. <c>seed [HTTP/2 abortive]</c>.</summary>
    public string Label
    {
        get
        {
            string variant = string.Join(' ', new[] { Protocol == "HTTP/1.1" ? null : Protocol, CloseMode == "abortive" ? CloseMode : null }.Where(x => x is not null));
            return variant.Length == 0 ? Pattern.Name : $"{Pattern.Name} [{variant}]";
        }
    }

    /// <summary>Gets the growth of the client's TIME_WAIT entries towards the server port from baseline to end.</summary>
    public int TimeWaitAdded => End.TimeWait - Start.TimeWait;

    /// <summary>Gets the file paths of the fds open at the end that were not open at the baseline (explains file-fd
    /// growth): one entry per added fd, so a path appears twice when two more fds name it (the runtime holds some
    /// assemblies open through two fds).</summary>
    public IReadOnlyList<string> NewFiles { get; init; } = [];

    /// <summary>Gets the wall time of the iterations, in seconds.</summary>
    public required double Seconds { get; init; }

    /// <summary>Gets the baseline sample.</summary>
    public SoakSample Start => Samples[0];

    /// <summary>Gets the end sample.</summary>
    public SoakSample End => Samples[^1];

    /// <summary>Gets the fd growth per 1,000 iterations: least-squares slope of fds over the samples × 1000, one decimal.</summary>
    public double FdsPer1000 => Math.Round(Slope(s => s.Fds) * 1000, 1);

    /// <summary>Gets the socket growth per 1,000 iterations (least-squares slope × 1000, one decimal).</summary>
    public double SocketsPer1000 => Math.Round(Slope(s => s.Sockets) * 1000, 1);

    /// <summary>Gets how many of <see cref="NewFiles"/> are assemblies or native libraries (<c>.dll</c>, <c>.so</c>): the
    /// runtime maps each once, lazily, for the life of the process (a tier-1 recompile or a late code path can map one
    /// mid-soak, through one fd or two), so they cannot grow with iterations and are not counted against a pattern.
    /// </summary>
    public int RuntimeFilesAdded => NewFiles.Count(static f => f.EndsWith(".dll", StringComparison.Ordinal) || f.EndsWith(".so", StringComparison.Ordinal));

    /// <summary>Gets the growth of the fds that are not sockets (pipes, eventfds, epoll, files) from the baseline to the
    /// end, not counting <see cref="RuntimeFilesAdded"/>.</summary>
    public int NonSocketGrowth => End.Fds - End.Sockets - (Start.Fds - Start.Sockets) - RuntimeFilesAdded;

    /// <summary>Gets whether the non-socket fds grew once and then stopped: none were added from the first sample taken
    /// in the second half of the iterations to the end. A leak per iteration (Tornado's is an epoll fd and a pipe
    /// per loop) keeps growing there; the runtime opening something once, late (seen under load: 4 fds, no file to
    /// name, between iterations 0 and 10 of 30, none after), does not. False without a sample in the second half.
    /// </summary>
    public bool IsOneTimeStep =>
        NonSocketGrowth > 0
        && Samples.Skip(1).SkipLast(1).FirstOrDefault(s => s.Iteration * 2 >= Iterations) is { } mid
        && End.Fds - End.Sockets <= mid.Fds - mid.Sockets;

    /// <summary>
    /// Gets whether the pattern is flat: no more socket fds at the end than at the baseline, no more ESTABLISHED or
    /// CLOSE_WAIT sockets towards the server, and no more other fds either, except assemblies the runtime mapped
    /// meanwhile (<see cref="RuntimeFilesAdded"/>) and a one-time step (<see cref="IsOneTimeStep"/>). TIME_WAIT is the
    /// kernel's and is reported, not judged.
    /// </summary>
    public bool IsFlat => End.Sockets <= Start.Sockets && (NonSocketGrowth <= 0 || IsOneTimeStep)
        && End.Established <= Start.Established && End.CloseWait <= Start.CloseWait;

    /// <summary>Gets the verdict: <c>flat</c>, <c>grows</c>, or <c>errors</c> (flat but some iterations failed).</summary>
    public string Verdict => !IsFlat ? "grows" : Errors > 0 ? "errors" : "flat";

    private double Slope(Func<SoakSample, int> y)
    {
        int n = Samples.Count;
        if (n < 2)
        {
            return 0;
        }

        double mx = Samples.Average(s => (double)s.Iteration), my = Samples.Average(s => (double)y(s));
        double sxy = 0, sxx = 0;
        foreach (SoakSample s in Samples)
        {
            sxy += (s.Iteration - mx) * (y(s) - my);
            sxx += (s.Iteration - mx) * (s.Iteration - mx);
        }

        return sxx > 0 ? sxy / sxx : 0;
    }
}

/// <summary>Runs patterns one after the other on the calling thread, sampling the census every K iterations.</summary>
/// <param name="iterations">Iterations per pattern (after one warm-up iteration).</param>
/// <param name="sampleEvery">Iterations between samples.</param>
public sealed class SoakRunner(int iterations, int sampleEvery)
{
    /// <summary>Runs one pattern against <paramref name="target"/>.</summary>
    /// <param name="pattern">The pattern.</param>
    /// <param name="target">The target (loopback URL, protocol, close mode, the server's reset count).</param>
    /// <param name="onSample">Called after each sample (for progress).</param>
    /// <param name="cancellationToken">Stops between iterations.</param>
    /// <returns>The result.</returns>
    public async Task<SoakResult> RunAsync(SoakPattern pattern, SoakTarget target, Action<SoakSample> onSample, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(onSample);
        SoakPatternInstance instance = await pattern.Start(target).ConfigureAwait(false);
        await using (instance.ConfigureAwait(false))
        {
            int port = instance.Url.Port;
            int errors = 0;
            string? firstError = null;
            void Once()
            {
                try
                {
                    instance.Iterate();
                }
                catch (Exception ex) when (ex is FetchException or HttpRequestException or IOException or LoopMisuseException or ClientClosedException)
                {
                    errors++;
                    firstError ??= ex.Message;
                }
            }

            // Warm-up: the runtime maps assemblies and opens its socket engine on first use (each an fd), once.
            Once();
            errors = 0;
            firstError = null;
            SoakSample baseline = Settle(0, port, null);

            // The pattern's own server (server-idle-close) is not the soak's: no reset count for it.
            SoakServer? server = instance.Url.Port == target.Url.Port ? target.Server : null;
            long resetsAtBaseline = server?.ResetConnections ?? 0;
            int openAtBaseline = server?.OpenConnections ?? 0;
            List<string> baselineFiles = FileTargets();
            var samples = new List<SoakSample> { baseline };
            onSample(baseline);
            var clock = Stopwatch.StartNew();
            int done = 0;
            for (int i = 1; i <= iterations && !cancellationToken.IsCancellationRequested; i++)
            {
                Once();
                done = i;
                if (i % sampleEvery == 0 && i < iterations)
                {
                    SoakSample s = SoakSample.Take(i, port);
                    samples.Add(s);
                    onSample(s);
                }
            }

            double seconds = clock.Elapsed.TotalSeconds;
            if (server is not null && pattern.IsTether)
            {
                // The server lets a connection go only after it has read the client's FIN or RST (and counted a reset):
                // wait (≤ 3 s) until it holds no more connections than at the baseline, so that the last iteration's
                // reset is in the count and the end sample does not see the server's end of it still open.
                var wait = Stopwatch.StartNew();
                while (server.OpenConnections > openAtBaseline && wait.Elapsed < TimeSpan.FromSeconds(3))
                {
                    Thread.Sleep(10);
                }
            }

            SoakSample end = pattern.IsTether ? Settle(done, port, baseline) : SoakSample.Take(done, port);

            samples.Add(end);
            onSample(end);
            return new SoakResult
            {
                NewFiles = AddedSince(baselineFiles, FileTargets()), Pattern = pattern, Iterations = done, Samples = samples, Errors = errors,
                FirstError = firstError, Seconds = seconds, Protocol = target.Protocol,
                CloseMode = pattern.TakesCloseMode ? Label(target.CloseMode) : pattern.IsTether ? "graceful (fixed)" : "n/a (HttpClient)",
                ServerResets = server is null ? null : server.ResetConnections - resetsAtBaseline,
            };
        }
    }

    /// <summary>The lower-case name of <paramref name="mode"/> as <c>--idle-close</c> spells it.</summary>
    /// <param name="mode">The mode.</param>
    /// <returns><c>graceful</c> or <c>abortive</c>.</returns>
    public static string Label(IdleCloseMode mode) => mode == IdleCloseMode.Abortive ? "abortive" : "graceful";

    /// <summary>
    /// Maps the runtime assemblies that the HTTP stack loads lazily, from timers or late code paths (each load keeps
    /// one fd open for the life of the process), so they cannot appear after a pattern's baseline and look like a leak.
    /// Measured on .NET 10: System.Net.Quic and System.Net.NetworkInformation showed up mid-soak.
    /// </summary>
    public static void PreloadRuntimeAssemblies()
    {
        string[] names =
        [
            "System.Net.Quic", "System.Net.NetworkInformation", "System.Net.Http", "System.Net.Security", "System.Net.Sockets",
            "System.Net.NameResolution", "System.Net.Primitives", "System.Security.Cryptography", "System.Diagnostics.DiagnosticSource",
            "System.Threading.Channels", "System.Collections.Concurrent", "Microsoft.Win32.Primitives", "System.Diagnostics.Tracing",
            "System.Linq.Expressions",
        ];
        foreach (string name in names)
        {
            try
            {
                _ = System.Reflection.Assembly.Load(name);
            }
            catch (IOException)
            {
                // Not part of this runtime: nothing to map.
            }
        }
    }

    // The target of every fd of this process that names a file, one entry per fd.
    private static List<string> FileTargets()
    {
        var targets = new List<string>();
        foreach (string fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith('/'))
                {
                    targets.Add(target);
                }
            }
            catch (IOException)
            {
            }
        }

        return targets;
    }

    /// <summary>Gets the entries of <paramref name="end"/> beyond those of <paramref name="baseline"/>, counting
    /// repeats: a path held by one fd at the baseline and three at the end is returned twice.</summary>
    /// <param name="baseline">The fd targets at the baseline, one entry per fd.</param>
    /// <param name="end">The fd targets at the end, one entry per fd.</param>
    /// <returns>The added entries, in the order of <paramref name="end"/>.</returns>
    public static List<string> AddedSince(IEnumerable<string> baseline, IEnumerable<string> end)
    {
        var remaining = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string path in baseline)
        {
            remaining[path] = remaining.GetValueOrDefault(path) + 1;
        }

        var added = new List<string>();
        foreach (string path in end)
        {
            if (remaining.GetValueOrDefault(path) is > 0 and var left)
            {
                remaining[path] = left - 1;
            }
            else
            {
                added.Add(path);
            }
        }

        return added;
    }

    // In-process servers close their ends a moment after the client does; wait (≤ 2 s) until the count is stable:
    // for the baseline two equal samples 50 ms apart, for the end the baseline numbers (or 2 s, whichever first).
    private static SoakSample Settle(int iteration, int port, SoakSample? baseline)
    {
        var clock = Stopwatch.StartNew();
        SoakSample? previous = null;
        while (true)
        {
            SoakSample s = SoakSample.Take(iteration, port);
            bool done = baseline is null
                ? previous is not null && previous.Fds == s.Fds && s.CloseWait == 0
                : s.Fds <= baseline.Fds && s.Established <= baseline.Established && s.CloseWait <= baseline.CloseWait;
            if (done || clock.Elapsed > TimeSpan.FromSeconds(2))
            {
                return s;
            }

            previous = s;
            Thread.Sleep(baseline is null ? 50 : 20);
        }
    }
}
