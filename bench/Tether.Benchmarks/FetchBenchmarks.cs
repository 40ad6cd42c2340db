using BenchmarkDotNet.Attributes;
using Tether.TestServer;

namespace Tether.Benchmarks;

/// <summary>One GET over a warm keep-alive connection to an in-process Kestrel server: Tether's FetchAsync against
/// HttpClient.GetAsync + ReadAsByteArrayAsync (the baseline). Both read the whole body into one array.</summary>
/// <remarks>Kestrel runs in this process, so time and allocations include the server's share, which is the same for
/// both methods: the difference between the rows is the client's. MemoryDiagnoser counts bytes of the whole process
/// (GC.GetTotalAllocatedBytes), so a background timer (Tether's reaper, every 250 ms) is included too.</remarks>
[MemoryDiagnoser]
public class FetchBenchmarks
{
    private KestrelTestServer _server = null!;
    private AsyncHttpClient _tether = null!;
    private HttpClient _raw = null!;
    private string _url = null!;
    private Uri _uri = null!;

    /// <summary>13-byte /hello and the 1 MiB /bytes/1048576.</summary>
    [Params("/hello", "/bytes/1048576")]
    public string Path { get; set; } = "/hello";

    [GlobalSetup]
    public async Task Setup()
    {
        _server = await KestrelTestServer.StartAsync();
        _uri = _server.Url(Path);
        _url = _uri.ToString();
        _tether = new AsyncHttpClient(new AsyncHttpClientOptions { Ownership = ClientOwnership.Caller, Name = "bench" });
        _raw = new HttpClient(new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(20) };

        // Warm both connections so every measured call reuses a keep-alive connection.
        await TetherFetch();
        await RawGet();
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _tether.DisposeAsync();
        _raw.Dispose();
        await _server.DisposeAsync();
    }

    [Benchmark(Baseline = true, Description = "HttpClient.GetAsync")]
    public async Task<int> RawGet()
    {
        using var response = await _raw.GetAsync(_uri);
        var body = await response.Content.ReadAsByteArrayAsync();
        return body.Length;
    }

    [Benchmark(Description = "AsyncHttpClient.FetchAsync")]
    public async Task<int> TetherFetch()
    {
        var response = await _tether.FetchAsync(_url);
        return response.Body.Length;
    }
}
