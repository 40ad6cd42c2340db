using Microsoft.CodeAnalysis;

namespace Tether.Analyzers.Tests;

public class ClientPerIterationTests
{
    private const string LoopAdvice =
        "create one client outside the loop and reuse it (AsyncHttpClient.Shared inside EventLoop.Run, a static readonly HttpClient, or an injected instance)";

    [Fact]
    public async Task HttpClient_created_in_a_while_body_warns()
    {
        await Verify.AnalyzerAsync<ClientPerIterationAnalyzer>("""
            using System.Net.Http;
            using System.Threading.Tasks;
            class C
            {
                async Task Poll(string url)
                {
                    while (true)
                    {
                        using var client = {|#0:new HttpClient()|};
                        await client.GetStringAsync(url);
                    }
                }
            }
            """,
            Verify.Diagnostic(Descriptors.ClientPerIteration).WithArguments(
                "HttpClient", "on every iteration of this loop",
                "create one client outside the loop and reuse it (AsyncHttpClient.Shared inside EventLoop.Run, a static readonly HttpClient, or an injected instance)"));
    }

    [Fact]
    public async Task AsyncHttpClient_created_per_iteration_inside_Run_warns()
    {
        await Verify.AnalyzerAsync<ClientPerIterationAnalyzer>("""
            using Tether;
            class C
            {
                void M(string[] urls)
                {
                    EventLoop.Run(async () =>
                    {
                        foreach (var url in urls)
                        {
                            await using var client = {|#0:new AsyncHttpClient()|};
                            using var response = await client.FetchAsync(url);
                        }
                    });
                }
            }
            """,
            Verify.Diagnostic(Descriptors.ClientPerIteration).WithArguments("AsyncHttpClient", "on every iteration of this loop", LoopAdvice));
    }

    [Fact]
    public async Task Client_used_directly_in_a_for_body_warns()
    {
        await Verify.AnalyzerAsync<ClientPerIterationAnalyzer>("""
            using System.Net.Http;
            using System.Threading.Tasks;
            class C
            {
                async Task M()
                {
                    for (var i = 0; i < 10; i++)
                    {
                        await {|#0:new HttpClient()|}.GetStringAsync("http://localhost/");
                    }
                }
            }
            """,
            Verify.Diagnostic(Descriptors.ClientPerIteration).WithArguments("HttpClient", "on every iteration of this loop", LoopAdvice));
    }

    [Fact]
    public async Task Client_created_and_disposed_per_call_is_info()
    {
        await Verify.AnalyzerAsync<ClientPerIterationAnalyzer>("""
            using System.Net.Http;
            using System.Threading.Tasks;
            class Service
            {
                public async Task<string> GetAsync(string url)
                {
                    using var client = {|#0:new HttpClient()|};
                    return await client.GetStringAsync(url);
                }
            }
            """,
            Verify.Diagnostic(Descriptors.ClientPerCall).WithSeverity(DiagnosticSeverity.Info).WithArguments(
                "HttpClient", "and disposed on every call of 'GetAsync'",
                "if this method runs repeatedly, reuse one client instead (AsyncHttpClient.Shared inside EventLoop.Run, a static readonly HttpClient, IHttpClientFactory, or an injected instance)"));
    }

    [Fact]
    public async Task Correct_patterns_do_not_report()
    {
        await Verify.AnalyzerAsync<ClientPerIterationAnalyzer>("""
            using System;
            using System.Collections.Generic;
            using System.Net.Http;
            using System.Threading.Tasks;
            using Tether;
            class C
            {
                private static readonly HttpClient Http = new HttpClient();
                private readonly HttpClient _owned;
                private readonly IHttpClientFactory _factory;

                C(IHttpClientFactory factory) { _factory = factory; _owned = new HttpClient(); }

                static void Main()
                {
                    // README: one loop, client built inside and closed with await using, loop inside.
                    EventLoop.Run(async () =>
                    {
                        await using var client = new AsyncHttpClient();
                        for (var i = 0; i < 3; i++)
                        {
                            using var r = await client.FetchAsync("http://localhost/");
                        }
                    });
                }

                async Task Loops(string[] urls)
                {
                    foreach (var url in urls)
                    {
                        await Http.GetStringAsync(url);
                        var fromFactory = _factory.CreateClient("api");
                        await fromFactory.GetStringAsync(url);
                    }
                    var outside = _owned;
                    while (true)
                    {
                        await outside.GetStringAsync(urls[0]);
                    }
                }

                List<HttpClient> Pool(int n)
                {
                    var pool = new List<HttpClient>();
                    for (var i = 0; i < n; i++)
                    {
                        pool.Add(new HttpClient());
                    }
                    return pool;
                }

                HttpClient Create() => new HttpClient();
            }

            namespace System.Net.Http
            {
                // Stand-in for Microsoft.Extensions.Http's factory.
                interface IHttpClientFactory { HttpClient CreateClient(string name); }
            }
            """);
    }

    [Fact]
    public async Task Top_level_program_with_await_using_does_not_report()
    {
        var test = new AnalyzerTest<ClientPerIterationAnalyzer>("""
            using Tether;
            await using var client = new AsyncHttpClient();
            using var response = await client.FetchAsync("http://localhost/");
            System.Console.WriteLine(response.Text);
            """);
        test.TestState.OutputKind = OutputKind.ConsoleApplication;
        await test.RunAsync(TestContext.Current.CancellationToken);
    }
}
