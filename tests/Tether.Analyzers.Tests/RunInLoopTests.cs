using Microsoft.CodeAnalysis;

namespace Tether.Analyzers.Tests;

public class RunInLoopTests
{
    private const string WithClient =
        ", and the body uses an HTTP client, so a client and its sockets are set up and torn down (or stranded) per iteration";

    [Fact]
    public async Task Run_in_a_while_loop_that_creates_a_client_warns()
    {
        await Verify.AnalyzerAsync<RunInLoopAnalyzer>("""
            using Tether;
            class C
            {
                void M()
                {
                    while (true)
                    {
                        {|#0:EventLoop.Run(async () =>
                        {
                            await using var client = new AsyncHttpClient();
                            using var response = await client.FetchAsync("http://localhost/");
                        })|};
                    }
                }
            }
            """,
            Verify.Diagnostic(Descriptors.RunInLoop).WithArguments(WithClient));
    }

    [Fact]
    public async Task Run_in_a_loop_capturing_an_outer_client_warns()
    {
        await Verify.AnalyzerAsync<RunInLoopAnalyzer>("""
            using Tether;
            class C
            {
                void M()
                {
                    var client = new AsyncHttpClient();
                    for (var i = 0; i < 100; i++)
                    {
                        {|#0:EventLoop.Run(() => client.FetchAsync("http://localhost/"))|};
                    }
                }
            }
            """,
            Verify.Diagnostic(Descriptors.RunInLoop).WithArguments(WithClient));
    }

    [Fact]
    public async Task Run_in_a_loop_without_a_client_is_info()
    {
        await Verify.AnalyzerAsync<RunInLoopAnalyzer>("""
            using System.Threading.Tasks;
            using Tether;
            class C
            {
                void M(int[] items)
                {
                    foreach (var item in items)
                    {
                        {|#0:EventLoop.Run(() => Task.Delay(item))|};
                    }
                }
            }
            """,
            Verify.Diagnostic(Descriptors.RunInLoopInfo).WithSeverity(DiagnosticSeverity.Info).WithArguments(""));
    }

    [Fact]
    public async Task One_Run_with_an_inner_loop_does_not_report()
    {
        await Verify.AnalyzerAsync<RunInLoopAnalyzer>("""
            using Tether;
            class C
            {
                void M()
                {
                    EventLoop.Run(async () =>
                    {
                        var client = AsyncHttpClient.Shared;
                        while (true)
                        {
                            using var response = await client.FetchAsync("http://localhost/");
                        }
                    });
                }
            }
            """);
    }
}
