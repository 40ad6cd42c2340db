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
public sealed record SoakPatternJson(
    string Name, string Kind, string Description, int Iterations, int Errors, double Seconds, SoakSample Start, SoakSample End,
    double FdsPer1000, double SocketsPer1000, string Verdict, IReadOnlyList<SoakSample> Samples);

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
                r.FdsPer1000, r.SocketsPer1000, r.Verdict, r.Samples)).ToList());
        return JsonSerializer.Serialize(doc, SoakJsonContext.Default.SoakJson);
    }

    /// <summary>The summary CSV: one row per pattern with the table's numbers.</summary>
    /// <param name="results">The results.</param>
    /// <returns>CSV text.</returns>
    public static string SummaryCsv(IReadOnlyList<SoakResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var sb = new StringBuilder("pattern,kind,iterations,errors,fds_start,fds_end,established_start,established_end,time_wait_start,time_wait_end,close_wait_start,close_wait_end,fds_per_1000,sockets_per_1000,verdict\n");
        foreach (SoakResult r in results)
        {
            sb.AppendLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{r.Pattern.Name},{Kind(r)},{r.Iterations},{r.Errors},{r.Start.Fds},{r.End.Fds},{r.Start.Established},{r.End.Established},{r.Start.TimeWait},{r.End.TimeWait},{r.Start.CloseWait},{r.End.CloseWait},{r.FdsPer1000:0.0},{r.SocketsPer1000:0.0},{r.Verdict}"));
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
                    $"{r.Pattern.Name},{Kind(r)},{s.Iteration},{s.Fds},{s.Sockets},{s.Established},{s.CloseWait},{s.TimeWait},{s.Unix},{s.Epoll},{s.EventFd},{s.Pipes},{s.Files},{s.OtherFds}"));
            }
        }

        return sb.ToString();
    }

    /// <summary>Writes soak.json, summary.csv, samples.csv, soak.png and soak.svg into <paramref name="directory"/>.</summary>
    /// <param name="directory">The report directory (created if missing).</param>
    /// <param name="results">The results.</param>
    /// <param name="json">The JSON text.</param>
    /// <returns>The files written.</returns>
    public static IReadOnlyList<string> Write(string directory, IReadOnlyList<SoakResult> results, string json)
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
        Charts(results, png, svg);
        files.Add(png);
        files.Add(svg);
        return files;
    }

    private const int PanelWidth = 800;
    private const int PanelHeight = 420;

    /// <summary>Renders four panels (fds − baseline, ESTABLISHED, CLOSE_WAIT, TIME_WAIT per iteration; one line per pattern) to PNG and SVG.</summary>
    /// <param name="results">The results.</param>
    /// <param name="pngPath">PNG file.</param>
    /// <param name="svgPath">SVG file.</param>
    public static void Charts(IReadOnlyList<SoakResult> results, string pngPath, string svgPath)
    {
        ArgumentNullException.ThrowIfNull(results);
        (string Title, string YLabel, Func<SoakResult, SoakSample, double> Y)[] panels =
        [
            ("fds above baseline", "fds - baseline", (r, s) => s.Fds - r.Start.Fds),
            ("ESTABLISHED towards the server (client side)", "sockets", (_, s) => s.Established),
            ("CLOSE_WAIT towards the server (client side)", "sockets", (_, s) => s.CloseWait),
            ("TIME_WAIT towards the server (kernel, no fd)", "sockets", (_, s) => s.TimeWait),
        ];
        var plots = panels.Select((p, i) => Panel(results, p.Title, p.YLabel, p.Y, legend: i == 0)).ToList();
        int width = PanelWidth * 2, height = PanelHeight * 2;

        using (var surface = SKSurface.Create(new SKImageInfo(width, height)))
        {
            Draw(surface.Canvas, plots);
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
                Draw(canvas, plots);
            }
        }
    }

    private static void Draw(SKCanvas canvas, List<Plot> plots)
    {
        canvas.Clear(SKColors.White);
        for (int i = 0; i < plots.Count; i++)
        {
            float left = i % 2 * PanelWidth, top = i / 2 * PanelHeight;
            canvas.Save();
            canvas.ClipRect(new SKRect(left, top, left + PanelWidth, top + PanelHeight)); // Render clears what it may draw on
            plots[i].Render(canvas, new PixelRect(left, left + PanelWidth, top + PanelHeight, top));
            canvas.Restore();
        }
    }

    private static Plot Panel(IReadOnlyList<SoakResult> results, string title, string yLabel, Func<SoakResult, SoakSample, double> y, bool legend)
    {
        var plot = new Plot();
        plot.Title(title, size: 14);
        plot.XLabel("iteration");
        plot.YLabel(yLabel);
        IPalette palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < results.Count; i++)
        {
            SoakResult r = results[i];
            double[] xs = r.Samples.Select(s => (double)s.Iteration).ToArray();
            double[] ys = r.Samples.Select(s => y(r, s)).ToArray();
            var line = plot.Add.Scatter(xs, ys, palette.GetColor(i));
            line.MarkerSize = 3;
            line.LineWidth = r.Pattern.IsTether ? 2 : 3;
            line.MarkerShape = r.Pattern.IsTether ? MarkerShape.FilledCircle : MarkerShape.FilledSquare;
            line.LegendText = r.Pattern.Name + (r.Pattern.IsTether ? string.Empty : " (naive)");
        }

        if (legend)
        {
            plot.ShowLegend(Alignment.UpperLeft);
        }
        else
        {
            plot.HideLegend();
        }
        plot.Axes.Margins(0.02, 0.1);
        return plot;
    }

    private static string Kind(SoakResult r) => r.Pattern.IsTether ? "tether" : "naive";
}
