namespace Tether;

/// <summary>
/// Posts continuations to the owning <see cref="EventLoop"/>'s queue. After the loop has closed, posts run on the
/// thread pool instead, so that abandoned continuations still complete their <c>finally</c> blocks.
/// </summary>
internal sealed class LoopSynchronizationContext : SynchronizationContext
{
    private readonly EventLoop _loop;

    public LoopSynchronizationContext(EventLoop loop) => _loop = loop;

    public EventLoop Loop => _loop;

    public override void Post(SendOrPostCallback d, object? state)
    {
        if (!_loop.TryEnqueue(d, state, userCallback: false))
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.d(s.state), (d, state), preferLocal: false);
        }
    }

    public override void Send(SendOrPostCallback d, object? state)
    {
        if (Environment.CurrentManagedThreadId == _loop.ThreadId)
        {
            d(state);
            return;
        }

        using var done = new ManualResetEventSlim();
        Exception? error = null;
        Post(_ =>
        {
            try
            {
                d(state);
            }
            catch (Exception ex)
            {
                error = ex;
            }
            finally
            {
                done.Set();
            }
        }, null);
        done.Wait();
        if (error is not null)
        {
            throw error;
        }
    }

    public override SynchronizationContext CreateCopy() => this;
}
