using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using ScottPlot;
using SkiaSharp;

namespace Tether.Cli.Soak;

/// <summary>The JSON document of a soak: settings, then per pattern the table numbers and every sample.</summary>
/// <param name="Version">The Tether library version.</param>
/// <param name="Iterations">Iterations per pattern.</param>
/// <param name="SampleEvery">Iterations between samples.</param>
/// <param name="Target">The target (embedded server or --url).</param>
/// <param name="ExitCode">The soak's exit code.</param>
/// <param name="Patterns">One entry per pattern.</param>
public sealed record SoakJson(string Version, int Iterations, int SampleEvery, string Target, int ExitCode, IReadOnlyList<SoakPatternJson> Patterns);

/// <summary>One pattern in <see cref="SoakJson"/>; the same numbers as the printed table.</summary>
/// <param name="Name">Pattern name.</param>
/// <param name="Kind"><c>tether</c> or <c>naive</c>.</param>
/// <param name="Description">What the pattern does.</param>
/// <param name="Iterations">Iterations run.</param>
/// <param name="Errors">Iterations that threw.</param>
/// <param name="Seconds">Wall time of the iterations.</param>
/// <param name="Start">Baseline sample.</param>
/// <param name="End">End sample.</param>
/// <param name="FdsPer1000">fd growth per 1,000 iterations.</param>
/// <param name="SocketsPer1000">Socket growth per 1,000 iterations.</param>
/// <param name="Verdict">flat, grows or errors.</param>
/// <param name="Samples">All samples.</param>
/// <param name="Protocol"><c>HTTP/1.1</c> or <c>HTTP/2</c>.</param>
/// <param name="CloseMode">How the pattern's pools closed idle connections (<c>graceful</c>, <c>abortive</c>, <c>graceful (fixed)</c>, <c>n/a (HttpClient)</c>).</param>
/// <param name="TimeWaitAdded">Client TIME_WAIT entries towards the server port, end minus baseline (CORE-09).</param>
/// <param name="ServerResets">Connections the soak's server saw reset by the client (CORE-09); null when the server is not the soak's.</param>
public sealed record SoakPatternJson(
    string Name, string Kind, string Description, int Iterations, int Errors, double Seconds, SoakSample Start, SoakSample End,
    double FdsPer1000, double SocketsPer1000, string Verdict, IReadOnlyList<SoakSample> Samples,
    string Protocol, string CloseMode, int TimeWaitAdded, long? ServerResets);

/// <summary>Source-generated JSON for the soak report.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(SoakJson))]
public sealed partial class SoakJsonContext : JsonSerializerContext;

/// <summary>Writes soak results as JSON, CSV and charts (ScottPlot over SkiaSharp, PNG and SVG).</summary>
public static class SoakReport
{
    /// <summary>Builds the JSON document.</summary>
    /// <param name="results">The results.</param>
    /// <param name="iterations">Iterations per pattern.</param>
    /// <param name="sampleEvery">Sample interval.</param>
    /// <param name="target">The target description.</param>
    /// <param name="exitCode">The exit code.</param>
    /// <returns>The JSON text.</returns>
    public static string Json(IReadOnlyList<SoakResult> results, int iterations, int sampleEvery, string target, int exitCode)
    {
        ArgumentNullException.ThrowIfNull(results);
        var doc = new SoakJson(
            TetherCli.LibraryVersion,
            iterations,
            sampleEvery,
            target,
            exitCode,
            results.Select(r => new SoakPatternJson(
                r.Pattern.Name, Kind(r), r.Pattern.Description, r.Iterations, r.Errors, Math.Round(r.Seconds, 2), r.Start, r.End,
                r.FdsPer1000, r.SocketsPer1000, r.Verdict, r.Samples, r.Protocol, r.CloseMode, r.TimeWaitAdded, r.ServerResets)).ToList());
        return JsonSerializer.Serialize(doc, SoakJsonContext.Default.SoakJson);
    }

