using System.Net;
using System.Text;
using Tether.TestServer;
using Xunit;
using static Tether.Tests.Http.BodyTestKit;

namespace Tether.Tests.Conformance;

/// <summary>
/// Differential cases for content codings (HTTP-04, issue 15 "coding matrix"): each raw response is served by one
/// loopback server to a plain <see cref="HttpClient"/> over a default <see cref="SocketsHttpHandler"/> with
/// <c>AutomaticDecompression = All</c>, and to Tether's <c>FetchAsync</c>. The test compares what the server received
/// (Accept-Encoding) and what each caller got (body bytes, the Content-Encoding left). Self-contained: it does not use
/// the shared differential harness.
/// </summary>
/// <remarks>Intended differences (docs/tornado.md, "Content codings"): HttpClient undoes only the last coding listed
/// and knows neither x-gzip; Tether undoes every known coding, last applied first, and stops at an unknown one.</remarks>
public sealed class CodingConformanceTests
{
    /// <summary>What the plain HttpClient does with a case, relative to Tether.</summary>
    public enum Oracle
    {
        /// <summary>Both callers get the same bytes and the same Content-Encoding left.</summary>
        Same,

        /// <summary>HttpClient undoes only the last coding (its remaining header lists the rest); Tether undoes all.</summary>
        HttpClientUndoesLastOnly,

        /// <summary>HttpClient leaves the body encoded (a coding it does not know, such as x-gzip); Tether decodes it.</summary>
        HttpClientLeavesItEncoded,

        /// <summary>The data is corrupt: HttpClient's read throws, Tether fails with a 599 Protocol.</summary>
        BothFail,
    }

    public sealed record Case(string Name, string[] Applied, string[] HeaderLines, byte[] Plain, string? TetherLeft, Oracle Oracle, bool Chunked = false, bool Corrupt = false)
    {
        public override string ToString() => Name;
    }

    private static readonly byte[] Text = Plain;

    public static TheoryData<Case> Cases() => new(
        new Case("identity: no Content-Encoding", [], [], Text, null, Oracle.Same),
        new Case("identity named (nothing to undo: header kept)", [], ["Content-Encoding: identity"], Text, "identity", Oracle.Same),
        new Case("gzip", ["gzip"], ["Content-Encoding: gzip"], Text, null, Oracle.Same),
        new Case("GZIP upper case", ["gzip"], ["Content-Encoding: GZIP"], Text, null, Oracle.Same),
        new Case("gzip chunked", ["gzip"], ["Content-Encoding: gzip"], Text, null, Oracle.Same, Chunked: true),
        new Case("deflate zlib-wrapped", ["deflate"], ["Content-Encoding: deflate"], Text, null, Oracle.Same),
        new Case("deflate raw", ["deflate-raw"], ["Content-Encoding: deflate"], Text, null, Oracle.Same),
        new Case("br", ["br"], ["Content-Encoding: br"], Text, null, Oracle.Same),
        new Case("x-gzip", ["gzip"], ["Content-Encoding: x-gzip"], Text, null, Oracle.HttpClientLeavesItEncoded),
        new Case("gzip, gzip", ["gzip", "gzip"], ["Content-Encoding: gzip, gzip"], Text, null, Oracle.HttpClientUndoesLastOnly),
        new Case("deflate, gzip", ["deflate", "gzip"], ["Content-Encoding: deflate, gzip"], Text, null, Oracle.HttpClientUndoesLastOnly),
        new Case("gzip, deflate", ["gzip", "deflate"], ["Content-Encoding: gzip, deflate"], Text, null, Oracle.HttpClientUndoesLastOnly),
        new Case("br, gzip", ["br", "gzip"], ["Content-Encoding: br, gzip"], Text, null, Oracle.HttpClientUndoesLastOnly),
        new Case("two lines deflate / gzip", ["deflate", "gzip"], ["Content-Encoding: deflate", "Content-Encoding: gzip"], Text, null, Oracle.HttpClientUndoesLastOnly),
        new Case("gzip, identity", ["gzip"], ["Content-Encoding: gzip, identity"], Text, null, Oracle.HttpClientLeavesItEncoded),
        new Case("zstd (unknown)", [], ["Content-Encoding: zstd"], Text, "zstd", Oracle.Same),
        new Case("zstd, gzip", ["gzip"], ["Content-Encoding: zstd, gzip"], Text, "zstd", Oracle.Same),
        new Case("gzip, zstd (unknown outermost)", [], ["Content-Encoding: gzip, zstd"], Text, "gzip, zstd", Oracle.Same),
        new Case("gzip empty body", ["gzip"], ["Content-Encoding: gzip"], [], null, Oracle.Same),
        new Case("deflate raw chunked", ["deflate-raw"], ["Content-Encoding: deflate"], Text, null, Oracle.Same, Chunked: true),
        new Case("br chunked", ["br"], ["Content-Encoding: br"], Text, null, Oracle.Same, Chunked: true),
        new Case("Deflate mixed case", ["deflate"], ["Content-Encoding: Deflate"], Text, null, Oracle.Same),
        new Case("gzip, x-gzip", ["gzip", "gzip"], ["Content-Encoding: gzip, x-gzip"], Text, null, Oracle.HttpClientLeavesItEncoded),
        new Case("deflate, gzip chunked", ["deflate", "gzip"], ["Content-Encoding: deflate, gzip"], Text, null, Oracle.HttpClientUndoesLastOnly, Chunked: true),
        new Case("corrupt gzip", ["gzip"], ["Content-Encoding: gzip"], Text, null, Oracle.BothFail, Corrupt: true));

