using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Tether.Extensions.DependencyInjection;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Ecosystem;

/// <summary>CORE-08 through the DI package (review 2026-12-02): requests sent by a <c>UseTether()</c> client are measured by
/// the container's <see cref="IMeterFactory"/>, once, as a default IHttpClientFactory primary handler's are.</summary>
public sealed class BridgeMeterFactoryTests
{
    [Fact]
    [Trait("Spec", "CORE-08")]
    public async Task CORE_08_UseTether_requests_are_measured_once_by_the_containers_meter_factory_like_the_default_handler()
    {
        // IHttpClientFactory gives the default primary handler the container's IMeterFactory (SocketsHttpHandler.MeterFactory,
        // dotnet/runtime#89665 "HttpClientFactory should flow IMeterFactory"), so MetricCollector / meter-factory listeners of
        // an app's test host see its HttpClient requests; a UseTether() client must be seen there too, once per request.
        var ct = TestContext.Current.CancellationToken;
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: ct);
        var check = LeakCheck.Start(server);
        await using (var provider = TestContainer.Build(s =>
        {
            // Connection: close for the plain client: IHttpClientFactory does not dispose its handlers when the
            // container is disposed (dotnet/runtime#113494), so a keep-alive socket of it would outlive the test.
            s.AddHttpClient("plain", c => c.DefaultRequestHeaders.ConnectionClose = true);
            s.AddHttpClient("bridged").UseTether();
        }))
        {
            var factory = provider.GetRequiredService<IMeterFactory>();
            var scoped = new ConcurrentDictionary<string, int>();
            var anywhere = new ConcurrentDictionary<string, int>();
            using var listener = new MeterListener();
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "http.client.request.duration")
                {
                    l.EnableMeasurementEvents(instrument, ReferenceEquals(instrument.Meter.Scope, factory));
                }
            };
            listener.SetMeasurementEventCallback<double>((instrument, _, tags, state) =>
            {
                var path = "";
                foreach (var tag in tags)
                {
                    if (tag.Key == "server.port" && tag.Value is int port && port == server.Port)
                    {
                        path = "hit";
                    }
                }

                if (path.Length > 0)
                {
                    var inFactory = (bool)state!;
                    (inFactory ? scoped : anywhere).AddOrUpdate(Thread.CurrentThread.ManagedThreadId.ToString(), 1, (_, n) => n + 1);
                }
            });
            listener.Start();
            var clients = provider.GetRequiredService<IHttpClientFactory>();

            int Count(ConcurrentDictionary<string, int> d) => d.Values.Sum();
            (await clients.CreateClient("plain").GetAsync(server.Url("/hello"), ct)).Dispose();
            var plainScoped = Count(scoped);
            var plainAll = Count(scoped) + Count(anywhere);
            (await clients.CreateClient("bridged").GetAsync(server.Url("/hello"), ct)).Dispose();
            var bridgedScoped = Count(scoped) - plainScoped;
            var bridgedAll = Count(scoped) + Count(anywhere) - plainAll;
            Assert.Equal((1, 1), (plainScoped, plainAll));
            Assert.Equal((plainScoped, plainAll), (bridgedScoped, bridgedAll));
        }

        await check.AssertCleanAsync();
    }
}
