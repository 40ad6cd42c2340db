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
}
