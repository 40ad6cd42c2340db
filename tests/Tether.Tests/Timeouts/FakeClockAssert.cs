using Xunit;

namespace Tether.Tests.Timeouts;

/// <summary>The waits and checks of the fake-clock tests (issue 13): each real-time wait is bounded by
/// <see cref="DeadlineClock.RealBound"/> and fails with a message saying what it waited for.</summary>
internal static class FakeClockAssert
{
    /// <summary>Just before its deadline: the timer has not fired and the task is still running.</summary>
    public static void AssertPending(DeadlineClock.TrackedTimer deadline, Task task, string what)
    {
        Assert.False(deadline.HasFired, $"{what} fired before its deadline");
        Assert.False(task.IsCompleted, $"the fetch ended before {what}: {task.Exception?.InnerException?.Message ?? task.Status.ToString()}");
    }

    /// <summary>Polls <paramref name="condition"/> on real time until it holds.</summary>
    public static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + DeadlineClock.RealBound;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"waited {DeadlineClock.RealBound.TotalSeconds:0} s for {what}");
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Awaits a task that must fail (once the fake deadline fired, or the scope closed, the failure takes
    /// milliseconds of real time).</summary>
    public static async Task<TException> FailsWithin<TException>(Task task, string what)
        where TException : Exception
    {
        var finished = await Task.WhenAny(task, Task.Delay(DeadlineClock.RealBound, TestContext.Current.CancellationToken));
        Assert.True(ReferenceEquals(finished, task), $"waited {DeadlineClock.RealBound.TotalSeconds:0} s for {what}");
        return await Assert.ThrowsAnyAsync<TException>(() => task);
    }
}
