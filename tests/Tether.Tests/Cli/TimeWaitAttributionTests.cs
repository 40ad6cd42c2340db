using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tether.Cli;
using Tether.Diagnostics;
using Xunit;

namespace Tether.Tests.Cli;

/// <summary>
/// CLI-16: client TIME_WAIT shown for the process that is the client, grouped by remote endpoint, and not counted for the
/// server. Two real python3 processes: a server and a client that closes first 100 times (issue 14, "what fails today" 4).
/// </summary>
public sealed class TimeWaitAttributionTests
{
    private const int Connections = 100;

    // Issue 14 item 4 (regression): `census --pid CLIENT` showed time_wait=0 for a client with 100 TIME_WAIT sockets.
    [Fact]
    [Trait("Spec", "CLI-16")]
    public void CLI16_census_of_a_python_client_groups_its_time_wait_by_remote_endpoint()
    {
        (ChildProcess server, IPEndPoint endpoint) = FreshServer();
        using var serverProcess = server;
        int port = endpoint.Port;
        const int before = 0;
        using var client = ChildProcess.Python(PythonScripts.Client, ["60", Str(port), Str(Connections), "1", Host(endpoint)]); // holds one connection
        int made = Done(client);
        WaitForTimeWait(endpoint, before + made);

        (int code, string output, string error) = CliHarness.Run("census", "--pid", Str(client.Pid), "--json");
        Assert.True(code == ExitCodes.Ok, error);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement group = Assert.Single(json.RootElement.GetProperty("timeWaitByRemote").EnumerateArray());
        Assert.Equal(endpoint.ToString(), group.GetProperty("remote").GetString());
        Assert.True(Near(before + made, group.GetProperty("count").GetInt32()), group.ToString());
        Assert.True(Near(before + made, json.RootElement.GetProperty("timeWaitClientSide").GetInt32()));
        Assert.Contains("no owner", json.RootElement.GetProperty("timeWaitAttribution").GetString(), StringComparison.Ordinal);

        (code, output, _) = CliHarness.Run("census", "--pid", Str(client.Pid));
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains($"client TIME_WAIT of pid {client.Pid} by remote endpoint", output, StringComparison.Ordinal);
        Assert.Contains(endpoint.ToString(), output, StringComparison.Ordinal);
        Assert.Contains("TIME_WAIT attribution: by remote endpoint", output, StringComparison.Ordinal);
    }

    // CLI-16: a client that has closed every socket has nothing to attribute by; --remote and --port name the server.
    [Fact]
    [Trait("Spec", "CLI-16")]
    public void CLI16_remote_and_port_filters_attribute_time_wait_of_a_client_with_no_open_socket()
    {
        (ChildProcess server, IPEndPoint endpoint) = FreshServer();
        using var serverProcess = server;
        int port = endpoint.Port;
        const int before = 0;
        using var client = ChildProcess.Python(PythonScripts.Client, ["60", Str(port), Str(Connections), "0", Host(endpoint)]);
        int made = Done(client);
        WaitForTimeWait(endpoint, before + made);

        (int code, string output, _) = CliHarness.Run("census", "--pid", Str(client.Pid), "--json");
        Assert.Equal(ExitCodes.Ok, code);
        using (JsonDocument plain = JsonDocument.Parse(output))
        {
            Assert.Empty(plain.RootElement.GetProperty("timeWaitByRemote").EnumerateArray()); // no socket left to attribute by
            Assert.Contains(
                plain.RootElement.GetProperty("unattributedTimeWaitByRemote").EnumerateArray(),
                g => g.GetProperty("remote").GetString() == endpoint.ToString() && Near(made, g.GetProperty("count").GetInt32()));
        }

        (code, output, _) = CliHarness.Run("census", "--pid", Str(client.Pid));
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains($"not attributed to pid {client.Pid} (no owner in the kernel)", output, StringComparison.Ordinal);

        foreach (string[] filter in new[] { new[] { "--remote", endpoint.ToString() }, new[] { "--port", Str(port) } })
        {
            (code, output, string error) = CliHarness.Run(["census", "--pid", Str(client.Pid), "--json", .. filter]);
            Assert.True(code == ExitCodes.Ok, error);
            using JsonDocument json = JsonDocument.Parse(output);
            // --port names a port on any address: a server of another process on 127.0.0.1 with the same port number
            // may have TIME_WAIT entries of its own clients, and they are attributed too (that is what --port means);
            // only this test's address is counted.
            List<JsonElement> groups = [.. json.RootElement.GetProperty("timeWaitByRemote").EnumerateArray()];
            Assert.All(groups, g => Assert.EndsWith($":{port}", g.GetProperty("remote").GetString(), StringComparison.Ordinal));
            JsonElement group = filter[0] == "--remote" ? Assert.Single(groups) : groups.Single(g => g.GetProperty("remote").GetString() == endpoint.ToString());
            Assert.Equal(endpoint.ToString(), group.GetProperty("remote").GetString());
            Assert.True(Near(before + made, group.GetProperty("count").GetInt32()), group.ToString());
            Assert.Empty(json.RootElement.GetProperty("unattributedTimeWaitByRemote").EnumerateArray()); // filtered to that server
        }
    }

