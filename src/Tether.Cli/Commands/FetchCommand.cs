using System.CommandLine;
using System.Globalization;
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
        OpenStdout = System.Console.OpenStandardOutput,
        StdoutIsTerminal = () => !System.Console.IsOutputRedirected,
        StderrIsTerminal = () => !System.Console.IsErrorRedirected,
    };

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
/// (<see cref="AsyncHttpClient.FetchStreamAsync(FetchRequest, CancellationToken)"/>) and copied unchanged to stdout or
/// <c>-o FILE</c>; <c>-v</c> reports on stderr the ledger connections of the run (ids) and the phase timings.
/// </summary>
public static class FetchCommand
{
    /// <summary>Bodies at least this large (by Content-Length) get a progress bar on a terminal.</summary>
    public const long ProgressThreshold = 1024 * 1024;

    /// <summary>Creates the <c>fetch</c> command.</summary>
    /// <param name="io">The process streams (default: the console).</param>
    /// <returns>The command.</returns>
    public static Command Create(FetchIo? io = null)
    {
        io ??= FetchIo.Console;
        var url = new Argument<string>("url") { Description = "An absolute http:// or https:// URL." };
        var method = new Option<string?>("--method", "-X") { Description = "The request method (default GET, or POST with --data).", HelpName = "METHOD" };
        var header = new Option<string[]>("--header", "-H")
        {
            Description = "A request header 'Name: value'; repeat for more.",
            HelpName = "HEADER",
            AllowMultipleArgumentsPerToken = false,
        };
        var data = new Option<string?>("--data", "-d") { Description = "Request body: inline text, @FILE, or @- for stdin.", HelpName = "DATA" };
        Option<TimeSpan?> connectTimeout = Duration("--connect-timeout", "Connect timeout: seconds, or 250ms, 5s, 1m.");
        Option<TimeSpan?> timeout = Duration("--timeout", "Whole-request timeout (curl's --max-time): seconds, or 250ms, 5s, 1m.");
        var location = new Option<bool>("--location", "-L") { Description = "Follow redirects." };
        var maxRedirs = new Option<int?>("--max-redirs") { Description = "Most redirects to follow with -L (default 5).", HelpName = "N" };
        var insecure = new Option<bool>("--insecure", "-k") { Description = "Do not verify the server's TLS certificate." };
        var proxy = new Option<string?>("--proxy", "-x") { Description = "HTTP proxy URL, e.g. http://user:pass@127.0.0.1:3128.", HelpName = "URL" };
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Write the body to FILE instead of stdout.", HelpName = "FILE" };
        var include = new Option<bool>("--include", "-i") { Description = "Write the status line and response headers before the body." };
        var verbose = new Option<bool>("--verbose", "-v")
        {
            Description = "On stderr: the connections (ledger ids), phase timings, request and response heads, "
                + "and stack traces on errors. URLs are redacted.",
        };
        var command = new Command(
            "fetch",
            "Fetch a URL with Tether's AsyncHttpClient and write the body to stdout (byte for byte when piped).\n\n"
            + "Examples:\n"
            + "  tether fetch http://127.0.0.1:8080/hello\n"
            + "  tether fetch -i -X PUT -H 'Content-Type: application/json' -d '{\"a\":1}' http://127.0.0.1:8080/echo\n"
            + "  tether fetch -d @body.txt http://127.0.0.1:8080/upload      # body from a file (@- reads stdin)\n"
            + "  tether fetch -L --max-redirs 3 --timeout 10s -o out.bin http://127.0.0.1:8080/bytes/50000000\n"
            + "  tether fetch -v -k https://127.0.0.1:8443/hello            # connection, ledger id, timings on stderr\n\n"
            + "A progress bar (stderr) appears only with -o FILE on a terminal for bodies of 1 MiB or more; never when piped.\n"
            + ExitCodes.HelpTable)
        {
            url, method, header, data, connectTimeout, timeout, location, maxRedirs, insecure, proxy, output, include, verbose,
        };

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            TextWriter error = parseResult.InvocationConfiguration.Error;
            bool isVerbose = parseResult.GetValue(verbose);
            var request = new FetchRequest(parseResult.GetValue(url)!);
            try
            {
                string? usage = Build(
                    request,
                    parseResult.GetValue(method),
                    parseResult.GetValue(header) ?? [],
                    parseResult.GetValue(data),
                    io,
                    parseResult.GetValue(connectTimeout),
                    parseResult.GetValue(timeout),
                    parseResult.GetValue(location),
                    parseResult.GetValue(maxRedirs),
                    parseResult.GetValue(insecure),
                    parseResult.GetValue(proxy));
                if (usage is not null)
                {
                    error.WriteLine($"tether: {usage} Run 'tether fetch --help' for usage.");
                    return ExitCodes.Usage;
                }
            }
            catch (IOException ex)
            {
                error.WriteLine($"tether: cannot read the --data file: {ex.Message}");
                return ExitCodes.Usage;
            }
            catch (UnauthorizedAccessException ex)
            {
                error.WriteLine($"tether: cannot read the --data file: {ex.Message}");
                return ExitCodes.Usage;
            }

            var run = new FetchRun(io, error, isVerbose, parseResult.GetValue(include), parseResult.GetValue(output));
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

    // Fills the request from the options; returns a usage message when something is wrong.
    private static string? Build(
        FetchRequest request, string? method, string[] headers, string? data, FetchIo io, TimeSpan? connectTimeout,
        TimeSpan? timeout, bool location, int? maxRedirs, bool insecure, string? proxy)
    {
        if (!Uri.TryCreate(request.Url, UriKind.Absolute, out Uri? target) || (target.Scheme != Uri.UriSchemeHttp && target.Scheme != Uri.UriSchemeHttps))
        {
            return $"'{Redaction.Url(request.Url)}' is not an absolute http:// or https:// URL; write e.g. http://127.0.0.1:8080/path.";
        }

        foreach (string h in headers)
        {
            int colon = h.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                return $"header '{h}' is not 'Name: value'; write e.g. -H 'Accept: text/plain'.";
            }

            request.Headers.Add(h[..colon].Trim(), h[(colon + 1)..].Trim());
        }

        if (data is not null)
        {
            byte[] body = data switch
            {
                "@-" => ReadAll(io.OpenStdin()),
                _ when data.StartsWith('@') => File.ReadAllBytes(data[1..]),
                _ => Encoding.UTF8.GetBytes(data),
            };
            request.Body = FetchBody.FromBytes(body);
            if (!request.Headers.Contains("Content-Type"))
            {
                request.Headers.Add("Content-Type", "application/x-www-form-urlencoded");
            }
        }

        request.Method = method ?? (data is null ? "GET" : "POST");
        if (request.Method.Length == 0 || request.Method.Any(c => c <= ' ' || c >= 127))
        {
            return $"--method '{request.Method}' is not an HTTP method token; write e.g. -X PUT.";
        }

        if (maxRedirs is < 0)
        {
            return $"--max-redirs {maxRedirs} must be 0 or more.";
        }

        request.ConnectTimeout = connectTimeout;
        request.RequestTimeout = timeout;
        request.FollowRedirects = location;
        request.MaxRedirects = maxRedirs;
        request.RaiseOnError = false;
        request.DecompressResponse = false; // like curl without --compressed: the bytes as sent
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

    private static Option<TimeSpan?> Duration(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "TIME",
        CustomParser = result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && double.IsFinite(seconds) && seconds > 0)
            {
                return TimeSpan.FromSeconds(seconds);
            }

            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
                && CliSupport.TryParseDuration(text, out TimeSpan value) && value > TimeSpan.Zero)
            {
                return value;
            }

