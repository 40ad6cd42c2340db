using BenchmarkDotNet.Attributes;
using Tether.Diagnostics;

namespace Tether.Benchmarks;

/// <summary>The per-request and per-socket bookkeeping of the ledger, without any network: attaching a fetch to a
/// tracked connection and detaching it (every request), recording a socket in the ledger and removing it (every
/// connect), and the ambient-operation hand-off the ledger stream reads (every request).</summary>
[MemoryDiagnoser]
public class LedgerBenchmarks
{
    private ConnectionPool _pool = null!;
    private AsyncHttpClient _client = null!;
    private FetchOperation _operation = null!;
    private TrackedConnection _connection = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new ConnectionPool();
        _client = new AsyncHttpClient(new AsyncHttpClientOptions { Ownership = ClientOwnership.Caller, Name = "bench" });
        var request = new FetchRequest("http://127.0.0.1:9/hello");
        _operation = new FetchOperation(_client, null, request, RequestBuilder.Resolve(request, new FetchSettings()));
        _connection = new TrackedConnection(_pool, "http://127.0.0.1:9", "bench", Timeout.InfiniteTimeSpan);
        SocketLedger.Add(_connection);   // one live entry for the snapshot benchmark
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        SocketLedger.Remove(_connection);
        _client.Dispose();
        await _pool.DisposeAsync();
    }

    [Benchmark(Baseline = true, Description = "TrackedConnection.Attach + Detach (per request)")]
    public void AttachDetach()
    {
        _connection.Attach(_operation);
        _connection.Detach(_operation);
    }

    [Benchmark(Description = "ledger record + release (per socket)")]
    public void RecordRelease()
    {
        var connection = new TrackedConnection(_pool, "http://127.0.0.1:9", "bench", Timeout.InfiniteTimeSpan);
        SocketLedger.Add(connection);
        SocketLedger.Remove(connection);
    }

    [Benchmark(Description = "FetchOperation.Current set + read + clear (per request)")]
    public bool AmbientOperation()
    {
        FetchOperation.Current = _operation;
        var seen = FetchOperation.Current == _operation;
        FetchOperation.Current = null;
        return seen;
    }

    [Benchmark(Description = "SocketLedger.Snapshot() (1 live entry)")]
    public int Snapshot() => SocketLedger.Snapshot().Count;
}