    private sealed record Outcome(byte[] Body, string? ContentEncodingLeft);

    [Theory]
    [Trait("Spec", "HTTP-04")]
    [MemberData(nameof(Cases))]
    public async Task HTTP_04_coding_matrix_HttpClient_vs_Tether(Case c)
    {
        var encoded = Encode(c.Plain, c.Applied);
        if (c.Corrupt)
        {
            // Keep the 10-byte gzip header, break the deflate data after it.
            for (var i = 10; i < encoded.Length - 8; i += 7)
            {
                encoded[i] ^= 0x5A;
            }
        }

        var head = new StringBuilder("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n");
        foreach (var line in c.HeaderLines)
        {
            head.Append(line).Append("\r\n");
        }

        byte[] raw;
        if (c.Chunked)
        {
            head.Append("Transfer-Encoding: chunked\r\n\r\n");
            var half = encoded.Length / 2;
            raw = [.. Encoding.ASCII.GetBytes(head.ToString()),
                .. Chunk(encoded[..half]), .. Chunk(encoded[half..]), .. "0\r\n\r\n"u8.ToArray()];
        }
        else
        {
            head.Append($"Content-Length: {encoded.Length}\r\n\r\n");
            raw = [.. Encoding.ASCII.GetBytes(head.ToString()), .. encoded];
        }

        await using var server = HostileServer.StartRaw(raw);
        var url = server.Url("/coded");

        // The oracle: a default SocketsHttpHandler that decompresses everything it knows.
        Outcome? plain = null;
        Exception? plainError = null;
        using (var http = new HttpClient(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.All }))
        {
            try
            {
                using var message = await http.GetAsync(url);
                plain = new Outcome(await message.Content.ReadAsByteArrayAsync(),
                    message.Content.Headers.ContentEncoding.Count == 0 ? null : string.Join(", ", message.Content.Headers.ContentEncoding));
            }
            catch (Exception e) when (c.Oracle == Oracle.BothFail)
            {
                plainError = e;
            }
        }

        Outcome? tether = null;
        FetchException? tetherError = null;
        await using (var client = new AsyncHttpClient())
        {
            try
            {
                var response = await client.FetchAsync(url.ToString());
                tether = new Outcome(response.Body, response.Headers.GetValues("Content-Encoding") is { Count: > 0 } left ? string.Join(", ", left) : null);
            }
            catch (FetchException e) when (c.Oracle == Oracle.BothFail)
            {
                tetherError = e;
            }

            client.Close();
        }

        // What the server received: both advertise gzip, deflate and br.
        Assert.Equal(2, server.RequestHeads.Count);
        foreach (var requestHead in server.RequestHeads)
        {
            var accept = requestHead.Split("\r\n").Single(l => l.StartsWith("Accept-Encoding:", StringComparison.OrdinalIgnoreCase));
            foreach (var coding in new[] { "gzip", "deflate", "br" })
            {
                Assert.Contains(coding, accept, StringComparison.OrdinalIgnoreCase);
            }
        }

        if (c.Oracle == Oracle.BothFail)
        {
            // Corrupt data: HttpClient's read throws (HttpRequestException or IOException around InvalidDataException);
            // Tether's caller gets a 599 Protocol naming the host.
            Assert.NotNull(plainError);
            Assert.NotNull(tetherError);
            Assert.Equal(FetchErrorKind.Protocol, tetherError.Kind);
            Assert.Equal(FetchException.NoResponse, tetherError.Code);
            await AssertCleanAsync(server.Port);
            return;
        }

        Assert.NotNull(plain);
        Assert.NotNull(tether);

        // What Tether's caller got: every known coding undone (the bytes under an unknown coding are the plain text
        // here), and only what it could not undo left in the header.
        Assert.Equal(c.Plain, tether.Body);
        Assert.Equal(c.TetherLeft, tether.ContentEncodingLeft);

        switch (c.Oracle)
        {
            case Oracle.Same:
                Assert.Equal(plain.Body, tether.Body);
                Assert.Equal(plain.ContentEncodingLeft?.ToLowerInvariant(), tether.ContentEncodingLeft?.ToLowerInvariant());
                break;
            case Oracle.HttpClientUndoesLastOnly:
                // Intended difference: HttpClient removes the last coding only; its body is the inner layers' bytes.
                Assert.Equal(Encode(c.Plain, c.Applied[..^1]), plain.Body);
                Assert.Equal(string.Join(", ", c.HeaderLines.SelectMany(l => l["Content-Encoding: ".Length..].Split(',', StringSplitOptions.TrimEntries)).SkipLast(1)),
                    plain.ContentEncodingLeft);
                Assert.NotEqual(plain.Body, tether.Body);
                break;
            case Oracle.HttpClientLeavesItEncoded:
                // Intended difference: a coding HttpClient does not undo stays on its body and in its header.
                Assert.Equal(encoded, plain.Body);
                Assert.NotNull(plain.ContentEncodingLeft);
                Assert.Null(tether.ContentEncodingLeft);
                break;
        }

        await AssertCleanAsync(server.Port);
    }

    private static byte[] Chunk(byte[] data) =>
        [.. Encoding.ASCII.GetBytes($"{data.Length:x}\r\n"), .. data, .. "\r\n"u8.ToArray()];
}
