using System.Net.Sockets;
using System.Text;
using Tether.Diagnostics;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;
using static Tether.Tests.Fault.HostileAssert;

namespace Tether.Tests.Fault;

/// <summary>FAULT-07: a huge header line or ten thousand headers fail with "headers too large" and bounded memory.
/// Process alone: the allocation is measured with the process-wide GC.GetTotalAllocatedBytes (a fetch's work hops
/// threads, so a per-thread count would miss it), which would also count what tests running beside it allocate.</summary>
[Collection(CensusCollection.Name)]
public sealed class HeaderMemoryTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    /// <summary>Upper bound for the failure: a few ms unloaded, while a hang would last the client's 5 s request
    /// timeout; 3 s is the margin for a loaded 2-core machine.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(3);

    [Theory]
    [Trait("Spec", "FAULT-07")]
    [InlineData(true)]
    [InlineData(false)]
    public async Task FAULT_07_huge_header_line_or_ten_thousand_headers_fail_headers_too_large_with_bounded_memory(bool oneHugeLine)
    {
        // Memory is bounded by the limit, not by what the server sends: the same failure against a response 4× as
        // large allocates about the same. Responses are built before measuring, so the delta is the fetch's own.
        var what = oneHugeLine ? "1 MiB line" : "10,000 headers";
        var normal = await HeaderFailureAllocation(what, BuildHeaders(oneHugeLine, 1));
        var quadruple = await HeaderFailureAllocation(what + " ×4", BuildHeaders(oneHugeLine, 4));
        Assert.True(normal < 1024 * 1024, $"{what}: allocated {normal} bytes (limit 64 KiB)");
        Assert.True(quadruple < normal * 3 / 2 + 64 * 1024,
            $"{what}: allocation grows with the response: {normal} bytes, then {quadruple} bytes for 4× the headers");
    }

    private static byte[] BuildHeaders(bool oneHugeLine, int scale)
    {
        var head = new StringBuilder("HTTP/1.1 200 OK\r\n");
        if (oneHugeLine)
        {
            head.Append("X-Huge: ").Append('a', scale * 1024 * 1024).Append("\r\n");
        }
        else
        {
            for (var i = 0; i < scale * 10_000; i++)
            {
                head.Append("X-Header-").Append(i).Append(": v\r\n");
            }
        }

        return Encoding.ASCII.GetBytes(head.Append("Content-Length: 2\r\n\r\nok").ToString());
    }

    private async Task<long> HeaderFailureAllocation(string what, byte[] response)
    {
        await using var hostile = HostileServer.StartRaw(response);
        var check = LeakCheck.Start(server, hostile.Port);
        long allocated;
        await using (var client = NewClient())
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            var error = await Fails599($"FAULT-07 ({what})", client, hostile.Url(), FetchErrorKind.HeadersTooLarge, Bound);
            allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            Measure("FAULT-07", $"{what} ({response.Length} bytes sent): {allocated} bytes allocated");
            Assert.Contains("MaxHeaderSize = 65536", error.Message, StringComparison.Ordinal);
        }

        await check.AssertCleanAsync();
        return allocated;
    }
}
