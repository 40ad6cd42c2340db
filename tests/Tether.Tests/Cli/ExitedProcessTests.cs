using System.Globalization;
using Tether.Cli;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Cli;

/// <summary>
/// Newcomer tour 2026-12-02: a process that has died but that its parent has not reaped yet (a zombie, state Z) still
/// has a /proc/PID directory, with an empty fd table. `census` printed a census of 0 fds with exit 0 and `watch
/// --fail-on-growth` passed the gate ("fds 0 -> 0 ... ok", exit 0), so a CI job whose leaking service had crashed, not
/// yet waited for by the script that started it with `&amp;`, went green. A zombie is not a running process: exit 5.
/// </summary>
public sealed class ExitedProcessTests
{
    // The parent forks a child that holds socketpairs, kills it and does not reap it, then prints the child's pid once
    // the kernel shows it as a zombie. Both stop themselves (signal.alarm); PythonChild kills the parent on Dispose,
    // and init reaps the zombie then.
    private const string ZombieMaker = """
        import os, signal, socket, sys, time
        signal.alarm(int(sys.argv[2]))
        pid = os.fork()
        if pid == 0:
            keep = [socket.socketpair() for _ in range(5)]
            time.sleep(int(sys.argv[2]))
            os._exit(0)
        os.kill(pid, signal.SIGKILL)
        def state():
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        while state() != "Z":
            time.sleep(0.01)
        print("zombie", pid, flush=True)
        while True:
            time.sleep(0.1)
        """;

    [Fact]
    [Trait("Spec", "CLI-11")]
    public void CLI11_census_of_a_zombie_is_exit_5_not_a_census_of_zero_fds()
    {
        using var parent = new PythonChild(ZombieMaker, limit: 0, maxSeconds: 30);
        string zombie = ZombiePid(parent);

        (int code, string output, string error) = CliHarness.Run("census", "--pid", zombie);

        Assert.True(code == ExitCodes.ProcessNotFound, $"exit {code}\n{output}\n{error}");
        Assert.Contains($"Process {zombie} has exited", error, StringComparison.Ordinal);
        Assert.Contains("zombie", error, StringComparison.Ordinal);
        Assert.Contains($"parent (pid {parent.Pid.ToString(CultureInfo.InvariantCulture)})", error, StringComparison.Ordinal);
        Assert.DoesNotContain("fds (total)", output, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Spec", "CLI-11")]
    public void CLI11_watch_of_a_zombie_fails_the_growth_gate_with_exit_5()
    {
        using var parent = new PythonChild(ZombieMaker, limit: 0, maxSeconds: 30);
        string zombie = ZombiePid(parent);

        (int code, string output, string error) = CliHarness.Run(
            "watch", "--pid", zombie, "--fail-on-growth", "10", "--duration", "1s", "--interval", "250ms");

        Assert.True(code == ExitCodes.ProcessNotFound, $"exit {code}\n{output}\n{error}");
        Assert.Contains($"Process {zombie} has exited", error, StringComparison.Ordinal);
        Assert.DoesNotContain(": ok", output, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Spec", "DIAG-04")]
    public void DIAG04_census_of_a_zombie_is_a_typed_process_not_found_error_from_the_library()
    {
        // The check lives in SocketCensus, so a program that watches another process with the library gets the same
        // answer as the CLI instead of a census of 0 fds.
        using var parent = new PythonChild(ZombieMaker, limit: 0, maxSeconds: 30);
        int zombie = int.Parse(ZombiePid(parent), CultureInfo.InvariantCulture);

        var error = Assert.Throws<Tether.Diagnostics.CensusException>(() => Tether.Diagnostics.SocketCensus.Take(zombie));

        Assert.Equal(Tether.Diagnostics.CensusErrorReason.ProcessNotFound, error.Reason);
        Assert.Equal(zombie, error.Pid);
        Assert.Contains("zombie", error.Message, StringComparison.Ordinal);
        // The parent, which runs, is counted as before.
        Assert.True(Tether.Diagnostics.SocketCensus.Take(parent.Pid).TotalFds > 0);
    }

    private static string ZombiePid(PythonChild parent)
    {
        string line = parent.ReadLine();
        Assert.StartsWith("zombie ", line, StringComparison.Ordinal);
        return line["zombie ".Length..];
    }
}
