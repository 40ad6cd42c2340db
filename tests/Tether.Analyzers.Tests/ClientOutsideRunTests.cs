namespace Tether.Analyzers.Tests;

public class ClientOutsideRunTests
{
    private const string Message =
        "AsyncHttpClient 'client' is created outside EventLoop.Run but used only inside its lambda, so its sockets outlive the loop; create it inside the lambda with 'await using' or use AsyncHttpClient.Shared";

    [Fact]
    public async Task Client_built_outside_Run_and_used_only_inside_warns()
    {
        await Verify.AnalyzerAsync<ClientOutsideRunAnalyzer>("""
            using Tether;
            class C
            {
                void M()
                {
                    var client = {|#0:new AsyncHttpClient()|};
                    EventLoop.Run(async () =>
                    {
                        using var response = await client.FetchAsync("http://localhost/");
                    });
                }
            }
            """,
            Verify.Diagnostic(Descriptors.ClientOutsideRun).WithMessage(Message));
    }

    [Fact]
    public async Task Using_declaration_outside_Run_still_warns()
    {
        await Verify.AnalyzerAsync<ClientOutsideRunAnalyzer>("""
            using Tether;
            class C
            {
                int M() 
                {
                    using var client = {|#0:new AsyncHttpClient()|};
                    return EventLoop.Run(async () => (await client.FetchAsync("http://localhost/")).Code);
                }
            }
            """,
            Verify.Diagnostic(Descriptors.ClientOutsideRun).WithArguments("client"));
    }

    [Fact]
    public async Task Correct_patterns_do_not_report()
    {
        await Verify.AnalyzerAsync<ClientOutsideRunAnalyzer>("""
            using System.Threading.Tasks;
            using Tether;
            class C
            {
                void Inside()
                {
                    EventLoop.Run(async () =>
                    {
                        await using var client = new AsyncHttpClient();
                        using var response = await client.FetchAsync("http://localhost/");
                    });
                }

                void Shared()
                {
                    EventLoop.Run(async () =>
                    {
                        using var response = await AsyncHttpClient.Shared.FetchAsync("http://localhost/");
                    });
                }

                async Task UsedOutsideToo()
                {
                    await using var client = new AsyncHttpClient();
                    await client.FetchAsync("http://localhost/");
                    EventLoop.Run(async () => { await client.FetchAsync("http://localhost/"); });
                }

                void NotUsed()
                {
                    using var client = new AsyncHttpClient();
                    EventLoop.Run(() => Task.CompletedTask);
                }
            }
            """);
    }

    [Fact]
    public async Task Fix_moves_the_construction_into_a_block_lambda()
    {
        await Verify.CodeFixAsync<ClientOutsideRunAnalyzer, ClientOutsideRunCodeFix>("""
            using Tether;
            class C
            {
                void M()
                {
                    var client = {|#0:new AsyncHttpClient()|};
                    EventLoop.Run(async () =>
                    {
                        using var response = await client.FetchAsync("http://localhost/");
                    });
                }
            }
            """, """
            using Tether;
            class C
            {
                void M()
                {
                    EventLoop.Run(async () =>
                    {
                        await using var client = new AsyncHttpClient();
                        using var response = await client.FetchAsync("http://localhost/");
                    });
                }
            }
            """,
            ClientOutsideRunCodeFix.MoveInsideKey,
            Verify.Diagnostic(Descriptors.ClientOutsideRun).WithArguments("client"));
    }

    [Fact]
    public async Task Fix_moves_the_construction_into_an_expression_lambda_returning_a_value()
    {
        await Verify.CodeFixAsync<ClientOutsideRunAnalyzer, ClientOutsideRunCodeFix>("""
            using Tether;
            class C
            {
                int M()
                {
                    using var client = {|#0:new AsyncHttpClient()|};
                    return EventLoop.Run(async () => (await client.FetchAsync("http://localhost/")).Code);
                }
            }
            """, """
            using Tether;
            class C
            {
                int M()
                {
                    return EventLoop.Run(async () =>
                    {
                        await using var client = new AsyncHttpClient();
                        return (await client.FetchAsync("http://localhost/")).Code;
                    });
                }
            }
            """,
            ClientOutsideRunCodeFix.MoveInsideKey,
            Verify.Diagnostic(Descriptors.ClientOutsideRun).WithArguments("client"));
    }

    [Fact]
    public async Task Fix_switches_to_Shared()
    {
        await Verify.CodeFixAsync<ClientOutsideRunAnalyzer, ClientOutsideRunCodeFix>("""
            using Tether;
            class C
            {
                void M()
                {
                    var client = {|#0:new AsyncHttpClient()|};
                    EventLoop.Run(async () =>
                    {
                        using var response = await client.FetchAsync("http://localhost/");
                    });
                }
            }
            """, """
            using Tether;
            class C
            {
                void M()
                {
                    EventLoop.Run(async () =>
                    {
                        using var response = await AsyncHttpClient.Shared.FetchAsync("http://localhost/");
                    });
                }
            }
            """,
            ClientOutsideRunCodeFix.UseSharedKey,
            Verify.Diagnostic(Descriptors.ClientOutsideRun).WithArguments("client"));
    }

    [Fact]
    public async Task Fix_for_a_non_async_lambda_switches_to_Shared()
    {
        await Verify.CodeFixAsync<ClientOutsideRunAnalyzer, ClientOutsideRunCodeFix>("""
            using Tether;
            class C
            {
                int M()
                {
                    var client = {|#0:new AsyncHttpClient()|};
                    var response = EventLoop.Run(() => client.FetchAsync("http://localhost/"));
                    return response.Code;
                }
            }
            """, """
            using Tether;
            class C
            {
                int M()
                {
                    var response = EventLoop.Run(() => AsyncHttpClient.Shared.FetchAsync("http://localhost/"));
                    return response.Code;
                }
            }
            """,
            ClientOutsideRunCodeFix.UseSharedKey,
            Verify.Diagnostic(Descriptors.ClientOutsideRun).WithArguments("client"));
    }
}