            result.AddError($"{name} '{text}' is not a positive duration; use seconds (2.5) or 250ms, 5s, 1m.");
            return null;
        },
    };

    // One fetch: stream the body to its destination, report, map the outcome to an exit code.
    private sealed class FetchRun(FetchIo io, TextWriter error, bool verbose, bool include, FileInfo? output)
    {
        public async Task<int> ExecuteAsync(FetchRequest request, CancellationToken cancellationToken)
        {
            if (verbose)
            {
                error.WriteLine($"> {request.Method} {Redaction.Url(request.Url)}");
                foreach ((string name, string value) in request.Headers)
                {
                    error.WriteLine($"> {name}: {(IsSecretHeader(name) ? "***" : value)}");
                }
            }

            await using var client = new AsyncHttpClient(new AsyncHttpClientOptions { Name = "tether-fetch" });
            try
            {
                await using FetchResponse response = await client.FetchStreamAsync(request, cancellationToken).ConfigureAwait(false);
                if (verbose)
                {
                    ReportConnection(response, client.Pool);
                }

                var bodyClock = System.Diagnostics.Stopwatch.StartNew();
                long bytes = await WriteAsync(response, cancellationToken).ConfigureAwait(false);
                if (verbose)
                {
                    error.WriteLine(string.Create(
                        CultureInfo.InvariantCulture,
                        $"* body {bytes} bytes in {Ms(bodyClock.Elapsed)}; {Ids(client.Pool)} closed with the client on exit"));
                }

                if (response.Code >= 400)
                {
                    error.WriteLine($"tether: HTTP {response.Code} {response.Reason} from {Redaction.Uri(response.EffectiveUrl)}");
                    return ExitCodes.HttpError;
                }

                return ExitCodes.Ok;
            }
            catch (FetchException ex)
            {
                error.WriteLine($"tether: {ex.Message} [{ex.Code} {ex.Kind}]");
                if (verbose)
                {
                    error.WriteLine(ex.ToString());
                }

                // Only an HTTP status error is exit 1; too many redirects (which carries the last 3xx) and every 599 are
                // failures to get a final response.
                return ex.Kind == FetchErrorKind.HttpStatus ? ExitCodes.HttpError : ExitCodes.TransportError;
            }
            catch (Exception ex) when (ex is ArgumentException or OptionsValidationException)
            {
                error.WriteLine($"tether: {ex.Message}");
                if (verbose)
                {
                    error.WriteLine(ex.ToString());
                }

                return ExitCodes.Usage;
            }
            catch (IOException ex)
            {
                // Writing the body failed (disk full, closed pipe) or the body stream broke mid-way.
                error.WriteLine($"tether: transfer failed: {ex.Message}");
                if (verbose)
                {
                    error.WriteLine(ex.ToString());
                }

                return ExitCodes.TransportError;
            }
        }

        // The handler picks the connection for each request (CORE-03): the report lists the client's ledger entries, which
        // is exact, instead of claiming which one carried the response.
        private static string Ids(ConnectionPool? pool)
        {
            IReadOnlyList<Tether.Diagnostics.LedgerEntry> entries = pool?.Snapshot() ?? [];
            return entries.Count == 1
                ? $"connection #{entries[0].Id.ToString(CultureInfo.InvariantCulture)}"
                : $"connections {string.Join(", ", entries.Select(e => "#" + e.Id.ToString(CultureInfo.InvariantCulture)))}";
        }

        private void ReportConnection(FetchResponse response, ConnectionPool? pool)
        {
            TimeInfo t = response.TimeInfo;
            int count = pool?.Count ?? 0;
            error.WriteLine($"* {Ids(pool)} (ledger id), {count} open, to {Redaction.Uri(response.EffectiveUrl)}");
            error.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"* timings: queue {Ms(t.Queue)}, connect {Ms(t.Connect)}, tls {Ms(t.Tls)}, first byte {Ms(t.FirstByte)}, total {Ms(t.Total)}"));
            error.WriteLine($"< HTTP/{response.Version.ToString(2)} {response.Code} {response.Reason}");
            foreach ((string name, string value) in response.Headers)
            {
                error.WriteLine($"< {name}: {value}");
            }
        }

        private async Task<long> WriteAsync(FetchResponse response, CancellationToken cancellationToken)
        {
            Stream destination = output is null ? io.OpenStdout() : new FileStream(output.FullName, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16, useAsync: true);
            await using (destination.ConfigureAwait(false))
            {
                if (include)
                {
                    var head = new StringBuilder();
                    head.Append(CultureInfo.InvariantCulture, $"HTTP/{response.Version.ToString(2)} {response.Code} {response.Reason}\r\n");
                    foreach ((string name, string value) in response.Headers)
                    {
                        head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
                    }

                    head.Append("\r\n");
                    byte[] bytes = Encoding.Latin1.GetBytes(head.ToString());
                    await destination.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                }

                long copied = 0;
                long? length = long.TryParse(response.Headers["Content-Length"], NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : null;
                if (ShowsProgress(output is not null, io.StdoutIsTerminal(), io.StderrIsTerminal(), length))
                {
                    IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(System.Console.Error) });
                    await console.Progress()
                        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn())
                        .StartAsync(async ctx =>
                        {
                            ProgressTask task = ctx.AddTask(Markup.Escape(output!.Name), maxValue: length ?? double.MaxValue);
                            task.IsIndeterminate = length is null;
                            copied = await CopyAsync(response.BodyStream, destination, read => task.Increment(read), cancellationToken).ConfigureAwait(false);
                            task.Value = task.MaxValue;
                        }).ConfigureAwait(false);
                }
                else
                {
                    copied = await CopyAsync(response.BodyStream, destination, null, cancellationToken).ConfigureAwait(false);
                }

                await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
                return copied;
            }
        }

        private static async Task<long> CopyAsync(Stream source, Stream destination, Action<int>? progress, CancellationToken cancellationToken)
        {
            byte[] buffer = new byte[81920];
            long total = 0;
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                progress?.Invoke(read);
                total += read;
            }

            return total;
        }

        private static bool IsSecretHeader(string name) =>
            name.Equals("Authorization", StringComparison.OrdinalIgnoreCase)
            || name.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase)
            || name.Equals("Cookie", StringComparison.OrdinalIgnoreCase);

        private static string Ms(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:0.0} ms");
    }
}
