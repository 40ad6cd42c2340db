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

    [Fact]
    [Trait("Spec", "CLIENT-06")]
    public void CLIENT_06_blocking_client_fetch_after_dispose_names_the_blocking_client_where_it_was_disposed_and_its_fix()
    {
        var check = LeakCheck.Start(server);
        var client = new BlockingHttpClient();
        Assert.Equal(200, client.Fetch(server.Url("/hello").ToString()).Code);
        client.Dispose();

        // The caller made a BlockingHttpClient, not an AsyncHttpClient: the error names what they hold and its fix.
        var closed = Assert.Throws<ClientClosedException>(() => client.Fetch(server.Url("/hello").ToString()));
        Assert.StartsWith($"BlockingHttpClient over {client.Client.Name} is closed", closed.Message, StringComparison.Ordinal);
        Assert.Contains("Create a new BlockingHttpClient", closed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Create a new AsyncHttpClient", closed.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(CLIENT_06_blocking_client_fetch_after_dispose_names_the_blocking_client_where_it_was_disposed_and_its_fix), closed.ClosedAt, StringComparison.Ordinal);
        Assert.Contains(nameof(CLIENT_06_blocking_client_fetch_after_dispose_names_the_blocking_client_where_it_was_disposed_and_its_fix), closed.CreatedAt, StringComparison.Ordinal);
        check.AssertClean();
    }

    [Fact]
    [Trait("Spec", "LOOP-22")]
    public void LOOP_22_blocking_client_leaves_the_callers_options_unchanged_so_they_can_be_shared()
    {
        var check = LeakCheck.Start(server);
        var url = server.Url("/hello").ToString();

        // Options already used by another client are frozen: the blocking client must not write to them.
        var used = new AsyncHttpClientOptions { MaxClients = 3 };
        using (var first = new BlockingHttpClient(used))
        {
            Assert.Equal(200, first.Fetch(url).Code);
            using var second = new BlockingHttpClient(used);
            Assert.Equal(200, second.Fetch(url).Code);
        }

        // The same options given to a client created inside a loop still make a loop-owned client, which the loop
        // closes: a blocking client made with them first must not have turned them into caller-owned options.
        var options = new AsyncHttpClientOptions();
        using (var blocking = new BlockingHttpClient(options))
        {
            Assert.Equal(200, blocking.Fetch(url).Code);
        }

        Assert.Equal(ClientOwnership.Auto, options.Ownership);
        var owned = EventLoop.Run(async () =>
        {
            var client = new AsyncHttpClient(options);
            Assert.Equal(200, (await client.FetchAsync(url)).Code);
            Assert.Same(EventLoop.Current, client.OwnerLoop);
            return client;
        });
        Assert.True(owned.IsClosed);
        check.AssertClean();
    }
}
