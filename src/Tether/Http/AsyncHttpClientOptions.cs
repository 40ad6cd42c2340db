using Microsoft.Extensions.Logging;

namespace Tether;

/// <summary>Who closes an <see cref="AsyncHttpClient"/>.</summary>
public enum ClientOwnership
{
    /// <summary>Created inside an <see cref="EventLoop"/>: that loop closes it when it ends. Created outside any loop:
    /// the caller closes it.</summary>
    Auto,

    /// <summary>The caller closes it, wherever it was created; no loop ever does.</summary>
    Caller,
}

/// <summary>Options of an <see cref="AsyncHttpClient"/>. Validated at the first fetch; frozen after that (a
/// later set throws <see cref="InvalidOperationException"/>), except <see cref="Defaults"/>, which are validated again
/// at the next fetch after each change.</summary>
public sealed class AsyncHttpClientOptions
{
    private bool _frozen;
    private int _maxClients = 10;
    private ConnectionPool? _pool;
    private ConnectionPoolOptions? _poolOptions;
    private ClientOwnership _ownership;
    private ILogger? _logger;
    private string? _name;
    private TimeProvider? _timeProvider;

    /// <summary>Most fetches in flight at once; the rest wait in a FIFO queue (see
    /// <see cref="FetchSettings.QueueTimeout"/>).</summary>
    /// <value>1 or more; default 10, Tornado's <c>max_clients</c>, for clients created with these options (a loop's
    /// <see cref="AsyncHttpClient.Shared"/> too). Code without a loop is not held to it (CORE-07):
    /// <see cref="AsyncHttpClient.Shared"/> outside a loop, <see cref="TetherHttpMessageHandler"/> and the DI package's
    /// clients default to <see cref="int.MaxValue"/> (no queue), like a default SocketsHttpHandler.</value>
    public int MaxClients { get => _maxClients; set => Set(ref _maxClients, value); }

    /// <summary>Defaults for every request of this client; a value set on the request wins. Unlike the other options
    /// they stay settable after the first fetch; a fetch after a change validates them again and fails with the same
    /// <see cref="OptionsValidationException"/> as a first fetch would (nothing is sent) if a value is invalid.</summary>
    public FetchSettings Defaults { get; } = new();

    /// <summary>A pool to lease connections from instead of the client's own, e.g. <see cref="ConnectionPool.Process"/>
    /// so that loop-per-call code reuses one keep-alive connection. The client never closes a pool it leases from;
    /// closing the client closes only the connections its own fetches and responses hold.</summary>
    /// <value>Default <see langword="null"/>: the client owns a private pool and closes it with itself.</value>
    public ConnectionPool? Pool { get => _pool; set => Set(ref _pool, value); }

    /// <summary>Options of the client's private pool (ignored when <see cref="Pool"/> is set).</summary>
    /// <value>Default <see langword="null"/>: the <see cref="ConnectionPoolOptions"/> defaults (the private pool's
    /// <see cref="ConnectionPool.Options"/> is then one frozen instance shared by every such pool).</value>
    public ConnectionPoolOptions? PoolOptions { get => _poolOptions; set => Set(ref _poolOptions, value); }

    /// <summary>Who closes the client.</summary>
    /// <value>Default <see cref="ClientOwnership.Auto"/>.</value>
    public ClientOwnership Ownership { get => _ownership; set => Set(ref _ownership, value); }

    /// <summary>Where warnings go; stderr when null.</summary>
    public ILogger? Logger { get => _logger; set => Set(ref _logger, value); }

    /// <summary>A name for logs and the ledger; default <c>AsyncHttpClient#N</c>.</summary>
    public string? Name { get => _name; set => Set(ref _name, value); }

    /// <summary>The clock of the client's own timers: the <see cref="FetchSettings.QueueTimeout"/> wait for a
    /// <see cref="MaxClients"/> slot, the <see cref="FetchSettings.RequestTimeout"/> deadline (and what is left of it for
    /// a streamed body), each <see cref="FetchSettings.BodyTimeout"/> read, the drain limits of redirect and challenge
    /// hops, and <see cref="FetchResponse.TimeInfo"/>. A private pool (no <see cref="Pool"/>) uses it too unless
    /// <see cref="ConnectionPoolOptions.TimeProvider"/> is set. Set a fake clock (<c>FakeTimeProvider</c> from
    /// Microsoft.Extensions.TimeProvider.Testing) to test timeout logic without waiting: a deadline then fires only when
    /// the test advances that clock. The sockets and <see cref="SocketsHttpHandler"/>'s own timers stay on real
    /// time.</summary>
    /// <value>Default <see langword="null"/>: the clock of the loop that owns the client
    /// (<see cref="EventLoop.TimeProvider"/>, given to <see cref="EventLoop.Run(Func{Task}, TimeProvider, CancellationToken, string, int, string)"/>)
    /// when a loop owns it, else <see cref="System.TimeProvider.System"/>. Resolved at the first fetch. With
    /// <see cref="System.TimeProvider.System"/> a fetch costs exactly what it did before this option existed.</value>
    public TimeProvider? TimeProvider { get => _timeProvider; set => Set(ref _timeProvider, value); }

    internal bool IsFrozen => _frozen;

    internal void Freeze() => _frozen = true;

    /// <summary>Every invalid value; an empty list, allocated nowhere, when the options are valid (a loop per call
    /// validates a client's options per call).</summary>
    internal IReadOnlyList<string> Validate()
    {
        List<string>? problems = null;
        if (MaxClients <= 0)
        {
            (problems ??= []).Add($"MaxClients = {MaxClients}: must be 1 or more (default 10).");
        }

        var settings = SettingsValidation.Validate(Defaults, "Defaults.");
        if (settings.Count > 0)
        {
            (problems ??= []).AddRange(settings);
        }

        if (PoolOptions is { IsFrozen: false })
        {
            foreach (var problem in PoolOptions.Validate())
            {
                (problems ??= []).Add("PoolOptions." + problem);
            }
        }

        return (IReadOnlyList<string>?)problems ?? [];
    }

    private void Set<T>(ref T field, T value)
    {
        if (_frozen)
        {
            throw new InvalidOperationException(
                "AsyncHttpClientOptions cannot be changed after the client's first fetch; set options before using it, " +
                "or set per-request values on FetchRequest.");
        }

        field = value;
    }
}
