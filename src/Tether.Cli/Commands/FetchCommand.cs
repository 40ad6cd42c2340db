using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Spectre.Console;

namespace Tether.Cli.Commands;

/// <summary>Where <c>tether fetch</c> reads stdin and writes the body; swapped in tests.</summary>
public sealed class FetchIo
{
    /// <summary>Gets the real process streams: stdin, stdout, and whether stdout/stderr are terminals.</summary>
    public static FetchIo Console { get; } = new()
    {
        OpenStdin = System.Console.OpenStandardInput,
        OpenStdout = OpenStdoutChecked,
        StdoutIsTerminal = () => !System.Console.IsOutputRedirected,
        StderrIsTerminal = () => !System.Console.IsErrorRedirected,
    };

    // Newcomer review 2026-12-01: Console.OpenStandardOutput ignores EPIPE (ConsolePal.Unix drops the error), so
    // `tether fetch URL | head -c 10` ran on to exit 0; a FileStream over fd 1 then lost the body under `> f 2>&1`.
    // StdoutStream writes with write(2): EPIPE is an error, and the file offset is shared with stderr.
    private static Stream OpenStdoutChecked() =>
        OperatingSystem.IsWindows() ? System.Console.OpenStandardOutput() : new StdoutStream();

    /// <summary>Gets or sets the function opening standard input (for <c>-d @-</c>).</summary>
    public required Func<Stream> OpenStdin { get; init; }

    /// <summary>Gets or sets the function opening standard output as raw bytes (the body is copied unchanged).</summary>
    public required Func<Stream> OpenStdout { get; init; }

    /// <summary>Gets or sets whether stdout is a terminal (false when piped or redirected).</summary>
    public required Func<bool> StdoutIsTerminal { get; init; }

    /// <summary>Gets or sets whether stderr is a terminal.</summary>
    public required Func<bool> StderrIsTerminal { get; init; }
}

/// <summary>
/// <c>tether fetch URL</c>: a curl-like fetch on <see cref="AsyncHttpClient"/>. The body is streamed
/// (<see cref="AsyncHttpClient.FetchStreamAsync(FetchRequest, CancellationToken)"/>) and copied to stdout or
/// <c>-o FILE</c>; <c>-v</c> reports on stderr the ledger connections of the run (ids) and the phase
/// timings. <c>--max-time</c> bounds the whole transfer (connect, headers and every body read) with one token, like
/// curl's <c>--max-time</c>; failures use curl's exit codes where curl has one (7, 22, 28, 35, 60).
/// </summary>
public static class FetchCommand
{
    /// <summary>A request body larger than this (bytes) is sent after <c>Expect: 100-continue</c>, as curl does (1 MiB,
    /// its <c>lib/http.c</c> threshold).</summary>
    public const int ExpectContinueThreshold = 1024 * 1024;

    /// <summary>Bodies at least this large (by Content-Length) get a progress bar on a terminal.</summary>
    public const long ProgressThreshold = 1024 * 1024;

    private static readonly string[] StandardMethods = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"];

    private static readonly string[] WriteOutVariables =
        ["http_code", "response_code", "time_total", "time_connect", "time_appconnect", "time_starttransfer", "size_download", "url_effective", "exitcode", "num_connects"];