    /// <summary>The summary CSV: one row per pattern with the table's numbers.</summary>
    /// <param name="results">The results.</param>
    /// <returns>CSV text.</returns>
    public static string SummaryCsv(IReadOnlyList<SoakResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var sb = new StringBuilder("pattern,kind,iterations,errors,fds_start,fds_end,established_start,established_end,time_wait_start,time_wait_end,close_wait_start,close_wait_end,fds_per_1000,sockets_per_1000,verdict,protocol,idle_close,time_wait_added,server_resets\n");
        foreach (SoakResult r in results)
        {
            sb.AppendLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{r.Pattern.Name},{Kind(r)},{r.Iterations},{r.Errors},{r.Start.Fds},{r.End.Fds},{r.Start.Established},{r.End.Established},{r.Start.TimeWait},{r.End.TimeWait},{r.Start.CloseWait},{r.End.CloseWait},{r.FdsPer1000:0.0},{r.SocketsPer1000:0.0},{r.Verdict},{r.Protocol},{r.CloseMode},{r.TimeWaitAdded},{r.ServerResets}"));
        }

        return sb.ToString();
    }

    /// <summary>The samples CSV: one row per sample.</summary>
    /// <param name="results">The results.</param>
    /// <returns>CSV text.</returns>
    public static string SamplesCsv(IReadOnlyList<SoakResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var sb = new StringBuilder("pattern,kind,iteration,fds,sockets,established,close_wait,time_wait,unix,epoll,eventfd,pipes,files,other_fds\n");
        foreach (SoakResult r in results)
        {
            foreach (SoakSample s in r.Samples)
            {
                sb.AppendLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{r.Label},{Kind(r)},{s.Iteration},{s.Fds},{s.Sockets},{s.Established},{s.CloseWait},{s.TimeWait},{s.Unix},{s.Epoll},{s.EventFd},{s.Pipes},{s.Files},{s.OtherFds}"));
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// Checks, before a soak runs, that <paramref name="directory"/> can hold the report: creates it if missing and writes
    /// and deletes a probe file. Issue 14 item 8: the check used to come after the whole run, as exit 4.
    /// </summary>
    /// <param name="directory">The report directory.</param>
    /// <returns>Null when usable, else a one-line usage message naming the directory and the cause.</returns>
    public static string? CheckDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (File.Exists(directory))
        {
            return $"--report '{directory}' is a file; give a directory (it is created if missing).";
        }

        string probe = Path.Combine(directory, $".tether-report-probe-{Environment.ProcessId}");
        try
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(probe, "probe");
            File.Delete(probe);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return $"--report '{directory}' is not a writable directory ({ex.Message}); choose another DIR.";
        }
    }

    /// <summary>Writes soak.json, summary.csv, samples.csv, soak.png and soak.svg into <paramref name="directory"/>.</summary>
    /// <param name="directory">The report directory (created if missing).</param>
    /// <param name="results">The results.</param>
    /// <param name="json">The JSON text.</param>
    /// <param name="iterations">Iterations per pattern asked for (for the chart title).</param>
    /// <param name="exitCode">The soak's exit code (for the chart title).</param>
    /// <returns>The files written.</returns>
    public static IReadOnlyList<string> Write(string directory, IReadOnlyList<SoakResult> results, string json, int iterations, int exitCode)
    {
        ArgumentNullException.ThrowIfNull(results);
        Directory.CreateDirectory(directory);
        var files = new List<string>();
        void Text(string name, string content)
        {
            string path = Path.Combine(directory, name);
            File.WriteAllText(path, content);
            files.Add(path);
        }

        Text("soak.json", json);
        Text("summary.csv", SummaryCsv(results));
        Text("samples.csv", SamplesCsv(results));
        string png = Path.Combine(directory, "soak.png");
        string svg = Path.Combine(directory, "soak.svg");
        Charts(results, png, svg, iterations, exitCode);
        files.Add(png);
        files.Add(svg);
        return files;
    }

    private const int PanelWidth = 560;
    private const int PanelHeight = 330;
    private const int Columns = 3;
    private const int TitleHeight = 96;

    /// <summary>The chart title: iterations, exit code and every pattern's verdict.</summary>
    /// <param name="results">The results.</param>
    /// <param name="iterations">Iterations per pattern.</param>
    /// <param name="exitCode">The exit code.</param>
    /// <returns>Two lines: the run, then the verdicts.</returns>
    public static (string Run, string Tether, string Naive) Title(IReadOnlyList<SoakResult> results, int iterations, int exitCode)
    {
        ArgumentNullException.ThrowIfNull(results);
        var tether = results.Where(r => r.Pattern.IsTether).ToList();
        var naive = results.Where(r => !r.Pattern.IsTether).ToList();
        string run = string.Create(CultureInfo.InvariantCulture, $"tether soak {TetherCli.LibraryVersion}: {iterations} iterations per pattern, exit {exitCode}")
            + (exitCode == 0 ? " (every Tether pattern flat)" : exitCode == 3 ? " (a Tether pattern grows)" : exitCode == 130 ? " (interrupted)" : string.Empty);
        string t = tether.Count == 0
            ? "Tether patterns: none run"
            : tether.All(r => r.Verdict == "flat")
                ? $"Tether patterns ({tether.Count}, one shared scale): all flat"
                : "Tether patterns: " + string.Join(", ", tether.Select(r => $"{r.Label} {r.Verdict}"));
        string n = naive.Count == 0
            ? string.Empty
            : "naive .NET patterns (own scale): " + string.Join(", ", naive.Select(r => string.Create(
                CultureInfo.InvariantCulture, $"{r.Label} {r.Verdict} ({r.End.Fds - r.Start.Fds:+0;-0;0} fds)")));
        return (run, t, n);
    }

    /// <summary>
    /// Renders one panel per pattern (fds above baseline, ESTABLISHED and CLOSE_WAIT on the left axis; TIME_WAIT, which
    /// holds no fd, dashed on the right axis) under a title with the iterations and every verdict, to PNG and SVG. Tether
    /// panels share one left scale so flat lines compare; naive panels have their own scale and a tinted background.
    /// </summary>
    /// <param name="results">The results.</param>
    /// <param name="pngPath">PNG file.</param>
    /// <param name="svgPath">SVG file.</param>
    /// <param name="iterations">Iterations per pattern.</param>
    /// <param name="exitCode">The exit code.</param>
    public static void Charts(IReadOnlyList<SoakResult> results, string pngPath, string svgPath, int iterations, int exitCode)
    {
        ArgumentNullException.ThrowIfNull(results);
        IReadOnlyList<(double Bottom, double Top)> scales = Scales(results);
        var plots = results.Select((r, i) => Panel(r, scales[i], iterations, legend: i == 0)).ToList();
        int rows = Math.Max(1, (plots.Count + Columns - 1) / Columns);
        int width = PanelWidth * Columns, height = TitleHeight + (PanelHeight * rows);
        (string run, string tether, string naive) = Title(results, iterations, exitCode);

        using (var surface = SKSurface.Create(new SKImageInfo(width, height)))
        {
            Draw(surface.Canvas, plots, width, run, tether, naive, exitCode);
            using SKImage image = surface.Snapshot();
            using SKData data = image.Encode(SKEncodedImageFormat.Png, 100);
            using FileStream file = File.Create(pngPath);
            data.SaveTo(file);
        }

        using (FileStream file = File.Create(svgPath))
        {
            using (var managed = new SKManagedWStream(file))
            using (SKCanvas canvas = SKSvgCanvas.Create(new SKRect(0, 0, width, height), managed))
            {
                Draw(canvas, plots, width, run, tether, naive, exitCode);
            }
        }
    }

    /// <summary>
    /// The left-axis limits of each pattern's panel, in order: one shared scale for every Tether pattern (so their flat
    /// lines compare), its own for each naive pattern. The bottom is 0 unless the fds-above-baseline line goes below 0.
    /// </summary>
    /// <param name="results">The results.</param>
    /// <returns>One (bottom, top) per result.</returns>
    public static IReadOnlyList<(double Bottom, double Top)> Scales(IReadOnlyList<SoakResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        static IEnumerable<double> Values(SoakResult r) => r.Samples.SelectMany(s => new double[] { s.Fds - r.Start.Fds, s.Established, s.CloseWait });
        (double Bottom, double Top) tether = Scale(results.Where(r => r.Pattern.IsTether).SelectMany(Values));
        return [.. results.Select(r => r.Pattern.IsTether ? tether : Scale(Values(r)))];
    }

    // Socket counts never go below 0; fds above baseline may (a pattern that ends below its baseline), and only then
    // does the axis go below 0. At least 0..10 so a flat line reads as flat, not as noise blown up to full height.
    private static (double Bottom, double Top) Scale(IEnumerable<double> values)
    {
        double min = 0, max = 10;
        foreach (double v in values)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }

        return (min < 0 ? min - 1 : 0, max * 1.12);
    }