    // Issue 14 item 4, the reverse (regression): a server's census counted its clients' TIME_WAIT as "client side".
    [Fact]
    [Trait("Spec", "CLI-16")]
    public void CLI16_census_of_the_server_does_not_count_its_clients_time_wait()
    {
        (ChildProcess server, IPEndPoint endpoint) = FreshServer();
        using var serverProcess = server;
        int port = endpoint.Port;
        const int before = 0;
        using var client = ChildProcess.Python(PythonScripts.Client, ["60", Str(port), Str(Connections), "0", Host(endpoint)]);
        int made = Done(client);
        WaitForTimeWait(endpoint, before + made);

        CensusSnapshot library = SocketCensus.Take(server.Pid);
        Assert.Contains(port, library.ListenPorts);
        Assert.Equal(0, library.TimeWaitClientSide);
        Assert.Empty(library.TimeWaitByRemote);
        Assert.Equal(0, TimeWaitAt(endpoint)); // the client closed first: the entries are the client's
        Assert.True(Near(made, library.AllTimeWaitByRemote.Single(g => g.Remote.Equals(endpoint)).Count)); // they exist, unattributed

        (int code, string output, string error) = CliHarness.Run("census", "--pid", Str(server.Pid), "--json");
        Assert.True(code == ExitCodes.Ok, error);
        using JsonDocument json = JsonDocument.Parse(output);
        Assert.Equal(0, json.RootElement.GetProperty("timeWaitClientSide").GetInt32());
        Assert.Empty(json.RootElement.GetProperty("timeWaitByRemote").EnumerateArray());
    }

    // CLI-16: watch shows the client's TIME_WAIT per sample and groups it in the summary.
    [Fact]
    [Trait("Spec", "CLI-16")]
    public void CLI16_watch_of_a_python_client_shows_its_time_wait_by_remote_endpoint()
    {
        (ChildProcess server, IPEndPoint endpoint) = FreshServer();
        using var serverProcess = server;
        int port = endpoint.Port;
        const int before = 0;
        using var client = ChildProcess.Python(PythonScripts.Client, ["60", Str(port), Str(Connections), "1", Host(endpoint)]);
        int made = Done(client);
        WaitForTimeWait(endpoint, before + made);

        (int code, string output, string error) = CliHarness.Run("watch", "--pid", Str(client.Pid), "--duration", "1", "--interval", "250ms");
        Assert.True(code == ExitCodes.Ok, error + output);
        string[] samples = [.. CliHarness.Lines(output).Where(l => l.StartsWith("t=", StringComparison.Ordinal))];
        Assert.NotEmpty(samples);
        Assert.All(samples, l => Assert.True(Near(before + made, int.Parse(Regex.Match(l, "time_wait_client=([0-9]+) ").Groups[1].Value, CultureInfo.InvariantCulture)), l));
        Match group = Regex.Match(output, $"{Regex.Escape(endpoint.ToString())} x([0-9]+)");
        Assert.True(group.Success && Near(before + made, int.Parse(group.Groups[1].Value, CultureInfo.InvariantCulture)), output);
    }

