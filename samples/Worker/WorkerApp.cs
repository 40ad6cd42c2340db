using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using Tether.Diagnostics;
using Tether.Extensions.DependencyInjection;

namespace Tether.Samples.Worker;

/// <summary>
/// A worker service that polls a downstream URL with a Tether client it owns and exports socket metrics with the
/// OpenTelemetry console exporter: the meter <c>Tether</c> (the library's own instruments) and this
/// sample's <c>Tether.Samples.Worker</c> meter, whose gauges read the ledger and the census.
/// </summary>
public static class WorkerApp
{
    /// <summary>The sample's meter name.</summary>
    public const string MeterName = "Tether.Samples.Worker";

    /// <summary>Builds the host. Configuration: <c>Target</c> (URL to poll, required), <c>PollMilliseconds</c>
    /// (default 1000), <c>ExportMilliseconds</c> (default 5000), <c>Tether:*</c>.</summary>
    /// <param name="args">Command-line arguments (e.g. <c>--Target=http://127.0.0.1:5001/hello</c>).</param>
    /// <returns>The host, not yet started.</returns>
    public static IHost Build(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        var target = builder.Configuration["Target"]
            ?? throw new InvalidOperationException("Set Target (e.g. --Target=http://127.0.0.1:5001/hello) to the URL to poll.");
        var poll = TimeSpan.FromMilliseconds(builder.Configuration.GetValue("PollMilliseconds", 1000));
        var export = builder.Configuration.GetValue("ExportMilliseconds", 5000);

        builder.Services.AddTether(builder.Configuration.GetSection("Tether"));
        builder.Services.AddSingleton(new PollerSettings(target, poll));
        builder.Services.AddSingleton<PollerStats>();
        builder.Services.AddHostedService<Poller>();
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter("Tether", MeterName)
            .AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = export));
        return builder.Build();
    }
}

/// <summary>What the poller fetches and how often.</summary>
/// <param name="Target">The URL.</param>
/// <param name="Interval">The pause between fetches.</param>
public sealed record PollerSettings(string Target, TimeSpan Interval);

/// <summary>Counts and gauges of the poller (also published on the sample's meter).</summary>
public sealed class PollerStats : IDisposable
{
    private readonly Meter _meter = new(WorkerApp.MeterName);
    private long _fetches;
    private long _failures;

    /// <summary>Creates the instruments.</summary>
    public PollerStats()
    {
        _meter.CreateObservableCounter("tether.sample.fetches", () => Interlocked.Read(ref _fetches), "{fetch}", "Fetches completed by the poller.");
        _meter.CreateObservableCounter("tether.sample.fetch_failures", () => Interlocked.Read(ref _failures), "{fetch}", "Fetches that failed.");
        _meter.CreateObservableGauge("tether.sample.ledger.sockets", () => SocketLedger.Snapshot().Count, "{socket}",
            "Sockets in the Tether ledger (all pools of this process).");
        _meter.CreateObservableGauge("tether.sample.process.fds", () => SocketCensus.Take().TotalFds, "{fd}",
            "File descriptors of this process (SocketCensus).");
    }

    /// <summary>Fetches completed.</summary>
    public long Fetches => Interlocked.Read(ref _fetches);

    /// <summary>Fetches that failed.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    internal void Succeeded() => Interlocked.Increment(ref _fetches);

    internal void Failed() => Interlocked.Increment(ref _failures);

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}

/// <summary>The background service: owns one client (from <see cref="ITetherClientFactory"/>) for its whole run and
/// closes it when the host stops.</summary>
internal sealed class Poller(ITetherClientFactory factory, PollerSettings settings, PollerStats stats) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var client = factory.CreateClient(string.Empty);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                using var response = await client.FetchAsync(settings.Target, stoppingToken);
                stats.Succeeded();
            }
            catch (FetchException)
            {
                stats.Failed();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            try
            {
                await Task.Delay(settings.Interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }
}
