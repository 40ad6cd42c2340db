using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Tether.Diagnostics;
using Tether.Extensions.DependencyInjection;

namespace Tether.Samples.MinimalApi;

/// <summary>
/// An ASP.NET Core minimal API that calls a downstream service through Tether clients from DI: a scoped named client
/// per request (closed when the request ends), the same pool behind an IHttpClientFactory client (UseTether), and a
/// /tether/ledger endpoint that shows the sockets the app holds.
/// </summary>
public static class MinimalApiApp
{
    /// <summary>Builds the app. Configuration: <c>Downstream</c> (base URL, required), <c>Tether:Pool:*</c>,
    /// <c>Tether:Clients:downstream:*</c>; <c>--urls</c> as usual.</summary>
    /// <param name="args">Command-line arguments (e.g. <c>--Downstream=http://127.0.0.1:5001/ --urls=http://127.0.0.1:0</c>).</param>
    /// <returns>The app, not yet started.</returns>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var downstream = new Uri(builder.Configuration["Downstream"]
            ?? throw new InvalidOperationException("Set Downstream (e.g. --Downstream=http://127.0.0.1:5001/) to the service to call."));

        builder.Services.AddTether(builder.Configuration.GetSection("Tether"));
        builder.Services.AddTetherClient("downstream", builder.Configuration.GetSection("Tether:Clients:downstream"));
        builder.Services.AddHttpClient("downstream-http", c => c.BaseAddress = downstream).UseTether();

        var app = builder.Build();

        // A scoped client: created for this request, closed (with any socket its unfinished fetches hold) when it ends.
        app.MapGet("/hello", async ([FromKeyedServices("downstream")] AsyncHttpClient client, CancellationToken ct) =>
        {
            var response = await client.FetchAsync(new Uri(downstream, "hello").ToString(), ct);
            return Results.Text($"downstream said: {response.Text}");
        });

        // Plain HttpClient code (Refit, generated clients) on the same pool and ledger.
        app.MapGet("/hello-http", async (IHttpClientFactory factory, CancellationToken ct) =>
        {
            var http = factory.CreateClient("downstream-http");
            var text = await http.GetStringAsync(new Uri("hello", UriKind.Relative), ct);
            return Results.Text($"downstream said: {text}");
        });

        app.MapGet("/tether/ledger", (TetherPool pool) => Results.Json(pool.Pool.Snapshot().Select(e => new
        {
            e.Id,
            e.HostKey,
            State = e.State.ToString(),
            e.RequestsServed,
            e.OwnerClient,
        })));

        return app;
    }
}
