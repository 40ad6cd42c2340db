using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Tether.Tests.Cli;

/// <summary>
/// A real child process (the tether CLI, or a python3 helper) with its stdout read line by line as it comes, stderr
/// collected, a real SIGINT (`kill -INT PID`, the same signal Ctrl-C sends), and a bounded wait. Dispose kills it if it
/// still runs.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = [];
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _err = new();
    private readonly Task _reader;
    private readonly Task _errReader;

    private ChildProcess(ProcessStartInfo info)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        _process = Process.Start(info) ?? throw new InvalidOperationException($"{info.FileName} did not start");
        _reader = Task.Run(async () =>
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (_out)
                {
                    _out.Append(line).Append('\n');
                }

                _lines.Add(line);
            }

            _lines.CompleteAdding();
        });
        _errReader = Task.Run(async () =>
        {
            string text = await _process.StandardError.ReadToEndAsync();
            lock (_err)
            {
                _err.Append(text);
            }
        });
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_out)
            {
                return _out.ToString();
            }
        }
    }

    /// <summary>Starts the built tether CLI (`dotnet Tether.Cli.dll args`), optionally under a wrapper such as setpriv.</summary>
    public static ChildProcess Tether(string[] args, string[]? wrapper = null)
    {
        var info = new ProcessStartInfo(wrapper is null ? "dotnet" : wrapper[0]);
        foreach (string w in wrapper?.Skip(1) ?? [])
        {
            info.ArgumentList.Add(w);
        }

        if (wrapper is not null)
        {
            info.ArgumentList.Add("dotnet");
        }

        info.ArgumentList.Add(CliProcess.Dll);
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        return new ChildProcess(info);
    }

    /// <summary>Starts `/usr/bin/python3 -u -c script args`, optionally as user nobody (setpriv, when this test runs as root).</summary>
    public static ChildProcess Python(string script, string[] args, bool asNobody = false)
    {
        var info = new ProcessStartInfo(asNobody ? "setpriv" : "/usr/bin/python3");
        if (asNobody)
        {
            foreach (string a in new[] { "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3" })
            {
                info.ArgumentList.Add(a);
            }
        }

        info.ArgumentList.Add("-u");
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        return new ChildProcess(info);
    }

    /// <summary>Reads stdout lines until one satisfies <paramref name="match"/>; fails after <paramref name="timeout"/>.</summary>
    public string WaitForLine(Func<string, bool> match, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (_lines.TryTake(out string? line, TimeSpan.FromMilliseconds(100)))
            {
                if (match(line))
                {
                    return line;
                }
            }
            else if (_lines.IsCompleted)
            {
                break;
            }
        }

        throw new TimeoutException($"waited {timeout.TotalSeconds:0} s for {what}; exited={_process.HasExited}\nstdout:\n{Output}\nstderr:\n{Error()}");
    }

    /// <summary>
    /// Starts the CLI the way an interactive shell starts a foreground command, with SIGINT at its default disposition,
    /// so that a SIGINT reaches it as a terminal's Ctrl-C does. Needed because the disposition is inherited: when the
    /// test run itself descends from a background job of a non-interactive shell (`scripts/stress-tests.sh 5 &`, many CI
    /// runners), SIGINT is ignored in every descendant (POSIX: asynchronous commands without job control ignore SIGINT
    /// and SIGQUIT), and the .NET runtime keeps an inherited SIG_IGN for SIGINT, so PosixSignalRegistration never
    /// sees it (the CLI would run on, which is what such a background job is meant to do). `env --default-signal=INT`
    /// (GNU coreutils 8.31+) resets it and execs the CLI in the same process, so Pid is the CLI's pid.
    /// </summary>
    public static ChildProcess InterruptibleTether(string[] args) => Tether(args, wrapper: ["env", "--default-signal=INT"]);

    /// <summary>
    /// Sends SIGINT, the signal a terminal sends on Ctrl-C. Fails at once, saying why, if the child ignores SIGINT (then
    /// the signal could not be what stops it; start it with <see cref="InterruptibleTether"/>).
    /// </summary>
    public void Interrupt()
    {
        if (SignalIgnored(2))
        {
            throw new InvalidOperationException($"process {Pid} ignores SIGINT (SigIgn in /proc/{Pid}/status), inherited from the test run's parent; start it with InterruptibleTether");
        }

        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-INT", Pid.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
        kill.WaitForExit(10_000);
    }

    // Whether signal number `signal` is in the SigIgn mask of /proc/PID/status (hex, bit signal-1).
    private bool SignalIgnored(int signal)
    {
        string? line = File.ReadLines($"/proc/{Pid}/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (ulong.Parse(line["SigIgn:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture) & (1UL << (signal - 1))) != 0;
    }

    /// <summary>Waits for the exit; fails (and kills) after <paramref name="timeout"/>.</summary>
    public (int Code, string Out, string Err) WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the child did not exit within {timeout.TotalSeconds:0} s\nstdout:\n{Output}\nstderr:\n{Error()}");
        }

        _process.WaitForExit();
        _reader.Wait(TimeSpan.FromSeconds(10));
        _errReader.Wait(TimeSpan.FromSeconds(10));
        return (_process.ExitCode, Output, Error());
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    private string Error()
    {
        lock (_err)
        {
            return _err.ToString();
        }
    }
}

/// <summary>python3 helpers (stdlib only) for the CLI tests; each stops itself (signal.alarm).</summary>
internal static class PythonScripts
{
    /// <summary>argv: MAX_SECONDS [ADDRESS]. Listens on ADDRESS:0 (default 127.0.0.1; any 127.x.y.z is loopback on
    /// Linux), prints "port N"; each connection is read to EOF, then closed.</summary>
    public const string Server = """
        import signal, socket, sys, threading
        signal.alarm(int(sys.argv[1]))
        srv = socket.socket()
        srv.bind((sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1", 0))
        srv.listen(512)
        print("port", srv.getsockname()[1], flush=True)
        def serve(c):
            while c.recv(4096):
                pass
            c.close()
        while True:
            c, _ = srv.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
        """;

    /// <summary>
    /// argv: MAX_SECONDS PORT N KEEP [HOST]. A client that makes N connections to HOST:PORT (default 127.0.0.1), sends one byte on each and
    /// closes first (so each ends in TIME_WAIT on this side); with KEEP=1 it also holds one connection open. Prints
    /// "done N D" (D: distinct local ports; Linux may reuse a loopback TIME_WAIT port for a new connection, so D TIME_WAIT
    /// entries remain) and then idles.
    /// </summary>
    public const string Client = """
        import signal, socket, sys, time
        signal.alarm(int(sys.argv[1]))
        port, n, keep = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
        host = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"
        held = socket.create_connection((host, port)) if keep else None
        ports = set()
        for i in range(n):
            s = socket.create_connection((host, port))
            ports.add(s.getsockname()[1])
            s.sendall(b"x")
            s.close()
        print("done", n, len(ports), flush=True)
        while True:
            time.sleep(0.1)
        """;

    /// <summary>argv: MAX_SECONDS. Opens one socket, prints "ready", idles.</summary>
    public const string Idle = """
        import signal, socket, sys, time
        signal.alarm(int(sys.argv[1]))
        s = socket.socket()
        print("ready", flush=True)
        while True:
            time.sleep(0.1)
        """;
}
