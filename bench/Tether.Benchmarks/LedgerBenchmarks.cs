using BenchmarkDotNet.Attributes;
using Tether.Diagnostics;

namespace Tether.Benchmarks;

/// <summary>The per-socket bookkeeping of the ledger, without any network: recording a socket in the ledger and
/// removing it (every connect), describing one entry (every snapshot row) and a snapshot. Since the core redesign
/// (issue 16) the ledger does no per-request work: no fetch is attached to a connection and no ambient operation is
/// set, so there is no per-request benchmark here any more.</summary>
[MemoryDiagnoser]
public class LedgerBenchmarks
{
    private ConnectionPool _pool = null!;
    private TrackedConnection _connection = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new ConnectionPool();
        _connection = new TrackedConnection(_pool, "http://127.0.0.1:9", "bench", "bench-client", null, Timeout.InfiniteTimeSpan);
        SocketLedger.Add(_connection);   // one live entry for the snapshot benchmark
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        SocketLedger.Remove(_connection);
        await _pool.DisposeAsync();
    }

    [Benchmark(Baseline = true, Description = "ledger record + release (per socket)")]
    public void RecordRelease()
    {
        var connection = new TrackedConnection(_pool, "http://127.0.0.1:9", "bench", "bench-client", null, Timeout.InfiniteTimeSpan);
        SocketLedger.Add(connection);
        SocketLedger.Remove(connection);
    }

    [Benchmark(Description = "TrackedConnection.ToEntry() (per snapshot row)")]
    public LedgerEntry Describe() => _connection.ToEntry();

    [Benchmark(Description = "SocketLedger.Snapshot() (1 live entry)")]
    public int Snapshot() => SocketLedger.Snapshot().Count;
}