    private static void Draw(SKCanvas canvas, List<Plot> plots, int width, string run, string tether, string naive, int exitCode)
    {
        canvas.Clear(SKColors.White);
        using var typeface = SKTypeface.FromFamilyName("DejaVu Sans") ?? SKTypeface.Default;
        using var big = new SKFont(typeface, 24);
        using var small = new SKFont(typeface, 17);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var green = new SKPaint { Color = new SKColor(0x1b, 0x7f, 0x3b), IsAntialias = true };
        using var red = new SKPaint { Color = new SKColor(0xc0, 0x1c, 0x28), IsAntialias = true };
        using var orange = new SKPaint { Color = new SKColor(0xb3, 0x5c, 0x00), IsAntialias = true };
        canvas.DrawText(run, 16, 32, SKTextAlign.Left, big, ink);
        canvas.DrawText(tether, 16, 60, SKTextAlign.Left, small, exitCode == 3 ? red : green);
        canvas.DrawText(naive, 16, 84, SKTextAlign.Left, small, orange);
        for (int i = 0; i < plots.Count; i++)
        {
            float left = i % Columns * PanelWidth, top = TitleHeight + (i / Columns * PanelHeight);
            canvas.Save();
            canvas.ClipRect(new SKRect(left, top, left + PanelWidth, top + PanelHeight)); // Render clears what it may draw on
            plots[i].Render(canvas, new PixelRect(left, left + PanelWidth, top + PanelHeight, top));
            canvas.Restore();
        }

        _ = width;
    }

