using System.IO.Compression;
using CsCheck;
using Tether.TestServer;
using Xunit;
using static Tether.Tests.Http.BodyTestKit;

namespace Tether.Tests.Http;

/// <summary>HTTP-04: every content coding listed is undone, last applied first; deflate with and without the zlib
/// wrapper; x-gzip is gzip; an unknown coding leaves body and header untouched; what was decoded is visible; every
/// layer stays under MaxBodySize. Regression tests for issue 15 item 7.</summary>
public sealed class ContentCodingTests
{
    private static AsyncHttpClient NewClient(long? maxBody = null) => new(new AsyncHttpClientOptions
    {
        Defaults = { RequestTimeout = TimeSpan.FromSeconds(10), MaxBodySize = maxBody },
    });

    private static async Task<FetchResponse> FetchRawAsync(byte[] raw, long? maxBody = null, bool streamed = false)
    {
        await using var server = HostileServer.StartRaw(raw);
        await using var client = NewClient(maxBody);
        FetchResponse response;
        if (streamed)
        {
            var open = await client.FetchStreamAsync(server.Url("/coded").ToString());
            var copy = new MemoryStream();
            await open.BodyStream.CopyToAsync(copy);
            await open.DisposeAsync();
            response = open;
            Assert.Equal(Plain, copy.ToArray());
        }
        else
        {
            response = await client.FetchAsync(server.Url("/coded").ToString());
        }

        client.Close();
        await AssertCleanAsync(server.Port);
        return response;
    }

    [Theory]
    [Trait("Spec", "HTTP-04")]
    [InlineData("gzip,gzip")]
    [InlineData("deflate,gzip")]
    [InlineData("gzip,deflate")]
    [InlineData("br,gzip")]
    [InlineData("gzip,deflate,br")]
    public async Task HTTP_04_every_listed_coding_is_undone_last_applied_first(string list)
    {
        // Issue 15 item 7: `Content-Encoding: gzip, gzip` (or `deflate, gzip`) had one layer decoded and the whole header
        // cleared, so the caller got compressed bytes labelled plain.
        var codings = list.Split(',');
        var raw = WithLength(Encode(Plain, codings), $"Content-Encoding: {string.Join(", ", codings)}");
        var response = await FetchRawAsync(raw);
        Assert.Equal(Plain, response.Body);
        Assert.Equal(codings, response.DecodedContentEncodings);
        Assert.Null(response.Headers.Get("Content-Encoding"));
        Assert.Null(response.Headers.Get("Content-Length"));
    }

    [Fact]
    [Trait("Spec", "HTTP-04")]
    public async Task HTTP_04_two_Content_Encoding_lines_are_one_list()
    {
        // Issue 15 item 7: two header lines, `Content-Encoding: deflate` then `Content-Encoding: gzip`.
        var raw = WithLength(Encode(Plain, ["deflate", "gzip"]), "Content-Encoding: deflate", "Content-Encoding: gzip");
        var response = await FetchRawAsync(raw);
        Assert.Equal(Plain, response.Body);
        Assert.Equal(["deflate", "gzip"], response.DecodedContentEncodings);
        Assert.Null(response.Headers.Get("Content-Encoding"));
    }

    [Theory]
    [Trait("Spec", "HTTP-04")]
    [InlineData("deflate")]
    [InlineData("deflate-raw")]
    public async Task HTTP_04_deflate_is_accepted_with_and_without_the_zlib_wrapper(string coding)
    {
        // Issue 15 item 7: raw deflate (no zlib header) was a 599 Protocol.
        var raw = WithLength(Encode(Plain, [coding]), "Content-Encoding: deflate");
        var response = await FetchRawAsync(raw);
        Assert.Equal(Plain, response.Body);
        Assert.Equal(["deflate"], response.DecodedContentEncodings);
    }

    [Fact]
    [Trait("Spec", "HTTP-04")]
    public async Task HTTP_04_x_gzip_is_gzip()
    {
        // Issue 15 item 7: x-gzip was not decoded.
        var raw = WithLength(Encode(Plain, ["gzip"]), "Content-Encoding: x-gzip");
        var response = await FetchRawAsync(raw);
        Assert.Equal(Plain, response.Body);
        Assert.Equal(["x-gzip"], response.DecodedContentEncodings);
    }

