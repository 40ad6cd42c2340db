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
        // Counted apart from the thread pool's own workers: the pool adds and retires workers as it sees the machine's
        // load (a clean CI run, where this test ran beside the build of another test project, saw it grow by 5), and
        // that is the runtime's doing. A thread a loop left behind (a loop thread, a timer thread per loop) would not
        // be a pool worker, so it is in the other count, which stays within 4 (the runtime's own threads, such as its
        // tiered-compilation worker, come and go).
        (int Pool, int Other) after100 = default, after2000 = default;
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
        // 2,000 loops take a few seconds unloaded; 2 minutes only bounds a hang on a loaded 2-core machine.
        Assert.True(runner.Join(TimeSpan.FromMinutes(2)), "2,000 loops did not finish in 2 minutes");
        Assert.Null(failure);
        Assert.True(after2000.Other - after100.Other <= 4,
            $"threads outside the thread pool after 100 loops: {after100.Other}, after 2,000: {after2000.Other} " +
            $"(thread-pool threads: {after100.Pool}, then {after2000.Pool})");
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

    private static (int Pool, int Other) ThreadCount()
    {
        var pool = ThreadPool.ThreadCount;
        return (pool, Directory.GetDirectories("/proc/self/task").Length - pool);
    }
}
