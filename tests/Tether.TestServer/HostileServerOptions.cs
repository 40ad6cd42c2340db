namespace Tether.TestServer;

/// <summary>Knobs for <see cref="HostileServer"/>; each applies only to the behaviours that name it.</summary>
public sealed class HostileServerOptions
{
    /// <summary>The invalid status line of <see cref="HostileBehavior.GarbageStatusLine"/>.</summary>
    /// <value>Default <see cref="GarbageStatusLineVariant.Foo"/>.</value>
    public GarbageStatusLineVariant GarbageVariant { get; set; } = GarbageStatusLineVariant.Foo;

    /// <summary>How long <see cref="HostileBehavior.IdleCloseKeepAlive"/> lets a connection sit idle before closing it.</summary>
    /// <value>Default 200 ms.</value>
    public TimeSpan IdleClose { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The pause before a reset or close, so the client has read what was sent.</summary>
    /// <value>Default 50 ms.</value>
    public TimeSpan ResetDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The pause between bytes of <see cref="HostileBehavior.TrickleOneBytePerSecond"/>.</summary>
    /// <value>Default 1 s.</value>
    public TimeSpan TrickleInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Whether <see cref="HostileBehavior.TrickleOneBytePerSecond"/> trickles the head too.</summary>
    /// <value>Default <see langword="false"/> (head at once, body trickled).</value>
    public bool TrickleHeaders { get; set; }

    /// <summary>Body size in bytes for the behaviours that send a pattern body.</summary>
    /// <value>Default 100,000.</value>
    public int BodySize { get; set; } = 100_000;

    /// <summary>The inflated size of <see cref="HostileBehavior.GzipBomb"/>, in bytes.</summary>
    /// <value>Default 1 GiB. Each size is compressed once per process and cached.</value>
    public long GzipBombInflatedSize { get; set; } = 1L << 30;
}
