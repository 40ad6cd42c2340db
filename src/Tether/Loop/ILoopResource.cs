namespace Tether;

/// <summary>Something an <see cref="EventLoop"/> owns and must close when it ends.</summary>
internal interface ILoopResource
{
    /// <summary>Closes the resource because <paramref name="loop"/> is ending.</summary>
    Task CloseFromLoopAsync(EventLoop loop);
}