    /// <summary>Creates the <c>fetch</c> command.</summary>
    /// <param name="io">The process streams (default: the console).</param>
    /// <returns>The command.</returns>
    public static Command Create(FetchIo? io = null)
    {
        io ??= FetchIo.Console;
        var url = new Argument<string>("url") { Description = "An http:// or https:// URL; without a scheme, http:// is assumed (as curl)." };
        var method = new Option<string?>("--request", "-X", "--method") { Description = "The request method (default GET, HEAD with -I, or POST with -d).", HelpName = "METHOD" };
        var header = new Option<string[]>("--header", "-H")
        {
            Description = "A request header 'Name: value'; repeat for more. 'Name:' (no value) removes a header tether would send "
                + "(User-Agent, Accept, Content-Type, Accept-Encoding); 'Name;' sends it with an empty value (as curl).",
            HelpName = "HEADER",
            AllowMultipleArgumentsPerToken = false,
        };
        var data = new Option<string[]>("--data", "-d")
        {
            Description = "Request body: inline text, @FILE, or @- for stdin; as curl's -d, CR and LF are removed from a file or stdin. "
                + "Repeat it and the parts are joined with '&' (as curl).",
            HelpName = "DATA",
            AllowMultipleArgumentsPerToken = false,
        };
        var dataBinary = new Option<string[]>("--data-binary")
        {
            Description = "Request body sent exactly as given: inline text, @FILE, or @- for stdin (curl's --data-binary); repeats are joined with '&'.",
            HelpName = "DATA",
            AllowMultipleArgumentsPerToken = false,
        };
        var json = new Option<string[]>("--json")
        {
            Description = "JSON request body (curl's --json): inline text, @FILE, or @- for stdin, sent as it is; repeats are joined "
                + "with nothing between them. Sends Content-Type and Accept: application/json unless -H gives them, and POST unless -X.",
            HelpName = "DATA",
            AllowMultipleArgumentsPerToken = false,
        };
        var userAgent = new Option<string?>("--user-agent", "-A")
        {
            Description = "The User-Agent header (curl's -A); -A '' sends none. Default: Tether's own (see docs/cli.md).",
            HelpName = "NAME",
        };
        var user = new Option<string?>("--user", "-u") { Description = "Basic authentication 'user:password' (curl's -u).", HelpName = "USER:PASSWORD" };
        Option<TimeSpan?> connectTimeout = CliSupport.OptionalDurationOption("--connect-timeout", "Connect timeout: seconds, or 250ms, 5s, 1m.");
        Option<TimeSpan?> maxTime = CliSupport.OptionalDurationOption(
            "--max-time", "Bound the whole transfer, body included (curl's --max-time): seconds, or 250ms, 5s, 1m. Exit 28 when it ends the transfer.", "-m", "--timeout");
        var location = new Option<bool>("--location", "-L") { Description = "Follow redirects." };
        var maxFilesize = new Option<long?>("--max-filesize")
        {
            Description = "Refuse a body larger than BYTES (500k, 10M, 2G: powers of 1024): exit 63, as curl. Without it a download has no size limit.",
            HelpName = "BYTES",
            CustomParser = ParseSize,
        };
        var maxRedirs = new Option<int?>("--max-redirs") { Description = "Most redirects to follow with -L (default 5).", HelpName = "N" };
        var insecure = new Option<bool>("--insecure", "-k") { Description = "Do not verify the server's TLS certificate (testing only)." };
        var cacert = new Option<FileInfo?>("--cacert") { Description = "Trust the CA certificate(s) in this PEM file for the server's certificate.", HelpName = "FILE" };
        var proxy = new Option<string?>("--proxy", "-x") { Description = "HTTP proxy URL, e.g. http://user:pass@127.0.0.1:3128. Without it, http_proxy, https_proxy, all_proxy and no_proxy apply, as in curl.", HelpName = "URL" };
        var output = new Option<string?>("--output", "-o") { Description = "Write the body to FILE instead of stdout ('-' is stdout).", HelpName = "FILE" };
        var remoteName = new Option<bool>("--remote-name", "-O")
        {
            Description = "Write the body to a file in the current directory named as the URL's last path segment (curl's -O).",
        };
        var include = new Option<bool>("--include", "-i") { Description = "Write the status line and response headers before the body." };
        var head = new Option<bool>("--head", "-I") { Description = "Send HEAD and write the status line and headers only." };
        var compressed = new Option<bool>("--compressed")
        {
            Description = "Ask for a compressed response and decode it (tether always does both; accepted for curl habits).",
        };
        var fail = new Option<bool>("--fail", "-f") { Description = "On HTTP 400 or above, write no body and exit 22 (curl's -f)." };
        var silent = new Option<bool>("--silent", "-s") { Description = "No progress bar and no error message (exit code only; -v's trace still shows, as curl); see -S." };
        var showError = new Option<bool>("--show-error", "-S") { Description = "With -s, still print the error message." };
        var writeOut = new Option<string?>("--write-out", "-w")
        {
            Description = "After the transfer, print FORMAT on stdout with %{http_code} (or %{response_code}), %{time_total}, %{time_connect}, "
                + "%{time_appconnect}, %{time_starttransfer} (seconds), %{size_download}, %{url_effective}, %{exitcode}, %{num_connects}; \\n is a newline.",
            HelpName = "FORMAT",
        };
        var verbose = new Option<bool>("--verbose", "-v")
        {
            Description = "On stderr: the connections (ledger ids), phase timings, request and response heads, "
                + "and stack traces on errors. URLs are redacted.",
        };
        var command = new Command("fetch", "Fetch a URL with Tether's AsyncHttpClient and write the body to stdout (curl habits: -o, -i, -I, -f, -s, -w, -u, --max-time).")
        {
            url, method, header, data, dataBinary, json, userAgent, user, connectTimeout, maxTime, location, maxRedirs, maxFilesize, insecure, cacert, proxy, output, remoteName, include, head,
            compressed, fail, silent, showError, writeOut, verbose,
        };
        command.WithEpilog(
            "Examples:\n"
            + "  tether fetch http://127.0.0.1:8080/hello\n"
            + "  tether fetch -i -X PUT -H 'Content-Type: application/json' -d '{\"a\":1}' http://127.0.0.1:8080/echo\n"
            + "  tether fetch --json '{\"a\":1}' -A my-probe/1.0 127.0.0.1:8080/echo   # POST JSON; no scheme means http://\n"
            + "  tether fetch --data-binary @body.bin http://127.0.0.1:8080/upload   # a file as is (-d @FILE drops newlines; @- reads stdin)\n"
            + "  tether fetch -L --max-redirs 3 --max-time 10 -o out.bin http://127.0.0.1:8080/bytes/50000000\n"
            + "  tether fetch -sf -o /dev/null -w '%{http_code} %{time_total}\\n' http://127.0.0.1:8080/health\n"
            + "  tether fetch --cacert ca.pem -u alice:secret https://127.0.0.1:8443/private\n"
            + "  tether fetch -v -k https://127.0.0.1:8443/hello            # connection, ledger id, timings on stderr\n\n"
            + "The body is decoded (gzip, deflate, br) as curl --compressed does. A progress bar (stderr) appears only with\n"
            + "-o FILE on a terminal for bodies of 1 MiB or more (or of unknown length); never when piped or with -s.\n"
            + "No size limit unless --max-filesize (exit 63); a decoded body past 100 MiB must stay within 100:1 of the bytes received.\n"
            + "-H 'Name:' removes a header tether sends itself (User-Agent, Accept: */*, ...); -H 'Name;' sends it empty.\n"
            + "As curl, a binary body (NUL bytes) is not written to a terminal unless -o - is given.\n"
            + "Differences from curl: an HTTP error without -f is exit 1 (curl: 0); -o into a missing directory is exit 2;\n"
            + "a write failure (stdout closed by | head) is exit 4 (curl: 23).");

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            TextWriter error = parseResult.InvocationConfiguration.Error;
            bool quiet = parseResult.GetValue(silent) && !parseResult.GetValue(showError);
            TextWriter errors = quiet ? TextWriter.Null : error;
            var request = new FetchRequest(WithScheme(parseResult.GetValue(url)!));
            string? outputFile = parseResult.GetValue(output);
            string? remoteNameError = null;
            if (parseResult.GetValue(remoteName))
            {
                // curl's -O (newcomer tour 2026-12-02: it was an unknown option whose hint, '-o', needs a file name).
                (outputFile, remoteNameError) = outputFile is not null
                    ? (outputFile, "-o and -O both name the output file; use one of them.")
                    : RemoteName(request.Url);
            }

            var options = new Settings(
                parseResult.GetValue(verbose),
                parseResult.GetValue(include) || parseResult.GetValue(head),
                parseResult.GetValue(head),
                outputFile,
                parseResult.GetValue(fail),
                parseResult.GetValue(silent),
                parseResult.GetValue(writeOut),
                parseResult.GetValue(maxTime),
                parseResult.GetValue(maxFilesize),
                parseResult.GetValue(cacert) is not null);
            string[] dataParts = parseResult.GetValue(data) ?? [];
            string[] binaryParts = parseResult.GetValue(dataBinary) ?? [];
            string[] jsonParts = parseResult.GetValue(json) ?? [];
            string[]? body = dataParts.Length > 0 ? dataParts : binaryParts.Length > 0 ? binaryParts : jsonParts.Length > 0 ? jsonParts : null;
            int bodyForms = (dataParts.Length > 0 ? 1 : 0) + (binaryParts.Length > 0 ? 1 : 0) + (jsonParts.Length > 0 ? 1 : 0);
            string? usage;
            try
            {
                usage = Build(
                    request,
                    parseResult.GetValue(method) ?? (options.Head ? "HEAD" : null),
                    parseResult.GetValue(header) ?? [],
                    body,
                    dataParts.Length == 0 ? (jsonParts.Length > 0 ? BodyForm.Json : BodyForm.Binary) : BodyForm.Data,
                    bodyForms > 1,
                    parseResult.GetValue(userAgent),
                    parseResult.GetValue(user),
                    io,
                    parseResult.GetValue(connectTimeout),
                    parseResult.GetValue(location),
                    parseResult.GetValue(maxRedirs),
                    parseResult.GetValue(insecure),
                    parseResult.GetValue(cacert),
                    parseResult.GetValue(proxy))
                    ?? remoteNameError
                    ?? CheckOutput(options.Output)
                    ?? CheckWriteOut(options.WriteOut);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                usage = $"cannot read the --data file: {ex.Message}";
            }

            if (usage is not null)
            {
                error.WriteLine($"tether: {usage} Run 'tether fetch --help' for usage.");
                return ExitCodes.Usage;
            }

            // As curl, -s silences the error message and the progress bar, not -v's trace (`curl -sv` is a habit).
            var run = new FetchRun(io, errors, error, options);
            return await run.ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>Whether a download gets a progress bar: only into a file, only on a terminal, only when large.</summary>
    /// <param name="toFile">The body goes to <c>-o FILE</c>.</param>
    /// <param name="stdoutIsTerminal">Stdout is a terminal (not piped or redirected).</param>
    /// <param name="stderrIsTerminal">Stderr (where the bar is drawn) is a terminal.</param>
    /// <param name="contentLength">The response's Content-Length, if any.</param>
    /// <returns>True to draw a bar.</returns>
    public static bool ShowsProgress(bool toFile, bool stdoutIsTerminal, bool stderrIsTerminal, long? contentLength) =>
        toFile && stdoutIsTerminal && stderrIsTerminal && (contentLength is null || contentLength >= ProgressThreshold);

    /// <summary>Expands a <c>-w</c> format: <c>%{name}</c> variables, <c>\n</c>, <c>\t</c>, <c>\\</c> and <c>%%</c>.</summary>
    /// <param name="format">The format.</param>
    /// <param name="lookup">The value of a variable, or null when unknown.</param>
    /// <returns>The text.</returns>
    public static string ExpandWriteOut(string format, Func<string, string?> lookup)
    {
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(lookup);
        var sb = new StringBuilder(format.Length + 16);
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c == '%' && i + 1 < format.Length && format[i + 1] == '{')
            {
                int end = format.IndexOf('}', i + 2);
                if (end > 0)
                {
                    string name = format[(i + 2)..end];
                    sb.Append(lookup(name) ?? format[i..(end + 1)]);
                    i = end;
                    continue;
                }
            }
            else if (c == '%' && i + 1 < format.Length && format[i + 1] == '%')
            {
                sb.Append('%');
                i++;
                continue;
            }
            else if (c == '\\' && i + 1 < format.Length)
            {
                char n = format[i + 1];
                string? escaped = n switch { 'n' => "\n", 't' => "\t", 'r' => "\r", '\\' => "\\", _ => null };
                if (escaped is not null)
                {
                    sb.Append(escaped);
                    i++;
                    continue;
                }
            }

            sb.Append(c);
        }

