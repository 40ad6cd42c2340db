using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Tether.Diagnostics;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Http;

/// <summary>Helpers for the HTTP-04/06/09/10/12/13 tests: raw responses, content codings, and the per-port clean check
/// (ledger empty for the test's server, no client socket ESTABLISHED or CLOSE_WAIT towards its port).</summary>
internal static class BodyTestKit
{
    /// <summary>An HTTP/1.1 response: status line, the given header lines, and the body.</summary>
    public static byte[] Response(byte[] body, params string[] headers) =>
        [.. Encoding.Latin1.GetBytes("HTTP/1.1 200 OK\r\n" + string.Concat(headers.Select(h => h + "\r\n")) + "\r\n"), .. body];

    /// <summary>An HTTP/1.1 200 with Content-Length and the given extra header lines.</summary>
    public static byte[] WithLength(byte[] body, params string[] headers) =>
        Response(body, [$"Content-Length: {body.Length}", .. headers]);

    /// <summary>Applies <paramref name="codings"/> in the order listed (the first listed is applied first, as in
    /// Content-Encoding). "deflate" is zlib-wrapped, "deflate-raw" is RFC 1951 without a wrapper (sent as deflate).</summary>
    public static byte[] Encode(byte[] plain, IEnumerable<string> codings)
    {
        var data = plain;
        foreach (var coding in codings)
        {
            data = Apply(data, coding);
        }

        return data;
    }

    public static byte[] Apply(byte[] data, string coding)
    {
        using var output = new MemoryStream();
        using (Stream encoder = coding.ToLowerInvariant() switch
        {
            "gzip" or "x-gzip" => new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true),
            "deflate" => new ZLibStream(output, CompressionLevel.Fastest, leaveOpen: true),
            "deflate-raw" => new DeflateStream(output, CompressionLevel.Fastest, leaveOpen: true),
            "br" => new BrotliStream(output, CompressionLevel.Fastest, leaveOpen: true),
            "identity" => new NonClosing(output),
            _ => throw new ArgumentException(coding),
        })
        {
            encoder.Write(data);
        }

        return output.ToArray();
    }

    /// <summary>The header name a coding is sent under.</summary>
    public static string Wire(string coding) => coding == "deflate-raw" ? "deflate" : coding;

    public static readonly byte[] Plain = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 200).Select(i => $"line {i} of the plain body\n")));

    /// <summary>Waits (at most 5 s, generous for a loaded 2-core machine) until no ledger entry and no client socket
    /// (ESTABLISHED/CLOSE_WAIT) points at <paramref name="port"/>, then asserts it.</summary>
    public static async Task AssertCleanAsync(int port)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var ledger = SocketLedger.Snapshot().Where(e => e.RemoteEndPoint?.Port == port || e.HostKey.EndsWith($":{port}", StringComparison.Ordinal)).ToList();
            // This process's own sockets (Support/OwnTcpSockets: the census's kernel state without reading the whole TCP
            // tables on every poll; issue 13, CI time).
            var census = OwnTcpSockets.Snapshot()
                .Where(s => s.RemotePort == port && s.State is TcpState.Established or TcpState.CloseWait).ToList();
            if (ledger.Count == 0 && census.Count == 0)
            {
                return;
            }

            if (sw.Elapsed > TimeSpan.FromSeconds(5))
            {
                Assert.Fail($"waited 5 s for nothing to be left towards port {port}: ledger [{string.Join("; ", ledger)}], " +
                    $"sockets [{string.Join("; ", census)}]");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Waits (bounded) for <paramref name="condition"/>, failing with <paramref name="what"/>. The default 5 s:
    /// what the body tests wait for (a connection leaving the ledger, a server seeing a close) takes milliseconds on
    /// loopback unloaded, so 5 s is the margin for a loaded 2-core machine.</summary>
    public static async Task WaitForAsync(Func<bool> condition, string what, double seconds = 5)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(seconds))
            {
                Assert.Fail($"waited {seconds} s for {what}");
            }

            await Task.Delay(20);
        }
    }

    private sealed class NonClosing(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    }
}
