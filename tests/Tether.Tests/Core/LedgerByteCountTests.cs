using System.Text;
using Microsoft.Extensions.Time.Testing;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Core;

/// <summary>CORE-03 (issue 16): the ledger's byte counts are exact. On Linux with the system clock they are the
/// kernel's own counters (TCP_INFO, read when the snapshot is taken; reads and writes pay nothing); on a fake clock the
/// stream counts them. Both must equal, byte for byte, what a raw loopback server read and wrote on that connection.</summary>
public sealed class LedgerByteCountTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    [Trait("Spec", "CORE-03")]
    public async Task CORE_03_ledger_bytes_equal_what_the_server_read_and_wrote(bool fakeClock)
    {
        long serverRead = 0, serverWrote = 0;
        const string body = "counted by the kernel";
        await using var server = HostileServer.StartRaw(head =>
        {
            var response = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n\r\n{body}");
            Interlocked.Add(ref serverRead, head.Length);
            Interlocked.Add(ref serverWrote, response.Length);
            return response;
        }, closeAfter: false);

        // A fake clock that is never advanced: no deadline can fire, and the stream does the counting.
        await using var pool = new ConnectionPool(new ConnectionPoolOptions
        {
            TimeProvider = fakeClock ? new FakeTimeProvider() : TimeProvider.System,
        });
        await using var client = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = pool });
        for (var i = 0; i < 3; i++)
        {
            var response = await client.FetchAsync(server.Url($"/count/{i}").ToString(), TestContext.Current.CancellationToken);
            Assert.Equal(body, response.Text);
        }

        var entry = Assert.Single(pool.Snapshot());
        Assert.Equal(server.Port, entry.RemoteEndPoint!.Port);
        // The three requests went over one kept-alive connection, and each side has read everything the other sent.
        Assert.Equal(Interlocked.Read(ref serverRead), entry.BytesWritten);
        Assert.Equal(Interlocked.Read(ref serverWrote), entry.BytesRead);
        Assert.InRange(entry.LastUsedAt, entry.CreatedAt, fakeClock ? entry.CreatedAt : DateTimeOffset.UtcNow);
    }
}