        return sb.ToString();
    }

    private static string? CheckWriteOut(string? format)
    {
        if (format is null)
        {
            return null;
        }

        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(format, "%\\{([^}]*)\\}"))
        {
            if (!WriteOutVariables.Contains(m.Groups[1].Value, StringComparer.Ordinal))
            {
                return $"-w variable '%{{{m.Groups[1].Value}}}' is not known; use {string.Join(", ", WriteOutVariables.Select(v => "%{" + v + "}"))}.";
            }
        }

        return null;
    }

    // Issue 14 item 9: `-o /nonexistent/x` used to fail after the request as "transfer failed" (exit 4).
    private static string? CheckOutput(string? output)
    {
        if (output is null or "-")
        {
            return null;
        }

        string full = Path.GetFullPath(output);
        if (Directory.Exists(full))
        {
            return $"-o '{output}' is a directory; give a file name.";
        }

        string? dir = Path.GetDirectoryName(full);
        return dir is not null && !Directory.Exists(dir)
            ? $"-o '{output}': the directory '{dir}' does not exist; create it first (mkdir -p)."
            : null;
    }

    // Fills the request from the options; returns a usage message when something is wrong.
    private static string? Build(
        FetchRequest request, string? method, string[] headers, string[]? data, BodyForm form, bool bothDataForms, string? userAgent, string? user, FetchIo io,
        TimeSpan? connectTimeout,
        bool location, int? maxRedirs, bool insecure, FileInfo? cacert, string? proxy)
    {
        if (!Uri.TryCreate(request.Url, UriKind.Absolute, out Uri? target) || (target.Scheme != Uri.UriSchemeHttp && target.Scheme != Uri.UriSchemeHttps))
        {
            // Newcomer review 2026-12-01: `http://127.0.0.1:99999/` was called "not an absolute URL"; name the port.
            return PortOutOfRange(request.Url) is { } port
                ? $"the port {port} in '{Redaction.Url(request.Url)}' is out of range; a TCP port is 1 to 65535."
                : $"'{Redaction.Url(request.Url)}' is not an absolute http:// or https:// URL; write e.g. http://127.0.0.1:8080/path.";
        }

        // curl's rule (newcomer review 2026-12-01): 'Name: value' adds a header, 'Name:' removes one tether would
        // send itself (and any given before), 'Name;' sends it with an empty value.
        var removed = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (string h in headers)
        {
            int colon = h.IndexOf(':', StringComparison.Ordinal);
            string trimmed = h.TrimEnd();
            if (colon < 0 && trimmed.Length > 1 && trimmed.EndsWith(';'))
            {
                string emptyName = trimmed[..^1].Trim();
                removed.Remove(emptyName);
                request.Headers.Add(emptyName, string.Empty);
                continue;
            }

            if (colon <= 0)
            {
                return $"header '{h}' is not 'Name: value'; write e.g. -H 'Accept: text/plain' ('Name:' removes a header, 'Name;' sends it empty).";
            }

            string name = h[..colon].Trim();
            string value = h[(colon + 1)..].Trim();
            if (value.Length == 0)
            {
                request.Headers.Remove(name);
                removed.Add(name);
                continue;
            }

            removed.Remove(name);
            request.Headers.Add(name, value);
        }

        if (removed.Contains("User-Agent"))
        {
            request.UserAgent = string.Empty; // the library sends no User-Agent for an empty one
        }
        else if (userAgent is not null && !request.Headers.Contains("User-Agent"))
        {
            // -A NAME (curl): -H 'User-Agent: x' wins over it, as in curl; -A '' sends none.
            request.UserAgent = userAgent;
        }

        if (!request.Headers.Contains("Accept") && !removed.Contains("Accept"))
        {
            // As curl: some servers answer 406 to a request without Accept. --json asks for JSON (curl 7.82).
            request.Headers.Add("Accept", form == BodyForm.Json && data is not null ? "application/json" : "*/*");
        }

        request.Method = method ?? (data is null ? "GET" : "POST");
        if (Array.Find(StandardMethods, m => m.Equals(request.Method, StringComparison.OrdinalIgnoreCase)) is { } standard)
        {
            // .NET's HttpMethod sends the standard names upper-case in any case (`-X get` goes out as GET); the checks
            // below and -v's request line use what is sent (newcomer tour 2026-12-02: `-X get -d x` sent a GET body).
            request.Method = standard;
        }

        if (request.Method.Length == 0 || request.Method.Any(c => c <= ' ' || c >= 127))
        {
            return $"-X '{request.Method}' is not an HTTP method token; write e.g. -X PUT.";
        }

        if (bothDataForms)
        {
            return "-d, --data-binary and --json each give the body; use one of them.";
        }

        if (data is not null)
        {
            if (request.Method is "GET" or "HEAD")
            {
                // Issue 14 item 9: the library's own message named a FetchRequest property.
                return $"-d sends a request body, and tether does not send one with {request.Method}; use -X POST (or PUT, PATCH), or drop -d.";
            }

            // Repeated -d (or --data-binary) parts are joined with '&', as curl does (newcomer review 2026-12-01).
            using var joined = new MemoryStream();
            foreach (string part in data)
            {
                byte[] bytes = part switch
                {
                    "@-" => ReadAll(io.OpenStdin()),
                    _ when part.StartsWith('@') => File.ReadAllBytes(part[1..]),
                    _ => Encoding.UTF8.GetBytes(part),
                };
                if (form == BodyForm.Data && part.StartsWith('@'))
                {
                    // curl's -d (--data-ascii) removes carriage returns and newlines from a file or stdin; --data-binary
                    // sends the bytes as they are.
                    bytes = Array.FindAll(bytes, b => b is not (byte)'\r' and not (byte)'\n');
                }

                if (joined.Length > 0 && form != BodyForm.Json)
                {
                    joined.WriteByte((byte)'&');
                }

                joined.Write(bytes);
            }

            request.Body = FetchBody.FromBytes(joined.ToArray());
            if (joined.Length > ExpectContinueThreshold && !removed.Contains("Expect"))
            {
                // As curl (over 1 MiB): the server can refuse the upload (413, 401, a redirect) before it is sent. Without
                // it, a server that answered 413 early and closed left only a request-write error (newcomer review
                // 2026-12-01). -H 'Expect:' turns it off, as with curl.
                request.ExpectContinue = true;
            }

            if (!request.Headers.Contains("Content-Type") && !removed.Contains("Content-Type"))
            {
                request.Headers.Add("Content-Type", form == BodyForm.Json ? "application/json" : "application/x-www-form-urlencoded");
            }
        }
        else if (request.Method is "POST" or "PUT" or "PATCH")
        {
            // `-X POST` without -d (newcomer review 2026-12-01): an empty body with Content-Length: 0, as `curl -d ''`
            // sends and RFC 9110 §8.6 asks of a method that defines content; the library refuses a POST with no body.
            request.Body = FetchBody.FromBytes(ReadOnlyMemory<byte>.Empty);
        }

        if (maxRedirs is < 0)
        {
            return $"--max-redirs {maxRedirs} must be 0 or more.";
        }

        if (user is not null)
        {
            // An empty user name (`-u :token`) is sent as curl sends it (newcomer tour 2026-12-02); no colon is refused.
            int colon = user.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                return "-u needs 'user:password' (tether does not prompt for the password).";
            }

            request.AuthUsername = user[..colon];
            request.AuthPassword = user[(colon + 1)..];
            request.AuthMode = AuthMode.Basic;
        }
        else if (target.UserInfo.Length > 0)
        {
            // curl (and Tornado's fetch) use credentials in the URL as Basic auth when -u is not given; a plain
            // HttpClient ignores them, and so did tether before (coordinator's curl tour, 2026-12-01). They are
            // percent-decoded, as curl does; -u wins over them.
            int colon = target.UserInfo.IndexOf(':', StringComparison.Ordinal);
            request.AuthUsername = Uri.UnescapeDataString(colon < 0 ? target.UserInfo : target.UserInfo[..colon]);
            request.AuthPassword = colon < 0 ? string.Empty : Uri.UnescapeDataString(target.UserInfo[(colon + 1)..]);
            request.AuthMode = AuthMode.Basic;
        }

        if (cacert is not null)
        {
            if (insecure)
            {
                return "--cacert and -k contradict each other: --cacert verifies against a CA, -k skips verification; keep one.";
            }

            if (!cacert.Exists)
            {
                return $"--cacert '{cacert.FullName}' does not exist; give a PEM file with the CA certificate.";
            }

            var collection = new X509Certificate2Collection();
            try
            {
                collection.ImportFromPemFile(cacert.FullName);
            }
            catch (CryptographicException ex)
            {
                return $"--cacert '{cacert.FullName}' is not a PEM certificate file ({ex.Message}).";
            }

            if (collection.Count == 0)
            {
                return $"--cacert '{cacert.FullName}' holds no '-----BEGIN CERTIFICATE-----' block.";
            }

            request.CaCertificates = collection;
        }

        request.ConnectTimeout = connectTimeout;
        // curl has no overall deadline unless --max-time is given, and --max-time is the CLI's own token over the whole
        // transfer: the library's RequestTimeout (20 s by default, covering a streamed body too) must not cut a long
        // download short.
        request.RequestTimeout = Timeout.InfiniteTimeSpan;
        // curl sends any method, and a body with any method but GET/HEAD (refused above); the library's sanity checks
        // (CLIENT-13) are for programs (newcomer review 2026-12-01: `-X PURGE`, `-X DELETE -d x` got a library message).
        request.AllowNonstandardMethods = true;
        request.FollowRedirects = location;
        request.MaxRedirects = maxRedirs;
        request.RaiseOnError = false;
        // Like curl --compressed: a gzip body is decoded, never printed raw. `-H 'Accept-Encoding:'` asks for no coding
        // at all (the library only advertises codings it decodes).
        request.DecompressResponse = !removed.Contains("Accept-Encoding");
        // The body is streamed to its destination, so the library's MaxBodySize (100 MiB by default, a bound on memory for
        // buffered fetches) does not apply (newcomer review 2026-12-01: a 101 MiB download failed with exit 4). The
        // CLI checks --max-filesize itself and guards decoded bodies by their ratio (GuardedOutput).
        request.MaxBodySize = long.MaxValue;
        if (insecure)
        {
            request.ValidateCertificate = false;
        }

        if (proxy is not null)
        {
            if (!Uri.TryCreate(proxy, UriKind.Absolute, out Uri? p) || p.Scheme != Uri.UriSchemeHttp)
            {
                return $"--proxy '{Redaction.Url(proxy)}' is not an http:// proxy URL; write e.g. http://127.0.0.1:3128.";
            }

            if (p.UserInfo.Length > 0)
            {
                string[] parts = p.UserInfo.Split(':', 2);
                request.ProxyUsername = Uri.UnescapeDataString(parts[0]);
                request.ProxyPassword = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : string.Empty;
            }

            request.Proxy = new UriBuilder(p) { UserName = string.Empty, Password = string.Empty }.Uri;
        }
        else
        {
            // Like curl: without -x, the environment's proxy applies (http_proxy, https_proxy, all_proxy, no_proxy;
            // read by HttpClient.DefaultProxy). The library's FetchAsync keeps Tornado's default and ignores it.
            request.UseDefaultProxy = true;
        }

        return null;
    }

    /// <summary>The file name curl's <c>-O</c> gives a download: the last segment of the URL's path, as it is written in
    /// the URL (no query, not percent-decoded, as curl 7.88), in the current directory.</summary>
    /// <param name="url">The URL, with its scheme.</param>
    /// <returns>The file name, or the usage message when the path has none.</returns>
    public static (string? Name, string? Error) RemoteName(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? target))
        {
            return (null, null); // Build names the bad URL
        }

        string name = target.AbsolutePath[(target.AbsolutePath.LastIndexOf('/') + 1)..];
        return name is "" or "." or ".."
            ? (null, $"-O takes the file name from the end of the URL's path, and '{Redaction.Url(url)}' has none; give -o FILE.")
            : (name, null);
    }

    /// <summary>A URL given without a scheme (<c>127.0.0.1:8080/hello</c>) is taken as http://, as curl does; one with a
    /// scheme is returned as it is (and refused later if that scheme is not http or https).</summary>
    /// <param name="url">The URL argument.</param>
    /// <returns>The URL to fetch.</returns>
    public static string WithScheme(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        return url.Contains("://", StringComparison.Ordinal) || url.Length == 0 ? url : "http://" + url;
    }

    private enum BodyForm
    {
        Data,
        Binary,
        Json,
    }

    // The port of an http(s) URL when it is a number over 65535 (System.Uri then refuses the whole URL).
    private static string? PortOutOfRange(string url)
    {
        System.Text.RegularExpressions.Match m = System.Text.RegularExpressions.Regex.Match(
            url, "^https?://(?:[^/?#@]*@)?(?:\\[[^\\]]*\\]|[^:/?#\\[]*):([0-9]+)(?:[/?#]|$)", System.Text.RegularExpressions.RegexOptions.IgnoreCase);
        return m.Success && (m.Groups[1].Value.Length > 5 || int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) > 65535)
            ? m.Groups[1].Value
            : null;
    }

    // --max-filesize BYTES: a whole number, optionally with k, M or G (powers of 1024, as curl).
    private static long? ParseSize(System.CommandLine.Parsing.ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value.Trim() : string.Empty;
        long unit = text.Length == 0 ? 1 : char.ToUpperInvariant(text[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
        string digits = unit == 1 ? text : text[..^1];
        if (long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n > 0 && n <= long.MaxValue / unit)
        {
            return n * unit;
        }

        result.AddError($"--max-filesize '{text}' is not a size; write bytes (1000000) or 500k, 10M, 2G.");
        return null;
    }

    private static byte[] ReadAll(Stream stream)
    {
        using (stream)
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            return buffer.ToArray();
        }
    }

    /// <summary>Maps a fetch failure to an exit code, curl's where curl has one for the same failure.</summary>
    /// <param name="kind">The failure kind.</param>
    /// <param name="tls">The TLS cause (<see cref="FetchException.TlsFailure"/>): a certificate the client refused is
    /// curl's 60, any other handshake failure curl's 35.</param>
    /// <returns>The exit code.</returns>
    public static int ExitCodeFor(FetchErrorKind kind, TlsFailureKind tls = TlsFailureKind.None) => kind switch
    {
        FetchErrorKind.HttpStatus => ExitCodes.HttpError,
        FetchErrorKind.ConnectionRefused => ExitCodes.ConnectFailed,
        FetchErrorKind.QueueTimeout or FetchErrorKind.PoolWaitTimeout or FetchErrorKind.ConnectTimeout
            or FetchErrorKind.RequestTimeout or FetchErrorKind.BodyTimeout or FetchErrorKind.PingTimeout => ExitCodes.Timeout,
        FetchErrorKind.Tls => tls is TlsFailureKind.UntrustedChain or TlsFailureKind.NotTimeValid or TlsFailureKind.NameMismatch
            or TlsFailureKind.Revoked ? ExitCodes.TlsCertificate : ExitCodes.TlsHandshake,
        _ => ExitCodes.TransportError,
    };

    /// <summary>The header lines <c>-v</c> prints for a request: those given with <c>-H</c> (and the CLI's own), then
    /// the ones the library adds when it builds the request (RequestBuilder: User-Agent, Accept-Encoding, Basic
    /// Authorization, Expect) and Content-Length for a body, as curl's <c>-v</c> shows every line it sends. The
    /// handler's Host line is left out. Newcomer review (2026-12-01): <c>-v</c> showed only the <c>-H</c> headers, so a
    /// user could not see the User-Agent or Accept-Encoding that went out.</summary>
    /// <param name="request">The request as the CLI built it.</param>
    /// <returns>Name and value of each line, in that order.</returns>
    public static IEnumerable<(string Name, string Value)> RequestHead(FetchRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        foreach ((string name, string value) in request.Headers)
        {
            yield return (name, value);
        }

        string userAgent = request.UserAgent ?? ResolvedSettings.DefaultUserAgent;
        if (!request.Headers.Contains("User-Agent") && userAgent.Length > 0)
        {
            yield return ("User-Agent", userAgent);
        }

        if (request.DecompressResponse != false && !request.Headers.Contains("Accept-Encoding"))
        {
            yield return ("Accept-Encoding", RequestBuilder.AcceptEncodingFor(request.Headers));
        }

        if (request.AuthUsername is not null && (request.AuthMode ?? AuthMode.Basic) == AuthMode.Basic && !request.Headers.Contains("Authorization"))
        {
            yield return ("Authorization", "Basic ***");
        }

        if (request.Body is { Bytes: { } bytes } && !request.Headers.Contains("Content-Length"))
        {
            yield return ("Content-Length", bytes.Length.ToString(CultureInfo.InvariantCulture));
        }

        if (request.ExpectContinue == true && request.Body is not null)
        {
            yield return ("Expect", "100-continue");
        }
    }

    private sealed record Settings(
        bool Verbose, bool Include, bool Head, string? Output, bool Fail, bool Silent, string? WriteOut, TimeSpan? MaxTime, long? MaxFilesize,
        bool CaCert);

    // One fetch: stream the body to its destination, report, map the outcome to an exit code.
    private sealed class FetchRun(FetchIo io, TextWriter error, TextWriter trace, Settings settings)
    {
        private readonly System.Diagnostics.Stopwatch _clock = new();
        private readonly StringBuilder _hopHeads = new(); // -i -L: the heads of the redirects followed, in order
        private Tether.Diagnostics.LedgerEntry? _served;   // the ledger's record of the connection of the final response
        private FetchResponse? _response;
        private long _bytes;
        private int? _connections; // sockets the run's client holds once the response head arrived (curl's num_connects)

        private bool ToStdout => settings.Output is null or "-";

        public async Task<int> ExecuteAsync(FetchRequest request, CancellationToken cancellationToken)
        {
            int code = await TransferAsync(request, cancellationToken).ConfigureAwait(false);
            if (settings.WriteOut is { } format)
            {
                string text = ExpandWriteOut(format, name => Variable(name, code));
                try
                {
                    Stream stdout = io.OpenStdout();
                    await stdout.WriteAsync(Encoding.UTF8.GetBytes(text), CancellationToken.None).ConfigureAwait(false);
                    await stdout.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (IOException) when (code != ExitCodes.Ok)
                {
                    // stdout is already gone (the broken pipe was reported): nothing more to say on it.
                }
            }

            return code;
        }

        private string? Variable(string name, int code)
        {
            FetchResponse? r = _response;
            string S(TimeSpan t) => t.TotalSeconds.ToString("0.000000", CultureInfo.InvariantCulture);
            return name switch
            {
                "http_code" or "response_code" => r is null ? "000" : r.Code.ToString("000", CultureInfo.InvariantCulture),
                "time_total" => S(_clock.Elapsed),
                // The handler owns connection attempts (CORE-04), so the fetch itself does not time them; the pool's
                // ledger does, per connection: the one that served the final response (docs/cli.md). As curl, counted
                // from the start (queue time included); 0 for time_appconnect without TLS.
                "time_connect" => S(r is not null && _served?.ConnectDuration is { } connect ? r.TimeInfo.Queue + connect : TimeSpan.Zero),
                "time_appconnect" => S(r is not null && r.EffectiveUrl.Scheme == Uri.UriSchemeHttps && _served?.SetupDuration is { } setup
                    ? r.TimeInfo.Queue + setup : TimeSpan.Zero),
                "time_starttransfer" => r is null ? S(TimeSpan.Zero) : S(r.TimeInfo.Queue + r.TimeInfo.FirstByte),
                "size_download" => _bytes.ToString(CultureInfo.InvariantCulture),
                "url_effective" => r is null ? string.Empty : Redaction.Uri(r.EffectiveUrl),
                "exitcode" => code.ToString(CultureInfo.InvariantCulture),
                "num_connects" => (_connections ?? 0).ToString(CultureInfo.InvariantCulture),
                _ => null,
            };
        }

        private async Task<int> TransferAsync(FetchRequest request, CancellationToken interrupt)
        {
            if (settings.Verbose)
            {
                trace.WriteLine($"> {request.Method} {Redaction.Url(request.Url)}");
                foreach ((string name, string value) in RequestHead(request))
                {
                    trace.WriteLine($"> {name}: {(IsSecretHeader(name) ? "***" : value)}");
                }
            }

            // One token for the whole transfer (CLI-14): the connect, the headers and every body read stop at --max-time.
            using var maxTime = new CancellationTokenSource();
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(interrupt, maxTime.Token);
            CancellationToken token = linked.Token;
            _clock.Start();
            if (settings.MaxTime is { } limit)
            {
                // Timers tick in whole milliseconds and may fire up to one early; +2 ms keeps "never before T" true.
                maxTime.CancelAfter(limit + TimeSpan.FromMilliseconds(2));
            }

            if (settings.Include && request.FollowRedirects == true)
            {
                // curl's -i -L prints the head of every hop, then the final one; the library reports each followed
                // redirect's head as it leaves it.
                request.RedirectHeaderCallback = line => _hopHeads.Append(line).Append("\r\n");
            }

            await using var client = new AsyncHttpClient(new AsyncHttpClientOptions { Name = "tether-fetch" });
            try
            {
                await using FetchResponse response = await client.FetchStreamAsync(request, token).ConfigureAwait(false);
                _response = response;
                _connections = client.Pool?.Count;
                _served = ServingConnection(client.Pool, response);
                if (settings.Verbose)
                {
                    ReportConnection(response, client.Pool);
                }

                bool failed = response.Code >= 400;
                var bodyClock = System.Diagnostics.Stopwatch.StartNew();
                if (!(failed && settings.Fail))
                {
                    _bytes = await WriteAsync(response, client.Pool, token).ConfigureAwait(false);
                }

                if (settings.Verbose)
                {
                    string left = client.Pool is { Count: > 0 }
                        ? $"{Ids(client.Pool)} closed with the client on exit"
                        : "no connection left open (the server closed it)";
                    trace.WriteLine(string.Create(CultureInfo.InvariantCulture, $"* body {_bytes} bytes in {Ms(bodyClock.Elapsed)}; {left}"));
                }

                if (failed)
                {
                    error.WriteLine($"tether: HTTP {response.Code} {response.Reason} from {Redaction.Uri(response.EffectiveUrl)}");
                    return settings.Fail ? ExitCodes.HttpErrorFail : ExitCodes.HttpError;
                }

                return ExitCodes.Ok;
            }
            catch (Exception ex) when (interrupt.IsCancellationRequested && ex is OperationCanceledException or FetchException or IOException)
            {
                error.WriteLine($"tether: interrupted (Ctrl-C) after {_bytes} body bytes; the connection was closed.");
                return ExitCodes.Interrupted;
            }
            catch (Exception ex) when (maxTime.IsCancellationRequested && ex is OperationCanceledException or FetchException or IOException)
            {
                error.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"tether: operation timed out after {_clock.Elapsed.TotalMilliseconds:0} ms (--max-time {CliSupport.Format(settings.MaxTime!.Value)}) with {_bytes} body bytes received [28 timeout]"));
                Verbose(ex);
                return ExitCodes.Timeout;
            }
            catch (FetchException ex)
            {
                string message = ex.Kind switch
                {
                    FetchErrorKind.Tls => TlsMessage(ex.Message, ex.TlsFailure, settings.CaCert),
                    FetchErrorKind.TooManyRedirects => RedirectMessage(ex.Message),
                    _ => ex.Message,
                };
                error.WriteLine($"tether: {message} [{ex.Code} {ex.Kind}]");
                Verbose(ex);
                return ExitCodeFor(ex.Kind, ex.TlsFailure);
            }
            catch (Exception ex) when (ex is ArgumentException or OptionsValidationException)
            {
                // "(Parameter 'request')" names a C# parameter, nothing a CLI user can act on.
                string message = ex is ArgumentException { ParamName: { } param }
                    ? ex.Message.Replace($" (Parameter '{param}')", string.Empty, StringComparison.Ordinal)
                    : ex.Message;
                error.WriteLine($"tether: {message}");
                Verbose(ex);
                return ExitCodes.Usage;
            }
            catch (BinaryOutputException)
            {
                // Newcomer tour 2026-12-02: curl refuses (exit 23, its write error; tether's is 4); tether printed the bytes.
                error.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"tether: the body is binary (it holds NUL bytes) and stdout is a terminal, which it could garble; stopped after {_bytes} body bytes. Save it with -o FILE, pipe it, or give -o - to print it anyway."));
                return ExitCodes.TransportError;
            }
            catch (BodyTooLargeException ex)
            {
                error.WriteLine($"tether: {ex.Message} [63 max file size]");
                Verbose(ex);
                return ExitCodes.FileTooLarge;
            }
            catch (OutputException ex)
            {
                // Newcomer review 2026-12-01: `tether fetch URL | head -c 10` exited 0 (Console's stdout ignores EPIPE).
                error.WriteLine(ex.BrokenPipe
                    ? $"tether: stdout closed (broken pipe) after {_bytes + ex.PartialBytes} body bytes; the transfer was stopped."
                    : $"tether: cannot write the body to {(ToStdout ? "stdout" : $"'{settings.Output}'")} after {_bytes} bytes: {ex.InnerException?.Message}");
                Verbose(ex);
                return ExitCodes.TransportError;
            }
            catch (IOException ex)
            {
                // The body stream broke mid-way (reset, truncated body).
                error.WriteLine($"tether: transfer failed after {_bytes} body bytes: {ex.Message}");
                Verbose(ex);
                return ExitCodes.TransportError;
            }
        }

        // Newcomer review 2026-12-01: the library names its option (MaxRedirects); the CLI user's knob is --max-redirs.
        private static string RedirectMessage(string message) =>
            System.Text.RegularExpressions.Regex.Replace(
                message.Replace("Raise MaxRedirects", "Raise --max-redirs", StringComparison.Ordinal), "MaxRedirects = ([0-9]+)", "--max-redirs $1");

        // The library speaks to programmers (CaCertificates); a CLI user needs the flags, and only those that can help
        // (newcomer tour 2026-12-02): a handshake that failed before any certificate was judged (exit 35: a plain-HTTP
        // port, no common protocol) is not fixed by --cacert or -k, and was told to use them even with -k given; a
        // certificate refused although --cacert was given was told to pass --cacert.
        private static string TlsMessage(string message, TlsFailureKind failure, bool caCertGiven)
        {
            const string TrustHint = "pass --cacert FILE (the CA certificate, PEM) to trust the server, or -k/--insecure to skip verification (testing only)";
            const string InsecureHint = "-k/--insecure skips verification (testing only)";
            if (ExitCodeFor(FetchErrorKind.Tls, failure) != ExitCodes.TlsCertificate)
            {
                // The failing host may be a redirect's target, so the hint names the scheme, not a URL.
                return message.TrimEnd('.') + "; if that port speaks plain HTTP, use an http:// URL.";
            }

            string hint = caCertGiven ? InsecureHint : TrustHint;
            string replaced = message.Replace("trust its CA with CaCertificates, or fix the server's chain", hint + ", or fix the server's chain", StringComparison.Ordinal);
            return replaced.Contains("--cacert", StringComparison.Ordinal) ? replaced : replaced.TrimEnd('.') + "; " + hint + ".";
        }

        private void Verbose(Exception ex)
        {
            if (settings.Verbose)
            {
                error.WriteLine(ex.ToString());
            }
        }


        /// <summary>The ledger's record of the connection that served <paramref name="response"/>: the newest one to its
        /// origin in the run's own pool (the CLI's client has a pool of its own, and keeps at most one connection per
        /// origin for a single fetch).</summary>
        private static Tether.Diagnostics.LedgerEntry? ServingConnection(ConnectionPool? pool, FetchResponse response)
        {
            string origin = Redaction.HostKey(response.EffectiveUrl);
            return pool?.Snapshot()
                .Where(e => string.Equals(e.HostKey, origin, StringComparison.Ordinal))
                .OrderByDescending(e => e.CreatedAt)
                .FirstOrDefault();
        }

        // The handler picks the connection for each request (CORE-03): the report lists the client's ledger entries, which
        // is exact, instead of claiming which one carried the response.
        private static string Ids(ConnectionPool? pool)
        {
            IReadOnlyList<Tether.Diagnostics.LedgerEntry> entries = pool?.Snapshot() ?? [];
            return entries.Count == 0 ? "no connection"
                : entries.Count == 1
                ? $"connection #{entries[0].Id.ToString(CultureInfo.InvariantCulture)}"
                : $"connections {string.Join(", ", entries.Select(e => "#" + e.Id.ToString(CultureInfo.InvariantCulture)))}";
        }

        private void ReportConnection(FetchResponse response, ConnectionPool? pool)
        {
            TimeInfo t = response.TimeInfo;
            int count = pool?.Count ?? 0;
            trace.WriteLine($"* {Ids(pool)} (ledger id), {count} open, to {Redaction.Uri(response.EffectiveUrl)}");
            // Connect and TLS times come from the ledger's record of the serving connection (the fetch does not own
            // the attempt, CORE-04); "first byte" is from the send to the response head and includes them.
            string connect = _served?.ConnectDuration is { } c ? Ms(c) : "n/a";
            string tls = response.EffectiveUrl.Scheme != Uri.UriSchemeHttps ? "none"
                : _served is { SetupDuration: { } setup, ConnectDuration: { } tcp } ? Ms(setup - tcp) : "n/a";
            trace.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"* timings: queue {Ms(t.Queue)}, connect {connect}, tls {tls}, first byte {Ms(t.FirstByte)}, total {Ms(t.Total)}"));
            trace.WriteLine($"< HTTP/{response.Version.ToString(2)} {response.Code} {response.Reason}");
            foreach ((string name, string value) in response.Headers)
            {
                trace.WriteLine($"< {name}: {value}");
            }
        }

        private async Task<long> WriteAsync(FetchResponse response, ConnectionPool? pool, CancellationToken cancellationToken)
        {
            long? length = long.TryParse(response.Headers["Content-Length"], NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : null;
            if (settings.MaxFilesize is { } max && length > max && !settings.Head)
            {
                // As curl: an announced size over the limit fails before anything (the -o file included) is written.
                throw new BodyTooLargeException(string.Create(
                    CultureInfo.InvariantCulture, $"the body is {length} bytes (Content-Length), over --max-filesize {max}; nothing was written."));
            }

            // As curl: a body with a NUL byte is not written onto a terminal (it would garble it) unless `-o -` asks for it.
            bool refuseBinary = settings.Output is null && !settings.Head && io.StdoutIsTerminal();
            var output = new GuardedOutput(response, pool, settings.MaxFilesize, read => _bytes += read) { RefuseBinary = refuseBinary };
            Stream destination = ToStdout
                ? io.OpenStdout()
                : new FileStream(settings.Output!, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16, useAsync: true);
            try
            {
                if (settings.Include)
                {
                    var head = new StringBuilder();
                    head.Append(_hopHeads);
                    head.Append(CultureInfo.InvariantCulture, $"HTTP/{response.Version.ToString(2)} {response.Code} {response.Reason}\r\n");
                    foreach ((string name, string value) in response.Headers)
                    {
                        head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
                    }

                    head.Append("\r\n");
                    byte[] bytes = Encoding.Latin1.GetBytes(head.ToString());
                    await GuardedOutput.WriteAsync(destination, bytes, cancellationToken).ConfigureAwait(false);
                }

                if (settings.Head)
                {
                    await GuardedOutput.FlushAsync(destination, cancellationToken).ConfigureAwait(false);
                    return 0;
                }

                long copied = 0;
                if (!settings.Silent && ShowsProgress(!ToStdout, io.StdoutIsTerminal(), io.StderrIsTerminal(), length))
                {
                    IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(System.Console.Error) });
                    await console.Progress()
                        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn())
                        .StartAsync(async ctx =>
                        {
                            // Unknown length (chunked): an indeterminate bar whose total becomes the bytes copied at the end
                            // (issue 14 item 9: it used to print "100% 2147483647 bytes" for a 7-byte body).
                            ProgressTask task = ctx.AddTask(Markup.Escape(Path.GetFileName(settings.Output!)), maxValue: length ?? 1);
                            task.IsIndeterminate = length is null;
                            copied = await output.CopyAsync(destination, read => task.Increment(length is null ? 0 : read), cancellationToken).ConfigureAwait(false);
                            task.IsIndeterminate = false;
                            task.MaxValue = Math.Max(copied, 1);
                            task.Value = task.MaxValue;
                        }).ConfigureAwait(false);
                }
                else
                {
                    copied = await output.CopyAsync(destination, _ => { }, cancellationToken).ConfigureAwait(false);
                }

                await GuardedOutput.FlushAsync(destination, cancellationToken).ConfigureAwait(false);
                return copied;
            }
            finally
            {
                if (!ToStdout)
                {
                    await destination.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        private static bool IsSecretHeader(string name) =>
            name.Equals("Authorization", StringComparison.OrdinalIgnoreCase)
            || name.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase)
            || name.Equals("Cookie", StringComparison.OrdinalIgnoreCase);

        private static string Ms(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:0.0} ms");
    }
}
