using System.Globalization;
using System.Text.Json;
using Tether.Cli;
using Tether.Diagnostics;
using Tether.Tests.Support;
using Xunit;

namespace Tether.Tests.Cli;

/// <summary>CLI-09: <c>tether census</c> of this process against the API.</summary>
/// <remarks>Process alone (issue 13): the command's whole-process numbers (total fds, every bucket) must equal the
/// API's for the same process exactly, which any fd a parallel test opened or closed meanwhile would move.</remarks>
[Collection(CensusCollection.Name)]
public sealed class CensusCommandTests
{
    // CLI-09
    [Fact]
    public void CLI09_census_json_numbers_equal_the_SocketCensus_api_for_the_same_process()
    {
        // The API is called right before and right after the command; when both agree the process
        // was quiet, and the command's numbers must equal them exactly.
        for (int attempt = 0; ; attempt++)
        {
            CensusSnapshot before = SocketCensus.Take();
            (int code, string output, string error) = CliHarness.Run("census", "--json");
            CensusSnapshot after = SocketCensus.Take();
            if (Numbers(before) != Numbers(after) && attempt < 20)
            {
                continue;
            }

            Assert.Equal(ExitCodes.Ok, code);
            Assert.Equal(string.Empty, error);
            using JsonDocument json = JsonDocument.Parse(output);
            JsonElement root = json.RootElement;
            string fromCli = string.Join(
                ' ',
                root.GetProperty("pid").GetInt32(),
                root.GetProperty("totalFds").GetInt32(),
                string.Join(',', TcpStateCounts.States.Select(s => root.GetProperty("tcp").GetProperty(TcpStateCounts.KernelName(s)).GetInt32())),
                root.GetProperty("unixSockets").GetInt32(),
                root.GetProperty("udpSockets").GetInt32(),
                root.GetProperty("otherSockets").GetInt32(),
                root.GetProperty("epoll").GetInt32(),
                root.GetProperty("eventFd").GetInt32(),
                root.GetProperty("pipes").GetInt32(),
                root.GetProperty("files").GetInt32(),
                root.GetProperty("devices").GetInt32(),
                root.GetProperty("otherFds").GetInt32(),
                root.GetProperty("timeWaitClientSide").GetInt32(),
                root.GetProperty("timeWaitServerSide").GetInt32(),
                root.GetProperty("tcpSockets").GetArrayLength());
            Assert.Equal(Numbers(before), fromCli);
            return;
        }
    }

    // CLI-09
    [Fact]
    public void CLI09_census_table_names_the_pid_and_the_total()
    {
        (int code, string output, _) = CliHarness.Run("census", "--pid", Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains($"pid {Environment.ProcessId}", output, StringComparison.Ordinal);
        Assert.Contains("fds (total)", output, StringComparison.Ordinal);
        Assert.Contains("CLOSE_WAIT", output, StringComparison.Ordinal);
    }

    private static string Numbers(CensusSnapshot s) => string.Join(
        ' ',
        s.Pid,
        s.TotalFds,
        string.Join(',', TcpStateCounts.States.Select(state => s.Tcp[state])),
        s.UnixSockets,
        s.UdpSockets,
        s.OtherSockets,
        s.Epoll,
        s.EventFd,
        s.Pipes,
        s.Files,
        s.Devices,
        s.OtherFds,
        s.TimeWaitClientSide,
        s.TimeWaitServerSide,
        s.TcpSockets.Count);
}
