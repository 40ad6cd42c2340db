using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Core;

/// <summary>
/// Issue 16 (cost): the fetch path resolves a client's defaults once per change (a version counter), shares what is
/// resolved from equal defaults between clients, parses a URL once, and names a call site with one stack walk per
/// source line. These caches must never change what a fetch does: each test changes or varies a setting and checks
/// that the fetch obeys the value it should see.
/// </summary>
public sealed class HotPathCacheTests
{
    [Fact]
    public async Task A_default_changed_after_the_first_fetch_applies_to_the_next_fetch()
    {
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        await using var client = new AsyncHttpClient();
        var url = server.Url("/redirect/1").ToString();

        var followed = await client.FetchAsync(url, TestContext.Current.CancellationToken);
        Assert.Equal(200, followed.Code);

        // The resolved defaults are cached; the change must be seen by the very next fetch.
        client.Options.Defaults.FollowRedirects = false;
        client.Options.Defaults.RaiseOnError = false;
        var notFollowed = await client.FetchAsync(url, TestContext.Current.CancellationToken);
        Assert.Equal(302, notFollowed.Code);

        client.Options.Defaults.FollowRedirects = true;
        Assert.Equal(200, (await client.FetchAsync(url, TestContext.Current.CancellationToken)).Code);
    }

    [Fact]
    public async Task Clients_with_different_defaults_do_not_share_resolved_settings_and_equal_ones_agree()
    {
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var url = server.Url("/redirect/1").ToString();

        AsyncHttpClient Make(bool follow)
        {
            var options = new AsyncHttpClientOptions();
            options.Defaults.FollowRedirects = follow;
            options.Defaults.RaiseOnError = false;
            return new AsyncHttpClient(options);
        }

        // Interleaved, so that a process-wide cache keyed wrongly would hand one client the other's settings.
        for (var i = 0; i < 3; i++)
        {
            await using var follows = Make(follow: true);
            await using var stays = Make(follow: false);
            await using var followsToo = Make(follow: true);
            Assert.Equal(302, (await stays.FetchAsync(url, TestContext.Current.CancellationToken)).Code);
            Assert.Equal(200, (await follows.FetchAsync(url, TestContext.Current.CancellationToken)).Code);
            Assert.Equal(200, (await followsToo.FetchAsync(url, TestContext.Current.CancellationToken)).Code);
        }
    }

    [Fact]
    public async Task A_request_value_still_wins_over_cached_client_defaults()
    {
        await using var server = await KestrelTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        await using var client = new AsyncHttpClient();
        var url = server.Url("/redirect/1").ToString();
        Assert.Equal(200, (await client.FetchAsync(url, TestContext.Current.CancellationToken)).Code); // caches defaults

        var response = await client.FetchAsync(new FetchRequest(url) { FollowRedirects = false, RaiseOnError = false },
            TestContext.Current.CancellationToken);
        Assert.Equal(302, response.Code);
    }

    [Fact]
    public void Clients_made_on_one_line_share_one_site_string_and_each_line_names_its_own()
    {
        static (string A, string B) TwoOnOneLine()
        {
            using var a = new AsyncHttpClient(); using var b = new AsyncHttpClient();
            return (a.AllocationSite, b.AllocationSite);
        }

        var (first, second) = TwoOnOneLine();
        Assert.Same(first, second); // one walk per source line, then the same string
        Assert.Matches(@"^Tether\.Tests\.Core\.HotPathCacheTests\.TwoOnOneLine \(HotPathCacheTests\.cs:\d+\)$", first);

        using var elsewhere = new AsyncHttpClient();
        Assert.NotEqual(first, elsewhere.AllocationSite); // another line, another site
        Assert.Matches(@"\(HotPathCacheTests\.cs:\d+\)$", elsewhere.AllocationSite);
    }

    [Fact]
    public void Loops_name_their_call_site_once_per_line()
    {
        string Site() => EventLoop.Run(() => Task.FromResult(EventLoop.Current!.AllocationSite), TestContext.Current.CancellationToken);

        var first = Site();
        Assert.Same(first, Site());
        Assert.Matches(@"^Tether\.Tests\.Core\.HotPathCacheTests\.Site \(HotPathCacheTests\.cs:\d+\)$", first);
    }
}
