using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Loop;

/// <summary>Loop tests that count whole-process threads and running loops. They run in the process-alone collection:
/// a test running beside them starts threads and loops of its own, which would make the count say nothing about
/// Tether.</summary>
[Collection(CensusCollection.Name)]
public sealed class ProcessAloneLoopTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private string Url(string path) => server.Url(path).ToString();

    [Fact]
    [Trait("Spec", "LOOP-09")]
    public void LOOP_09_thousands_of_loops_leave_no_threads_behind()
    {
        // The loops run on a thread of their own, as a program's main thread would: EventLoop.Run blocks its caller,
        // and blocking a thread-pool thread (xunit runs tests on the pool) would make the pool inject threads of
        // its own, which says nothing about Tether.
        int after100 = 0, after2000 = 0;
        Exception? failure = null;
        var runner = new Thread(() =>
        {
            try
            {
                Loops();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        runner.Start();
        Assert.True(runner.Join(TimeSpan.FromMinutes(2)), "2,000 loops did not finish in 2 minutes");
        Assert.Null(failure);
        Assert.True(after2000 - after100 <= 4, $"threads after 100 loops: {after100}, after 2,000: {after2000}");
        Assert.Equal(0, EventLoop.ActiveCount);

        void Loops()
        {
            for (var i = 0; i < 100; i++)
            {
                EventLoop.Run(async () => { await new AsyncHttpClient().FetchAsync(Url("/hello")); });
            }

            after100 = ThreadCount();
            for (var i = 100; i < 2000; i++)
            {
                EventLoop.Run(async () =>
                {
                    var loop = EventLoop.Current!;
                    loop.CallLater(TimeSpan.FromMinutes(1), () => { });
                    await new AsyncHttpClient().FetchAsync(Url("/hello"));
                });
            }

            after2000 = ThreadCount();
        }
    }

    private static int ThreadCount() => Directory.GetDirectories("/proc/self/task").Length;
}