    private static Plot Panel(SoakResult r, (double Bottom, double Top) scale, int iterations, bool legend)
    {
        var plot = new Plot();
        bool naive = !r.Pattern.IsTether;
        string verdict = naive ? $"{r.Verdict} (naive .NET)" : r.Verdict == "grows" ? "GROWS" : r.Verdict;
        plot.Title($"{r.Label}: {verdict}", size: 15);
        plot.Axes.Title.Label.ForeColor = naive ? Color.FromHex("#b35c00") : r.IsFlat ? Color.FromHex("#1b7f3b") : Color.FromHex("#c01c28");
        plot.XLabel("iteration", size: 12);
        plot.YLabel(naive ? "fds / sockets (own scale)" : "fds / sockets (shared scale)", size: 12);
        plot.Axes.Right.Label.Text = "TIME_WAIT (no fd)";
        plot.Axes.Right.Label.FontSize = 12;
        if (naive)
        {
            plot.DataBackground.Color = Color.FromHex("#fff6e0");
        }

        double[] xs = r.Samples.Select(s => (double)s.Iteration).ToArray();
        void Line(string name, Func<SoakSample, double> y, string hex, float width, bool right)
        {
            var line = plot.Add.Scatter(xs, r.Samples.Select(y).ToArray(), Color.FromHex(hex));
            line.LineWidth = width;
            line.MarkerSize = 0;
            line.LegendText = name;
            if (right)
            {
                line.LinePattern = LinePattern.Dashed;
                line.Axes.YAxis = plot.Axes.Right;
            }
        }

        Line("fds above baseline", s => s.Fds - r.Start.Fds, "#1f4fd1", 3, right: false);
        Line("ESTABLISHED", s => s.Established, "#2ca02c", 2, right: false);
        Line("CLOSE_WAIT", s => s.CloseWait, "#d62728", 2, right: false);
        Line("TIME_WAIT (right axis)", s => s.TimeWait, "#7f7f7f", 1.5f, right: true);
        plot.Axes.SetLimitsX(0, Math.Max(iterations, r.Iterations));
        plot.Axes.SetLimitsY(scale.Bottom, scale.Top, plot.Axes.Left);
        plot.Axes.SetLimitsY(0, Math.Max(10, r.Samples.Max(s => s.TimeWait)) * 1.12, plot.Axes.Right);
        if (legend)
        {
            plot.ShowLegend(Alignment.UpperLeft);
            plot.Legend.FontSize = 11;
        }
        else
        {
            plot.HideLegend();
        }

        return plot;
    }

    private static string Kind(SoakResult r) => r.Pattern.IsTether ? "tether" : "naive";
}
