using System.Text;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Replay;

/// <summary>
/// Public bug reports about decoding a response body as text (reqwest#1897, reqwest#1898, request/request#371) and
/// about a status line without a reason phrase, replayed against Tether on a scripted loopback server. Text has an
/// oracle: <see cref="HttpContent.ReadAsStringAsync()"/> of a plain <see cref="HttpClient"/> on the same bytes.
/// </summary>
public sealed class TextAndReasonReplayTests
{
    // Legacy code pages are process-wide state: KestrelTestServer registers CodePagesEncodingProvider in its static
    // constructor, so whether windows-1252 is known in this process depends on which tests ran first. Registering it
    // here (what Text's exception tells users to do) makes the windows-1252 case the same in every order; the "charset
    // .NET cannot decode" cases use names no provider knows.
    static TextAndReasonReplayTests() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string Cafe = "caf\u00E9 \u20AC"; // "café €": two non-ASCII characters, one outside Latin-1

    private static byte[] Bytes(params byte[][] parts) => [.. parts.SelectMany(static p => p)];

    /// <summary>Shape, Content-Type (null: none sent), body bytes, expected text (null: both clients throw
    /// InvalidOperationException). Every case is also decoded by HttpClient, which must agree, except the one in
    /// <see cref="BeyondHttpClient"/>.</summary>
    public static TheoryData<string, string?, byte[], string?> TextCases => new()
    {
        { "UTF-8 BOM, no charset", "text/plain", Bytes([0xEF, 0xBB, 0xBF], Encoding.UTF8.GetBytes(Cafe)), Cafe },
        { "UTF-8 BOM, charset=utf-8", "application/json; charset=utf-8", Bytes([0xEF, 0xBB, 0xBF], Encoding.UTF8.GetBytes("{\"a\":1}")), "{\"a\":1}" },
        { "UTF-8 BOM, no Content-Type", null, Bytes([0xEF, 0xBB, 0xBF], Encoding.UTF8.GetBytes(Cafe)), Cafe },
        { "UTF-16 LE BOM, no charset", "text/plain", Bytes([0xFF, 0xFE], Encoding.Unicode.GetBytes(Cafe)), Cafe },
        { "UTF-16 BE BOM, no charset", "text/plain", Bytes([0xFE, 0xFF], Encoding.BigEndianUnicode.GetBytes(Cafe)), Cafe },
        { "UTF-32 LE BOM, no charset", "text/plain", Bytes([0xFF, 0xFE, 0x00, 0x00], Encoding.UTF32.GetBytes(Cafe)), Cafe },
        { "UTF-32 BE BOM, no charset", "text/plain", Bytes([0x00, 0x00, 0xFE, 0xFF], new UTF32Encoding(bigEndian: true, byteOrderMark: false).GetBytes(Cafe)), Cafe },
        { "UTF-16 BOM, charset=utf-16", "text/plain; charset=utf-16", Bytes([0xFF, 0xFE], Encoding.Unicode.GetBytes(Cafe)), Cafe },
        { "quoted charset", "text/plain; charset=\"iso-8859-1\"", [0x63, 0x61, 0x66, 0xE9], "caf\u00E9" },
        { "charset names Latin-1, body starts with a UTF-8 BOM", "text/plain; charset=iso-8859-1", [0xEF, 0xBB, 0xBF, 0x41], "\u00EF\u00BB\u00BFA" },
        { "windows-1252, provider registered", "text/plain; charset=windows-1252", [0x63, 0x61, 0x66, 0xE9, 0x80], "caf\u00E9\u20AC" },
        { "unknown charset", "text/plain; charset=x-tether-no-such-charset", [0x63, 0x61, 0x66, 0xE9], null },
        { "unknown quoted charset", "text/html; charset=\"klingon-8\"", [0x63, 0x61, 0x66, 0xE9], null },
        { "UTF-8 without BOM, no charset", "text/plain", Encoding.UTF8.GetBytes(Cafe), Cafe },
        { "empty body", "text/plain", [], "" },
    };

    // HttpContent.ReadBufferAsString detects the UTF-8, UTF-32 LE, UTF-16 LE and UTF-16 BE marks but not the UTF-32 BE
    // one (00 00 FE FF), and decodes such a body as UTF-8: NULs and U+FFFD. Those bytes are never valid UTF-8 (FE and FF
    // never occur in it), so Text detecting the mark changes nothing that decoded correctly before.
    private const string BeyondHttpClient = "UTF-32 BE BOM, no charset";

