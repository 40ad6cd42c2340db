using Xunit;

namespace Tether.Tests.Pool;

/// <summary>The FIFO semaphore behind MaxClients and the pool's slots, at the capacities the defaults use.</summary>
public sealed class AsyncFifoSemaphoreTests
{
    // Regression (found when CORE-05's table eviction met CORE-07's uncapped process pool): ReleaseAll gave the permits
    // back one at a time, so on an int.MaxValue-capacity semaphore it looped two billion times under the lock and
    // every fetch of that origin waited behind it.
    [Fact]
    [Trait("Spec", "CORE-05")]
    public async Task CORE_05_release_all_on_an_uncapped_semaphore_serves_the_queued_waiters_in_order_and_frees_the_rest()
    {
        var slots = new AsyncFifoSemaphore(int.MaxValue);
        Assert.True(slots.TryReserveAll());
        var first = slots.WaitAsync(Timeout.InfiniteTimeSpan, TestContext.Current.CancellationToken).AsTask();
        var second = slots.WaitAsync(Timeout.InfiniteTimeSpan, TestContext.Current.CancellationToken).AsTask();
        Assert.False(first.IsCompleted);

        slots.ReleaseAll();

        Assert.True(await first);
        Assert.True(await second);
        Assert.Equal(2, slots.InUse);
        Assert.Equal(0, slots.Waiting);
        Assert.True(slots.TryTake());
        slots.Release();
        slots.Release();
        slots.Release();
        Assert.True(slots.IsQuiet);
    }

    [Fact]
    [Trait("Spec", "CORE-05")]
    public async Task CORE_05_release_all_hands_at_most_capacity_permits_to_waiters()
    {
        var slots = new AsyncFifoSemaphore(1);
        Assert.True(slots.TryReserveAll());
        var first = slots.WaitAsync(Timeout.InfiniteTimeSpan, TestContext.Current.CancellationToken).AsTask();
        var second = slots.WaitAsync(Timeout.InfiniteTimeSpan, TestContext.Current.CancellationToken).AsTask();

        slots.ReleaseAll();

        Assert.True(await first);
        Assert.False(second.IsCompleted); // one permit, one waiter served; the other still queued, in order
        slots.Release();
        Assert.True(await second);
        slots.Release();
        Assert.True(slots.IsQuiet);
    }
    // Issue 16 (third hot-path pass): a free permit is taken and given back lock-free when nobody is queued. These
    // stress the meeting of that fast path with queued waiters: never more holders than permits, no waiter left
    // queued next to a free permit (a lost wake-up would hang a worker: the bounded wait below fails instead), and
    // no permit lost or invented when waiters time out meanwhile.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [Trait("Spec", "CORE-05")]
    public async Task CORE_05_lock_free_take_and_release_never_over_grant_nor_lose_a_wake_up(int capacity)
    {
        var slots = new AsyncFifoSemaphore(capacity);
        var holders = 0;
        var maxHolders = 0;
        var waited = 0;
        const int Workers = 6;
        const int Rounds = 20_000;

        async Task Work()
        {
            await Task.Yield();
            for (var i = 0; i < Rounds; i++)
            {
                if (!slots.TryTake())
                {
                    Interlocked.Increment(ref waited);
                    Assert.True(await slots.WaitAsync(Timeout.InfiniteTimeSpan, CancellationToken.None));
                }

                var now = Interlocked.Increment(ref holders);
                InterlockedMax(ref maxHolders, now);
                if ((i & 7) == 0)
                {
                    await Task.Yield(); // hold across a hop now and then, so waiters queue
                }

                Interlocked.Decrement(ref holders);
                slots.Release();
            }
        }

        // Every permit is held here first, so the workers start by queueing (the waiter path is exercised whatever the
        // scheduling); they are let go once one is queued.
        for (var i = 0; i < capacity; i++)
        {
            Assert.True(slots.TryTake());
        }

        var workers = Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(Work)));
        var queuedBy = DateTime.UtcNow + TimeSpan.FromSeconds(30); // a loaded 2-core machine; it takes microseconds
        while (slots.Waiting == 0)
        {
            Assert.True(DateTime.UtcNow < queuedBy, "waited 30 s for a worker to queue behind the held permits");
            await Task.Delay(1, TestContext.Current.CancellationToken);
        }

        for (var i = 0; i < capacity; i++)
        {
            slots.Release();
        }

        // 6 x 20,000 take/release pairs take well under a second; 60 s is for a loaded 2-core machine. A lost wake-up
        // leaves a worker queued forever, so this wait fails instead of hanging.
        await workers.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        Assert.True(maxHolders <= capacity, $"{maxHolders} holders at once with {capacity} permits");
        Assert.True(waited > 0, "no worker ever queued: the test did not exercise the waiter path");
        Assert.Equal(0, slots.InUse);
        Assert.Equal(0, slots.Waiting);
        Assert.True(slots.IsQuiet);
        Assert.True(slots.TryReserveAll()); // every permit is back, exactly
    }

    [Fact]
    [Trait("Spec", "CORE-05")]
    public async Task CORE_05_waiters_that_time_out_while_permits_come_back_leave_the_count_exact()
    {
        const int Capacity = 2;
        var slots = new AsyncFifoSemaphore(Capacity);
        var holders = 0;
        var maxHolders = 0;
        var timedOut = 0;

        async Task Work(int seed)
        {
            await Task.Yield();
            for (var i = 0; i < 2_000; i++)
            {
                // Some waits are short enough to time out while others hold the permits.
                var timeout = (i + seed) % 3 == 0 ? TimeSpan.FromMilliseconds(1) : Timeout.InfiniteTimeSpan;
                if (!await slots.WaitAsync(timeout, CancellationToken.None))
                {
                    Interlocked.Increment(ref timedOut);
                    continue; // timed out: holds nothing, releases nothing
                }

                InterlockedMax(ref maxHolders, Interlocked.Increment(ref holders));
                await Task.Yield();
                Interlocked.Decrement(ref holders);
                slots.Release();
            }
        }

        // Bounded as above (60 s for a loaded machine; the work takes about a second).
        await Task.WhenAll(Enumerable.Range(0, 6).Select(seed => Task.Run(() => Work(seed))))
            .WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        Assert.True(maxHolders <= Capacity, $"{maxHolders} holders at once with {Capacity} permits");
        Assert.Equal(0, slots.InUse);
        Assert.Equal(0, slots.Waiting);
        Assert.True(slots.TryReserveAll()); // neither lost nor invented a permit
        slots.ReleaseAll();
        Assert.True(slots.IsQuiet);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref target, value, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }
}
