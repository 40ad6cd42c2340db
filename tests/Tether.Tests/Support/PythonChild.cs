using System.Diagnostics;

namespace Tether.Tests.Support;

/// <summary>
/// A bounded python3 helper process: every script given here stops itself (count limit and
/// signal.alarm), and Dispose kills it regardless. Lines on its stdout are read one at a time.
/// </summary>
public sealed class PythonChild : IDisposable
{
    /// <summary>Creates one socketpair per line read on stdin, up to argv[1], and dies after argv[2] seconds.</summary>
    public const string SteppedLeaker = """
        import signal, socket, sys
        signal.alarm(int(sys.argv[2]))
        limit, keep = int(sys.argv[1]), []
        print("ready 0", flush=True)
        for line in sys.stdin:
            if len(keep) >= limit:
                break
            keep.append(socket.socketpair())
            print("count", len(keep), flush=True)
        """;

    /// <summary>Creates one socketpair every 100 ms, up to argv[1], and dies after argv[2] seconds.</summary>
    public const string TimedLeaker = """
        import signal, socket, sys, time
        signal.alarm(int(sys.argv[2]))
        limit, keep = int(sys.argv[1]), []
        print("ready 0", flush=True)
        while True:
            if len(keep) < limit:
                keep.append(socket.socketpair())
                print("count", len(keep), flush=True)
            time.sleep(0.1)
        """;

    /// <summary>Opens nothing and sleeps; dies after argv[2] seconds.</summary>
    public const string Flat = """
        import signal, sys, time
        signal.alarm(int(sys.argv[2]))
        print("ready 0", flush=True)
        while True:
            time.sleep(0.1)
        """;

    private readonly Process _process;

    public PythonChild(string script, int limit, int maxSeconds)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(maxSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _process = Process.Start(psi) ?? throw new InvalidOperationException("python3 did not start");
    }

    public int Pid => _process.Id;

    /// <summary>Reads the next stdout line, failing after 10 s (a python start-up or one step prints within a second
    /// unloaded; 10 s is the margin for a loaded 2-core machine).</summary>
    public string ReadLine()
    {
        Task<string?> line = _process.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(10)) || line.Result is null)
        {
            throw new TimeoutException($"python child {Pid} printed nothing within 10 s (exited: {_process.HasExited})");
        }

        return line.Result;
    }

    /// <summary>Asks the stepped leaker for one more socketpair and waits for its count line.</summary>
    public string Step()
    {
        _process.StandardInput.WriteLine("step");
        _process.StandardInput.Flush();
        return ReadLine();
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    /// <summary>Starts /bin/true, waits for it to exit and be reaped, and returns its (now dead) PID.</summary>
    public static int DeadPid()
    {
        using var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }
}
