using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Tether.Diagnostics;

namespace Tether.Benchmarks;

/// <summary><see cref="SocketCensus.Take()"/> of this process while it holds <see cref="Pairs"/> connected loopback
/// TCP socket pairs (2 × Pairs sockets, both ends in this process, so both appear in /proc/net/tcp).</summary>
[MemoryDiagnoser]
public class CensusBenchmarks
{
    private readonly List<Socket> _sockets = new();
    private Socket? _listener;

    /// <summary>Socket pairs held open during the measurement (0, 2,000 = 4,000 sockets, 5,000 = 10,000 sockets).</summary>
    [Params(0, 2000, 5000)]
    public int Pairs { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(512);
        var endpoint = (IPEndPoint)_listener.LocalEndPoint!;
        for (var i = 0; i < Pairs; i++)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            client.Connect(endpoint);
            _sockets.Add(client);
            _sockets.Add(_listener.Accept());
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var s in _sockets)
        {
            s.Dispose();
        }

        _sockets.Clear();
        _listener?.Dispose();
    }

    [Benchmark(Description = "SocketCensus.Take()")]
    public int Take() => SocketCensus.Take().TotalFds;
}