    [Theory]
    [MemberData(nameof(TextCases))]
    [Trait("Spec", "CLIENT-18")]
    public async Task CLIENT_18_text_decodes_by_HttpContent_ReadAsStringAsync_rules(string shape, string? contentType, byte[] body, string? expected)
    {
        // Extends CLIENT-18 (charset from Content-Type, else UTF-8) with HttpContent.ReadAsStringAsync's other rules:
        // a byte order mark is never part of the text, a BOM picks the encoding when no charset is named, and a charset
        // .NET cannot decode throws InvalidOperationException instead of decoding as UTF-8 (silent U+FFFD).
        // Replays reqwest#1897/#1898 (BOM kept as U+FEFF, UTF-16 BOM ignored) and request/request#371 (unknown charset
        // decoded as something else).
        var head = Encoding.Latin1.GetBytes(
            "HTTP/1.1 200 OK\r\n" + (contentType is null ? "" : $"Content-Type: {contentType}\r\n") + $"Content-Length: {body.Length}\r\n\r\n");
        var response = Bytes(head, body);
        await using var server = ScriptServer.Start(async (c, ct) =>
        {
            while (await c.ReadRequestAsync(ct) is not null)
            {
                await c.SendAsync(response, ct);
            }
        });
        var check = LeakCheck.Start(server.Port);

        // Oracle: a plain HttpClient over a default SocketsHttpHandler, same bytes.
        string? oracle = null;
        InvalidOperationException? oracleError = null;
        using (var plain = new HttpClient())
        {
            using var message = await plain.GetAsync(server.Url("/text"), Ct);
            try
            {
                oracle = await message.Content.ReadAsStringAsync(Ct);
            }
            catch (InvalidOperationException e)
            {
                oracleError = e;
            }
        }

        await using (var client = ScriptServer.NewClient())
        {
            var fetched = await client.FetchAsync(server.Url("/text"), Ct);
            Assert.Equal(body, fetched.Body);
            if (expected is null)
            {
                Assert.True(oracleError is not null, $"{shape}: HttpClient decoded {oracle}; this case expects it to throw");
                var charset = contentType!.Split("charset=")[1].Trim('"');
                var error = Assert.Throws<InvalidOperationException>(() => fetched.Text);
                Assert.Contains($"'{charset}'", error.Message, StringComparison.Ordinal);
                Assert.Contains("Body", error.Message, StringComparison.Ordinal);
                Assert.Contains("CodePagesEncodingProvider", error.Message, StringComparison.Ordinal);
                Assert.IsAssignableFrom<ArgumentException>(error.InnerException);

                // Nothing cached: the next read throws again rather than returning a guess.
                Assert.Throws<InvalidOperationException>(() => fetched.Text);
            }
            else
            {
                Assert.True(oracleError is null, $"{shape}: HttpClient threw {oracleError}");
                if (shape == BeyondHttpClient)
                {
                    Assert.Contains("\uFFFD", oracle!, StringComparison.Ordinal); // HttpClient's UTF-8 guess, for the record
                }
                else
                {
                    Assert.Equal(expected, oracle);
                }

                Assert.Equal(expected, fetched.Text);
                Assert.Same(fetched.Text, fetched.Text); // decoded once
            }
        }

        await check.AssertCleanAsync();
    }

    /// <summary>Shape, status line, expected <see cref="FetchResponse.Reason"/>.</summary>
    public static TheoryData<string, string, string> ReasonCases => new()
    {
        { "no phrase, no space", "HTTP/1.1 200", "OK" },
        { "empty phrase", "HTTP/1.1 200 ", "OK" },
        { "empty phrase on a 404", "HTTP/1.1 404 ", "Not Found" },
        { "empty phrase on a 307 (two enum names)", "HTTP/1.1 307 ", "Temporary Redirect" },
        { "empty phrase on a code with no standard phrase", "HTTP/1.1 599 ", "Unknown" },
        { "no phrase on a code with no standard phrase", "HTTP/1.1 299", "Unknown" },
        { "the server's own phrase is kept", "HTTP/1.1 200 Fine Thanks", "Fine Thanks" },
    };

    [Theory]
    [MemberData(nameof(ReasonCases))]
    [Trait("Spec", "CLIENT-01")]
    public async Task CLIENT_01_reason_is_the_standard_phrase_or_Unknown_when_the_server_sends_none(string shape, string statusLine, string expected)
    {
        // Extends CLIENT-01's "reason" to a status line without a reason phrase (allowed by RFC 9112 §4): Tornado's
        // HTTPResponse uses `reason or httputil.responses.get(code, "Unknown")`. A plain HttpClient reports "" for it,
        // which is the value Tether used to pass on.
        var response = $"{statusLine}\r\nLocation: /elsewhere\r\nContent-Length: 2\r\n\r\nok";
        await using var server = ScriptServer.Start(async (c, ct) =>
        {
            while (await c.ReadRequestAsync(ct) is not null)
            {
                await c.SendAsync(response, ct);
            }
        });
        var check = LeakCheck.Start(server.Port);
        await using (var client = ScriptServer.NewClient())
        {
            var fetched = await client.FetchAsync(
                new FetchRequest(server.Url("/status")) { RaiseOnError = false, FollowRedirects = false }, Ct);
            Assert.Equal(int.Parse(statusLine[9..12], System.Globalization.CultureInfo.InvariantCulture), fetched.Code);
            Assert.True(expected == fetched.Reason, $"{shape}: Reason was \"{fetched.Reason}\", expected \"{expected}\"");
            if (!fetched.IsSuccess)
            {
                Assert.Equal($"HTTP {fetched.Code}: {expected}", fetched.Error!.Message);
            }
        }

        await check.AssertCleanAsync();
    }
}