    // The client's TIME_WAIT count: one per distinct local port (a reused port replaced its earlier TIME_WAIT entry).
    private static int Done(ChildProcess client)
    {
        // The python client's connections take well under a second unloaded; 30 s only bounds a hang on a loaded machine.
        string line = client.WaitForLine(l => l.StartsWith("done", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the client's 'done'");
        int made = int.Parse(line.Split(' ')[2], CultureInfo.InvariantCulture);
        Assert.InRange(made, Connections * 9 / 10, Connections);
        return made;
    }

    // A python server on an address of its own: a random 127.x.y.z (all of 127/8 is loopback on Linux), so that no
    // other test's or process's connection can leave a TIME_WAIT entry towards the same endpoint (regression: 121
    // entries against 100 made were seen once towards a 127.0.0.1 port, which a parallel test's connections can reach
    // too); a random address repeats only by chance, so the table is checked clean for it first.
    private static (ChildProcess Server, IPEndPoint EndPoint) FreshServer()
    {
        for (int attempt = 0; ; attempt++)
        {
            var address = new IPAddress([127, (byte)Random.Shared.Next(1, 255), (byte)Random.Shared.Next(0, 256), (byte)Random.Shared.Next(1, 255)]);
            ChildProcess server = ChildProcess.Python(PythonScripts.Server, ["60", address.ToString()]);
            var endpoint = new IPEndPoint(address, Port(server));
            if ((TimeWaitTowards(endpoint) == 0 && TimeWaitAt(endpoint) == 0) || attempt == 9)
            {
                Assert.Equal(0, TimeWaitTowards(endpoint) + TimeWaitAt(endpoint));
                return (server, endpoint);
            }

            server.Dispose();
        }
    }

    private static string Host(IPEndPoint endpoint) => endpoint.Address.ToString();

    // TIME_WAIT entries of the namespace (/proc/net/tcp) whose remote, or local, endpoint is exactly `endpoint`.
    private static int TimeWaitTowards(IPEndPoint endpoint) => TimeWaitRows(fields => fields[2] == Hex(endpoint));

    private static int TimeWaitAt(IPEndPoint endpoint) => TimeWaitRows(fields => fields[1] == Hex(endpoint));

    // Distinct (local, remote) pairs: a read of the table can return a line twice (see SocketCensus).
    private static int TimeWaitRows(Func<string[], bool> match) => TimeWaitPairs(match).Count;

    private static HashSet<(string Local, string Remote)> TimeWaitPairs(Func<string[], bool> match) =>
        [.. File.ReadLines("/proc/net/tcp").Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length > 3 && f[3] == "06" && match(f)) // 06: TCP_TIME_WAIT
            .Select(f => (f[1], f[2]))];

    // /proc/net/tcp writes an IPv4 address as the 32-bit value in host order (little-endian here), then :PORT in hex.
    private static string Hex(IPEndPoint endpoint)
    {
        byte[] a = endpoint.Address.GetAddressBytes();
        return string.Create(CultureInfo.InvariantCulture, $"{a[3]:X2}{a[2]:X2}{a[1]:X2}{a[0]:X2}:{endpoint.Port:X4}");
    }

    // CLI-16: the attribution rule on a hand-written procfs tree (deterministic): TIME_WAIT towards a server the process
    // is connected to is its client side, grouped by endpoint (an IPv4-mapped tcp6 entry joins its IPv4 group); towards
    // its own listening port it is a client's, not counted; towards an endpoint named in the options it is counted.
    [Fact]
    [Trait("Spec", "CLI-16")]
    public void CLI16_attribution_rule_on_a_fake_procfs()
    {
        string root = Directory.CreateTempSubdirectory("tether-proc-").FullName;
        try
        {
            string fd = Directory.CreateDirectory(Path.Join(root, "7", "fd")).FullName;
            string net = Directory.CreateDirectory(Path.Join(root, "7", "net")).FullName;
            File.CreateSymbolicLink(Path.Join(fd, "0"), "socket:[1001]"); // LISTEN 127.0.0.1:8080
            File.CreateSymbolicLink(Path.Join(fd, "1"), "socket:[1002]"); // ESTABLISHED 127.0.0.1:40000 -> 127.0.0.1:9090
            const string Header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
            const string Tw = " 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0\n";
            File.WriteAllText(Path.Join(net, "tcp"), Header
                + "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0 100 0 0 10 0\n"
                + "   1: 0100007F:9C40 0100007F:2382 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0 20 4 30 10 -1\n"
                + "   2: 0100007F:9C41 0100007F:2382" + Tw    // -> :9090, a server we are connected to: ours
                + "   3: 0100007F:9C42 0100007F:2382" + Tw    // -> :9090: ours
                + "   4: 0100007F:9C43 0100007F:1F90" + Tw    // -> our own :8080: a client of ours closed first: not ours
                + "   5: 0100007F:9C44 0100007F:1BB" + Tw     // -> :443, nobody known: unattributed
                + "   6: 0100007F:1F90 0100007F:9C45" + Tw);  // local :8080: our server side
            File.WriteAllText(Path.Join(net, "tcp6"), Header
                + "   0: 0000000000000000FFFF00000100007F:9C46 0000000000000000FFFF00000100007F:2382" + Tw); // mapped -> :9090: ours

            CensusSnapshot s = SocketCensus.Take(7, null, root);
            Assert.Equal(3, s.TimeWaitClientSide);
            TimeWaitGroup mine = Assert.Single(s.TimeWaitByRemote);
            Assert.Equal(new TimeWaitGroup(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 9090), 3), mine);
            Assert.Equal(1, s.TimeWaitServerSide);
            Assert.Equal(["127.0.0.1:9090 x3", "127.0.0.1:443 x1", "127.0.0.1:8080 x1"], s.AllTimeWaitByRemote.Select(g => g.ToString()).ToArray());

            CensusSnapshot named = SocketCensus.Take(7, new CensusOptions { RemoteEndPoints = [new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 443)] }, root);
            Assert.Equal(4, named.TimeWaitClientSide);
            Assert.Equal(["127.0.0.1:9090 x3", "127.0.0.1:443 x1"], named.TimeWaitByRemote.Select(g => g.ToString()).ToArray());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    // Regression (issue 13, CLI-16 flake: 101 TIME_WAIT entries towards an address only 100 connections had used): the
    // kernel hands /proc/net/tcp out a page per read and resumes by bucket offset, so under churn a line can be read
    // twice (measured: 44 repeats per read of 15,000 lines). A 4-tuple is unique, so a repeated TIME_WAIT line counts once.
    [Fact]
    [Trait("Spec", "CLI-16")]
    public void CLI16_a_time_wait_line_read_twice_is_counted_once()
    {
        string root = Directory.CreateTempSubdirectory("tether-proc-").FullName;
        try
        {
            string fd = Directory.CreateDirectory(Path.Join(root, "7", "fd")).FullName;
            string net = Directory.CreateDirectory(Path.Join(root, "7", "net")).FullName;
            File.CreateSymbolicLink(Path.Join(fd, "1"), "socket:[1002]"); // ESTABLISHED 127.0.0.1:40000 -> 127.0.0.1:9090
            const string Header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
            const string Tw = " 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0\n";
            File.WriteAllText(Path.Join(net, "tcp"), Header
                + "   1: 0100007F:9C40 0100007F:2382 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0 20 4 30 10 -1\n"
                + "   2: 0100007F:9C41 0100007F:2382" + Tw
                + "   3: 0100007F:9C42 0100007F:2382" + Tw
                + "   3: 0100007F:9C42 0100007F:2382" + Tw   // the same line again (a re-read)
                + "   4: 0200007F:9C42 0100007F:2382" + Tw); // another local address, same port: a different connection
            File.WriteAllText(Path.Join(net, "tcp6"), Header
                + "   0: 0000000000000000FFFF00000100007F:9C46 0000000000000000FFFF00000100007F:2382" + Tw
                + "   0: 0000000000000000FFFF00000100007F:9C46 0000000000000000FFFF00000100007F:2382" + Tw); // re-read

            CensusSnapshot s = SocketCensus.Take(7, null, root);
            Assert.Equal(4, s.TimeWaitClientSide);
            Assert.Equal(["127.0.0.1:9090 x4"], s.TimeWaitByRemote.Select(g => g.ToString()).ToArray());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    // A count of TIME_WAIT entries made here, read back: at most `made`, and at least `made - 5`. The kernel tables are
    // read in several chunks, not atomically, so on a machine with thousands of sockets churning an entry can be
    // skipped by one read; and an entry can end early (a stray RST ends TIME_WAIT, RFC 1337). Measured: 99 of 100 once.
    private static bool Near(int made, int seen) => seen <= made && seen >= made - 5;

    private static int Port(ChildProcess server)
    {
        // A python start-up: well under a second unloaded; 10 s is the margin for a loaded 2-core machine.
        string line = server.WaitForLine(l => l.StartsWith("port ", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the server's port");
        return int.Parse(line.AsSpan(5), CultureInfo.InvariantCulture);
    }

    // The server closes each connection after the client's FIN arrives; the client's side then enters TIME_WAIT. Waits
    // (bounded) until the namespace shows them all: the client has printed "done" after its closes, so they are there
    // within milliseconds unloaded; 10 s is the margin for a loaded 2-core machine (and far below the 60 s an entry lasts).
    private static void WaitForTimeWait(IPEndPoint endpoint, int expected)
    {
        var clock = Stopwatch.StartNew();
        var pairs = new HashSet<(string, string)>();
        int seen = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            // Every entry any read saw: a read of the table can skip a line (see Near), so one read short of `expected`
            // does not mean an entry is missing (seen: 10 s waits for entries that were there). The endpoint is this
            // test's alone and a TIME_WAIT entry lasts 60 s, so each pair seen is one of this test's connections.
            pairs.UnionWith(TimeWaitPairs(f => f[2] == Hex(endpoint)));
            seen = pairs.Count;
            if (seen >= expected)
            {
                return;
            }

            Thread.Sleep(50);
        }

        Assert.True(Near(expected, seen), $"waited 10 s for {expected} TIME_WAIT entries towards {endpoint}; saw {seen}");
    }

    private static string Str(int n) => n.ToString(CultureInfo.InvariantCulture);
}
