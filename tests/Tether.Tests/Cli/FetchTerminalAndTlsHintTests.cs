using System.CommandLine;
using System.Text;
using Tether.Cli;
using Tether.Cli.Commands;
using Tether.TestServer;
using Xunit;

namespace Tether.Tests.Cli;

/// <summary>
/// Newcomer tour 2026-12-02 (curl habits on <c>tether fetch</c>): a binary body printed onto a terminal, and TLS
/// failures whose hint names flags that cannot help. Each test starts its own loopback server.
/// </summary>
public sealed class FetchTerminalAndTlsHintTests
{
    private static readonly byte[] Binary = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x1B, (byte)'[', (byte)'2', (byte)'J'];

    // curl refuses to write a body with NUL bytes to a terminal ("Binary output can mess up your terminal. Use
    // --output - ..."); tether wrote the raw bytes (escape sequences included) onto the terminal, exit 0.
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_a_binary_body_is_not_written_to_a_terminal_unless_output_dash()
    {
        await using var server = HostileServer.StartRaw(
            [.. Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {Binary.Length}\r\n\r\n"), .. Binary]);
        string url = server.Url("/logo.png").ToString();

        var (code, err, body) = RunOnTerminal(["fetch", url]);
        Assert.True(code == ExitCodes.TransportError, $"exit {code}: {err}");
        Assert.Empty(body);
        string line = Assert.Single(CliHarness.Lines(err));
        Assert.Contains("binary", line, StringComparison.Ordinal);
        Assert.Contains("-o FILE", line, StringComparison.Ordinal);
        Assert.Contains("-o -", line, StringComparison.Ordinal);

        (code, err, body) = RunOnTerminal(["fetch", "-o", "-", url]);
        Assert.True(code == ExitCodes.Ok, $"exit {code}: {err}");
        Assert.Equal(Binary, body);

        // Piped (not a terminal): byte for byte, as before.
        var piped = CliHarness.RunTether(["fetch", url]);
        Assert.True(piped.Code == ExitCodes.Ok, $"exit {piped.Code}: {piped.Err}");
        Assert.Equal(Binary, piped.Body);
    }

    // Text with no NUL byte still goes to the terminal (curl's rule is the NUL byte, not the Content-Type).
    [Fact]
    [Trait("Spec", "CLI-18")]
    public async Task CLI18_a_text_body_is_written_to_a_terminal()
    {
        byte[] text = Encoding.Latin1.GetBytes("caf\u00e9 na\u00efve\n"); // not UTF-8, and still not binary
        await using var server = HostileServer.StartRaw(
            [.. Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {text.Length}\r\n\r\n"), .. text]);

        var (code, err, body) = RunOnTerminal(["fetch", server.Url("/").ToString()]);

        Assert.True(code == ExitCodes.Ok, $"exit {code}: {err}");
        Assert.Equal(text, body);
    }

    // `tether fetch https://host:port/` against a plain-HTTP port is a handshake failure (35); the hint told the user to
    // pass --cacert or -k, which cannot help (the server does not speak TLS), and said so even when -k was given.
    [Theory]
    [Trait("Spec", "CLI-18")]
    [InlineData]
    [InlineData("-k")]
    public async Task CLI18_tls_to_a_plain_port_does_not_suggest_cacert_or_insecure(params string[] flags)
    {
        await using var server = await KestrelTestServer.StartAsync(); // plain HTTP/1.1: answers a ClientHello with a 400
        string url = $"https://127.0.0.1:{server.Url("/hello").Port}/hello";

        var run = CliHarness.RunTether(["fetch", "--max-time", "20", .. flags, url]);

        Assert.True(run.Code == ExitCodes.TlsHandshake, $"exit {run.Code}: {run.Err}");
        string line = Assert.Single(CliHarness.Lines(run.Err));
        Assert.DoesNotContain("--cacert", line, StringComparison.Ordinal);
        Assert.DoesNotContain("--insecure", line, StringComparison.Ordinal);
        Assert.Contains("use an http:// URL", line, StringComparison.Ordinal); // what to try instead
    }

    // The body goes to a memory stream that the command is told is a terminal (stdout and stderr).
    private static (int Code, string Err, byte[] Body) RunOnTerminal(string[] args)
    {
        var body = new MemoryStream();
        var io = new FetchIo
        {
            OpenStdin = () => new MemoryStream(),
            OpenStdout = () => body,
            StdoutIsTerminal = () => true,
            StderrIsTerminal = () => true,
        };
        RootCommand root = TetherCli.CreateRoot(io);
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = CliSupport.Run(root, args, output, error);
        return (code, error.ToString(), body.ToArray());
    }
}
