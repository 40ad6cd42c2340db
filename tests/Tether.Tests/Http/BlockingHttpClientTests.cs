using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Http;

/// <summary>LOOP-22: the blocking wrapper (Tornado's HTTPClient).</summary>
public sealed class BlockingHttpClientTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    [Trait("Spec", "LOOP-22")]
    public void LOOP_22_blocking_client_fetches_500_times_leaves_nothing_raises_404_and_refuses_to_run_inside_a_loop()
    {
        var check = LeakCheck.Start(server);
        using (var client = new BlockingHttpClient())
        {
            for (var i = 0; i < 500; i++)
            {
                Assert.Equal(200, client.Fetch(server.Url("/hello").ToString()).Code);
            }

            var notFound = Assert.Throws<FetchException>(() => client.Fetch(server.Url("/status/404").ToString()));
            Assert.Equal((404, FetchErrorKind.HttpStatus), (notFound.Code, notFound.Kind));
            Assert.Equal(1, client.Client.Pool!.Count);

            var misuse = EventLoop.Run(async () =>
            {
                await Task.Yield();
                return Assert.Throws<LoopMisuseException>(() => client.Fetch(server.Url("/hello").ToString()));
            });
            Assert.Equal(LoopMisuseKind.BlockingInLoop, misuse.Kind);
            Assert.Contains("BlockingHttpClient.Fetch", misuse.Message);
        }

        check.AssertClean();
    }
}
