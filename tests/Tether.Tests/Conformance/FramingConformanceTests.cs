using System.Text;
using Xunit;
using Xunit.Sdk;

namespace Tether.Tests.Conformance;

/// <summary>
/// Differential framing cases (HTTP-07). The server sends the response and then keeps the connection open (it never
/// closes), so a client that falls back to "read until close" waits until the case's bound. Tether must answer every
/// case at once: a usable length is used, anything else is a 599 Protocol. Where HttpClient waits or reads differently,
/// the difference is asserted (docs/tornado.md).
/// </summary>
public sealed class FramingConformanceTests(ITestOutputHelper output)
{
    // How long HttpClient is given before the case reports "timeout": the server never closes, so a client that
    // reads until close always reaches it. A side that answers at once needs one loopback round trip (milliseconds
    // unloaded), so 5 s is also the margin that keeps its answer from being read as "timeout" on a loaded machine (a
    // clean-clone run beside two other jobs, load 36, took 2.06 s for one such answer).
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    public static TheoryData<string, string, string> Cases() => Group(static name => !ReadsUntilClose(name));

    /// <summary>The cases where the oracle (HttpClient) reads until a close that never comes, so it waits out the whole
    /// bound: run by two more classes in parallel with this one (issue 13: CI wall time), half each.</summary>
    public static TheoryData<string, string, string> ReadUntilCloseA() => Group(static name => ReadsUntilClose(name) && IsFirstHalf(name));

    public static TheoryData<string, string, string> ReadUntilCloseB() => Group(static name => ReadsUntilClose(name) && !IsFirstHalf(name));

    private static bool IsFirstHalf(string name)
    {
        var waiting = All.Where(static c => ReadsUntilClose(c.Name)).Select(static c => c.Name).ToArray();
        return Array.IndexOf(waiting, name) < (waiting.Length + 1) / 2;
    }

    private static TheoryData<string, string, string> Group(Func<string, bool> include)
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (name, head, expected) in All)
        {
            if (include(name))
            {
                data.Add(name, head, expected);
            }
        }

        return data;
    }

    private static bool ReadsUntilClose(string name) => ClientBehaviour(name) == "error timeout";

    private static readonly (string Name, string Head, string Expected)[] All =
    [
        // name, head lines after the status line, expected Tether caller view
        ("cl-abc", "Content-Length: abc", "error FetchException:Protocol"),
        ("cl-negative", "Content-Length: -1", "error FetchException:Protocol"),
        ("cl-plus", "Content-Length: +5", "error FetchException:Protocol"),
        // RFC 9110 §8.6 / PROTOCOL-20: equal values are one length; read 5 bytes, do not wait for close.
        ("cl-list-equal", "Content-Length: 5, 5", "200 hello"),
        ("cl-list-equal-two-lines", "Content-Length: 5\r\nContent-Length: 5", "200 hello"),
        ("cl-two-lines-different", "Content-Length: 5\r\nContent-Length: 6", "error FetchException:Protocol"),
        ("te-gzip", "Transfer-Encoding: gzip", "error FetchException:Protocol"),
        ("te-chunked-then-gzip", "Transfer-Encoding: chunked, gzip", "error FetchException:Protocol"),
        ("te-gzip-with-cl", "Transfer-Encoding: gzip\r\nContent-Length: 5", "error FetchException:Protocol"),
        ("te-identity-with-cl", "Transfer-Encoding: identity\r\nContent-Length: 5", "error FetchException:Protocol"),
        ("te-chunked-with-cl", "Transfer-Encoding: chunked\r\nContent-Length: 5", "error FetchException:Protocol"),
        ("cl-5", "Content-Length: 5", "200 hello"),
        ("cl-leading-zeros", "Content-Length: 005", "200 hello"),
        ("te-chunked", "Transfer-Encoding: chunked", "200 hello"),
        ("te-chunked-uppercase", "Transfer-Encoding: CHUNKED", "200 hello"),
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    [Trait("Spec", "HTTP-07")]
    public Task HTTP_07_framing_the_client_cannot_use_fails_at_once(string name, string headLines, string expected) =>
        RunAsync(name, headLines, expected, output);

    internal static async Task RunAsync(string name, string headLines, string expected, ITestOutputHelper output)
    {
        var chunked = headLines.Contains("chunked", StringComparison.OrdinalIgnoreCase) && !headLines.Contains("gzip", StringComparison.Ordinal);
        var body = chunked ? "5\r\nhello\r\n0\r\n\r\n" : "hello";
        var raw = Encoding.Latin1.GetBytes($"HTTP/1.1 200 OK\r\n{headLines}\r\n\r\n{body}");
        var log = new RequestLog();
        await using var server = RecordingServer.Start("A", log, _ => Reply.Bytes(raw, hold: true));
        var (client, tether) = await DifferentialRunner.CompareAsync(log, new DiffCase(name, "GET", server.Url("/framing")) { Bound = Bound });
        output.WriteLine(client.ToString());
        output.WriteLine(tether.ToString());

        Assert.Equal(expected, tether.CallerView);
        // "At once": well inside the bound that a read-until-close reaches (5 s; the answer needs one round trip on
        // loopback, so 4 s is margin for a loaded 2-core machine, and 1 s still separates it from the bound).
        Assert.True(tether.Elapsed < TimeSpan.FromSeconds(4), $"Tether took {tether.Elapsed.TotalMilliseconds:F0} ms on {name}");
        Assert.Equal(ClientBehaviour(name), client.CallerView);
    }

    /// <summary>What a default SocketsHttpHandler does with each case (the oracle's side of the documented
    /// difference): it reads until close, so it reaches the bound, or it fails the response itself.</summary>
    internal static string ClientBehaviour(string name) => name switch
    {
        // Unusable length: HttpClient reads until the server closes (it never does here).
        "cl-abc" or "cl-negative" or "cl-plus" or "cl-list-equal" or "te-gzip" or "te-chunked-then-gzip" => "error timeout",
        // HttpClient picks one of the headers (Content-Length, or chunked) and reads on; RFC 9112 §6.3 calls these
        // messages invalid (or smuggling vectors), so Tether refuses them.
        "cl-two-lines-different" or "te-gzip-with-cl" or "te-identity-with-cl" or "te-chunked-with-cl" => "200 hello",
        _ => "200 hello",
    };
}

/// <summary>HTTP-07 cases whose oracle waits out the bound (first half), in parallel with
/// <see cref="FramingConformanceTests"/>.</summary>
public sealed class FramingConformanceReadUntilCloseFirstTests(ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(FramingConformanceTests.ReadUntilCloseA), MemberType = typeof(FramingConformanceTests))]
    [Trait("Spec", "HTTP-07")]
    public Task HTTP_07_framing_the_client_cannot_use_fails_at_once(string name, string headLines, string expected) =>
        FramingConformanceTests.RunAsync(name, headLines, expected, output);
}

/// <summary>HTTP-07 cases whose oracle waits out the bound (second half), in parallel with
/// <see cref="FramingConformanceTests"/>.</summary>
public sealed class FramingConformanceReadUntilCloseSecondTests(ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(FramingConformanceTests.ReadUntilCloseB), MemberType = typeof(FramingConformanceTests))]
    [Trait("Spec", "HTTP-07")]
    public Task HTTP_07_framing_the_client_cannot_use_fails_at_once(string name, string headLines, string expected) =>
        FramingConformanceTests.RunAsync(name, headLines, expected, output);
}
