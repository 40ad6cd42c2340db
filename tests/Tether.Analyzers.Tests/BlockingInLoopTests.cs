namespace Tether.Analyzers.Tests;

public class BlockingInLoopTests
{
    [Fact]
    public async Task Result_on_a_fetch_inside_Run_is_an_error()
    {
        await Verify.AnalyzerAsync<BlockingInLoopAnalyzer>("""
            using System.Threading.Tasks;
            using Tether;
            class C
            {
                void M()
                {
                    EventLoop.Run(() =>
                    {
                        var response = {|#0:AsyncHttpClient.Shared.FetchAsync("http://localhost/").Result|};
                        return Task.CompletedTask;
                    });
                }
            }
            """,
            Verify.Diagnostic(Descriptors.BlockingInLoop).WithArguments(".Result"));
    }

    [Fact]
    public async Task Wait_and_GetResult_inside_Run_are_errors()
    {
        await Verify.AnalyzerAsync<BlockingInLoopAnalyzer>("""
            using System.Net.Http;
            using System.Threading.Tasks;
            using Tether;
            class C
            {
                static readonly HttpClient Http = new HttpClient();
                void M()
                {
                    EventLoop.Run(async () =>
                    {
                        var pending = AsyncHttpClient.Shared.FetchAsync("http://localhost/");
                        {|#0:pending.Wait()|};
                        var text = {|#1:Http.GetStringAsync("http://localhost/").ConfigureAwait(false).GetAwaiter().GetResult()|};
                        await Task.Yield();
                    });
                }
            }
            """,
            Verify.Diagnostic(Descriptors.BlockingInLoop, 0).WithArguments(".Wait()"),
            Verify.Diagnostic(Descriptors.BlockingInLoop, 1).WithArguments(".GetAwaiter().GetResult()"));
    }

    [Fact]
    public async Task Awaiting_or_blocking_outside_a_loop_does_not_report()
    {
        await Verify.AnalyzerAsync<BlockingInLoopAnalyzer>("""
            using System.Threading.Tasks;
            using Tether;
            class C
            {
                void Outside(AsyncHttpClient client)
                {
                    // Not on a loop thread (a sync wrapper's job, but not a deadlock).
                    var response = client.FetchAsync("http://localhost/").GetAwaiter().GetResult();
                }

                void Inside()
                {
                    EventLoop.Run(async () =>
                    {
                        var response = await AsyncHttpClient.Shared.FetchAsync("http://localhost/");
                        var pending = AsyncHttpClient.Shared.FetchAsync("http://localhost/");
                        await pending;
                        var again = pending.Result; // already completed
                        var both = AsyncHttpClient.Shared.FetchAsync("http://localhost/");
                        await Task.WhenAll(both);
                        _ = both.Result.Code;
                        var delay = Task.Delay(1);
                        delay.Wait(); // not a fetch
                    });
                }
            }
            """);
    }
}