    [Fact]
    [Trait("Spec", "HTTP-04")]
    public async Task HTTP_04_an_unknown_coding_leaves_body_and_header_untouched()
    {
        var body = "not really zstd"u8.ToArray();
        var response = await FetchRawAsync(WithLength(body, "Content-Encoding: zstd"));
        Assert.Equal(body, response.Body);
        Assert.Equal("zstd", response.Headers.Get("Content-Encoding"));
        Assert.Equal(body.Length.ToString(), response.Headers.Get("Content-Length"));
        Assert.Empty(response.DecodedContentEncodings);
    }

    [Fact]
    [Trait("Spec", "HTTP-04")]
    public async Task HTTP_04_decoding_stops_at_an_unknown_coding_and_keeps_it_in_the_header()
    {
        // `zstd, gzip`: the outer gzip is undone; zstd (and the body it still wraps) is left as it is, and labelled so.
        var inner = "pretend zstd frame"u8.ToArray();
        var response = await FetchRawAsync(WithLength(Encode(inner, ["gzip"]), "Content-Encoding: zstd, gzip"));
        Assert.Equal(inner, response.Body);
        Assert.Equal("zstd", response.Headers.Get("Content-Encoding"));
        Assert.Equal(["gzip"], response.DecodedContentEncodings);
    }

    [Fact]
    [Trait("Spec", "HTTP-04")]
    public async Task HTTP_04_a_streamed_body_is_decoded_the_same_way()
    {
        var raw = WithLength(Encode(Plain, ["deflate-raw", "gzip"]), "Content-Encoding: deflate, gzip");
        var response = await FetchRawAsync(raw, streamed: true);
        Assert.Equal(["deflate", "gzip"], response.DecodedContentEncodings);
        Assert.Null(response.Headers.Get("Content-Encoding"));
    }

