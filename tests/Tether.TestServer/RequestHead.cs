using System.Globalization;
using System.Text;

namespace Tether.TestServer;

/// <summary>A parsed HTTP/1.x request head as the raw-socket servers saw it (Latin-1 decoded).</summary>
internal sealed class RequestHead
{
    private RequestHead(string text, string method, string target, string version, List<KeyValuePair<string, string>> headers)
    {
        Text = text;
        Method = method;
        Target = target;
        Version = version;
        Headers = headers;
    }

    /// <summary>The head exactly as received, including the final blank line.</summary>
    public string Text { get; }

    public string Method { get; }

    public string Target { get; }

    public string Version { get; }

    public List<KeyValuePair<string, string>> Headers { get; }

    public bool IsChunked => Get("Transfer-Encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>The Content-Length, or null when absent or not a number.</summary>
    public long? ContentLength =>
        long.TryParse(Get("Content-Length"), NumberStyles.None, CultureInfo.InvariantCulture, out var length) ? length : null;

    public bool WantsClose =>
        Get("Connection")?.Contains("close", StringComparison.OrdinalIgnoreCase) == true
        || (Version == "HTTP/1.0" && Get("Connection")?.Contains("keep-alive", StringComparison.OrdinalIgnoreCase) != true);

    public bool ExpectsContinue => Get("Expect")?.Contains("100-continue", StringComparison.OrdinalIgnoreCase) == true;

    public static RequestHead Parse(ReadOnlySpan<byte> bytes)
    {
        var text = Encoding.Latin1.GetString(bytes);
        var lines = text.Split("\r\n");
        var requestLine = lines[0].Split(' ');
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
            }
        }

        return new RequestHead(
            text,
            requestLine[0],
            requestLine.Length > 1 ? requestLine[1] : "",
            requestLine.Length > 2 ? requestLine[2] : "",
            headers);
    }

    public string? Get(string name)
    {
        string? result = null;
        foreach (var (key, value) in Headers)
        {
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                result = result is null ? value : result + ", " + value;
            }
        }

        return result;
    }
}