    [Fact]
    [Trait("Spec", "HTTP-04")]
    public async Task HTTP_04_nested_codings_stay_capped_by_MaxBodySize()
    {
        // 8 MiB of zeros, gzip twice (a few KiB on the wire); MaxBodySize = 1 MiB must stop it at the limit.
        var bomb = Encode(new byte[8 << 20], ["gzip", "gzip"]);
        await using var server = HostileServer.StartRaw(WithLength(bomb, "Content-Encoding: gzip, gzip"));
        await using var client = NewClient(maxBody: 1 << 20);
        var error = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(server.Url("/bomb").ToString()));
        Assert.Equal(FetchErrorKind.BodyTooLarge, error.Kind);
        Assert.Equal(FetchException.NoResponse, error.Code);
        client.Close();
        await AssertCleanAsync(server.Port);
    }

    [Fact]
    [Trait("Spec", "HTTP-04")]
    public async Task HTTP_04_decoding_is_off_when_DecompressResponse_is_off()
    {
        var encoded = Encode(Plain, ["gzip", "gzip"]);
        await using var server = HostileServer.StartRaw(WithLength(encoded, "Content-Encoding: gzip, gzip"));
        await using var client = new AsyncHttpClient(new AsyncHttpClientOptions { Defaults = { DecompressResponse = false } });
        var response = await client.FetchAsync(server.Url("/").ToString());
        Assert.Equal(encoded, response.Body);
        Assert.Equal("gzip, gzip", response.Headers.Get("Content-Encoding"));
        Assert.Empty(response.DecodedContentEncodings);
        client.Close();
        await AssertCleanAsync(server.Port);
    }

    private static readonly string[] s_codings = ["gzip", "x-gzip", "deflate", "deflate-raw", "br", "identity"];

    private static readonly Gen<(byte[] Plain, string[] Codings)> s_cases =
        Gen.Select(Gen.Frequency((1, Gen.Byte.Array[0, 2000]), (1, Gen.Byte[0, 3].Array[0, 20000])),
            Gen.Int[0, s_codings.Length - 1].Array[1, 4].Select(ix => ix.Select(i => s_codings[i]).ToArray()));

    private static Stream DecodeChain(byte[] encoded, string[] codings, long limit) =>
        ContentDecoding.Decode(new MemoryStream(encoded), codings.Select(Wire).ToList(), limit);

    [Fact]
    [Trait("Spec", "HTTP-04")]
    public void HTTP_04_property_any_stack_of_known_codings_round_trips()
    {
        // The decoder chain undoes any stack of 1-4 known codings (with aliases and raw deflate) to the exact bytes.
        s_cases.Sample(c =>
        {
            var encoded = Encode(c.Plain, c.Codings);
            using var decoded = DecodeChain(encoded, c.Codings, long.MaxValue);
            var output = new MemoryStream();
            decoded.CopyTo(output);
            return output.ToArray().AsSpan().SequenceEqual(c.Plain);
        }, iter: 300);
    }

    [Fact]
    [Trait("Spec", "HTTP-04")]
    public void HTTP_04_property_corrupted_stacks_fail_only_with_decode_or_size_errors() =>
        // Flipping bytes of an encoded stack gives either some output within the limit or InvalidDataException /
        // BodyTooLarge / TruncatedCodingException (which ResponseBody maps to 599 Protocol / BodyTooLarge /
        // TruncatedBody: a flipped length or block header can leave a layer waiting for bytes that never come, which
        // from outside is a stream that ended before its end marker): never another exception type.
        Gen.Select(s_cases, Gen.Int.Array[1, 4], Gen.Byte).Sample(CorruptedStackFailsCleanly, iter: 300);

    // Regression (issue 13 stress run): this seed made the zlib inflater throw its internal ZLibException ("unexpected
    // error code") out of a deflate layer instead of InvalidDataException.
    [Fact]
    [Trait("Spec", "HTTP-04")]
    public void HTTP_04_a_zlib_error_code_from_a_corrupted_stack_is_a_decode_error() =>
        Gen.Select(s_cases, Gen.Int.Array[1, 4], Gen.Byte).Sample(CorruptedStackFailsCleanly, iter: 300, seed: "0pNmzRq8UFn5");

    private static bool CorruptedStackFailsCleanly((byte[] Plain, string[] Codings) c, int[] positions, byte xor)
    {
        const long limit = 64 * 1024;
        var encoded = Encode(c.Plain, c.Codings);
        if (encoded.Length == 0)
        {
            return true;
        }

        foreach (var p in positions)
        {
            encoded[(int)((uint)p % encoded.Length)] ^= (byte)(xor | 1);
        }

        try
        {
            using var decoded = DecodeChain(encoded, c.Codings, limit);
            var buffer = new byte[8192];
            long total = 0;
            int n;
            while ((n = decoded.Read(buffer)) > 0)
            {
                total += n;
            }

            return total <= Math.Max(limit * 1100, 1);
        }
        catch (Exception e) when (e is InvalidDataException or BodyTooLargeException or TruncatedCodingException)
        {
            return true;
        }
    }

    [Fact]
    [Trait("Spec", "HTTP-04")]
    public async Task HTTP_04_property_random_stacks_round_trip_through_a_real_server()
    {
        // Fewer cases, end to end over loopback on one keep-alive connection.
        var current = Array.Empty<byte>();
        await using var server = HostileServer.StartRaw(_ => Volatile.Read(ref current), closeAfter: false);
        await using var client = NewClient();
        await s_cases.SampleAsync(async c =>
        {
            var header = string.Join(", ", c.Codings.Select(Wire));
            Volatile.Write(ref current, WithLength(Encode(c.Plain, c.Codings), $"Content-Encoding: {header}"));
            var response = await client.FetchAsync(server.Url("/p").ToString());
            // Only identity: nothing to undo, so nothing is reported and the header stays as sent.
            var onlyIdentity = c.Codings.All(x => x == "identity");
            return response.Body.AsSpan().SequenceEqual(c.Plain)
                && response.DecodedContentEncodings.SequenceEqual(onlyIdentity ? [] : c.Codings.Select(Wire))
                && response.Headers.Get("Content-Encoding") == (onlyIdentity ? header : null);
        }, iter: 40, threads: 1);
        client.Close();
        await AssertCleanAsync(server.Port);
    }

    [Fact]
    public void ZlibHeaderDetection_matches_what_the_encoders_write()
    {
        foreach (var level in new[] { CompressionLevel.Fastest, CompressionLevel.Optimal, CompressionLevel.SmallestSize, CompressionLevel.NoCompression })
        {
            using var zlib = new MemoryStream();
            using (var z = new ZLibStream(zlib, level, leaveOpen: true))
            {
                z.Write(Plain);
            }

            using var raw = new MemoryStream();
            using (var d = new DeflateStream(raw, level, leaveOpen: true))
            {
                d.Write(Plain);
            }

            Assert.True(ContentDecoding.IsZlibHeader(zlib.ToArray().AsSpan(0, 2)), $"zlib {level}");
            Assert.False(ContentDecoding.IsZlibHeader(raw.ToArray().AsSpan(0, 2)), $"raw {level}");
        }
    }
}
