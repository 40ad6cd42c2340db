using System.Diagnostics;
using Tether.TestServer;
using Tether.Tests.Support;
using Xunit;
using static Tether.Tests.Fault.HostileAssert;

namespace Tether.Tests.Fault;

/// <summary>
/// FAULT-16: every hostile case of FAULT-01 … FAULT-11 (plus SEC-08's TE+CL response) repeated 100 times in a row
/// (<c>TETHER_FAULT16_REPEATS</c> overrides), then nothing is left towards the hostile server (ledger and census,
/// the Clean rule).
/// Delays are shortened to keep the group fast: resets after 1 ms instead of 50 ms. Left out: the trickle and
/// never-answer servers (they are timeout cases, TIMEOUT group) and the gzip bomb (SEC-09; 100 × 4 MiB of
/// inflating adds seconds for no new path). The 413 upload case runs 20 times with a 1 MiB body.
/// </summary>
public sealed class RepeatedHostileTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    public static TheoryData<string> Cases =>
    [
        "ResetAfterHeaders", "ResetMidBody", "CloseBeforeResponse", "GarbageFoo", "GarbageNonNumeric", "GarbageBinary",
        "ContentLengthLongerThanBody", "InvalidChunkSize", "UnterminatedChunkedBody", "HugeHeaderLine", "ThousandsOfHeaders",
        "HalfCloseAfterResponse", "ClosedPort", "TlsSelfSigned", "TlsExpired", "TlsWrongHost", "Status413DuringUpload",
        "ContentLengthAndChunked",
    ];

    [Theory]
    [Trait("Spec", "FAULT-16")]
    [MemberData(nameof(Cases))]
    public async Task FAULT_16_each_hostile_case_repeated_100_times_stays_at_baseline(string name)
    {
        var repeats = EnvCount("TETHER_FAULT16_REPEATS", name == "Status413DuringUpload" ? 20 : 100);
        var fast = new HostileServerOptions { ResetDelay = TimeSpan.FromMilliseconds(1) };
        HostileServer? hostile = null;
        TlsHostileServer? tls = null;
        Uri url;
        FetchErrorKind? kind;
        switch (name)
        {
            case "ClosedPort":
                url = new Uri($"http://127.0.0.1:{HostileServer.GetClosedPort()}/");
                kind = FetchErrorKind.ConnectionRefused;
                break;
            case "TlsSelfSigned" or "TlsExpired" or "TlsWrongHost":
                tls = TlsHostileServer.Start(name switch
                {
                    "TlsSelfSigned" => TlsHostileBehavior.SelfSigned,
                    "TlsExpired" => TlsHostileBehavior.Expired,
                    _ => TlsHostileBehavior.WrongHost,
                });
                url = tls.Url();
                kind = FetchErrorKind.Tls;
                break;
            default:
                (HostileBehavior behavior, kind) = name switch
                {
                    "ResetAfterHeaders" => (HostileBehavior.ResetAfterHeaders, FetchErrorKind.ConnectionReset),
                    "ResetMidBody" => (HostileBehavior.ResetMidBody, FetchErrorKind.ConnectionReset),
                    "CloseBeforeResponse" => (HostileBehavior.CloseBeforeResponse, FetchErrorKind.ConnectionClosed),
                    "GarbageFoo" => (HostileBehavior.GarbageStatusLine, FetchErrorKind.Protocol),
                    "GarbageNonNumeric" => (HostileBehavior.GarbageStatusLine, FetchErrorKind.Protocol),
                    "GarbageBinary" => (HostileBehavior.GarbageStatusLine, FetchErrorKind.Protocol),
                    "ContentLengthLongerThanBody" => (HostileBehavior.ContentLengthLongerThanBody, FetchErrorKind.TruncatedBody),
                    "InvalidChunkSize" => (HostileBehavior.InvalidChunkSize, FetchErrorKind.Protocol),
                    "UnterminatedChunkedBody" => (HostileBehavior.UnterminatedChunkedBody, FetchErrorKind.TruncatedBody),
                    "HugeHeaderLine" => (HostileBehavior.HugeHeaderLine, FetchErrorKind.HeadersTooLarge),
                    "ThousandsOfHeaders" => (HostileBehavior.ThousandsOfHeaders, FetchErrorKind.HeadersTooLarge),
                    "HalfCloseAfterResponse" => (HostileBehavior.HalfCloseAfterResponse, (FetchErrorKind?)null),
                    "Status413DuringUpload" => (HostileBehavior.Status413AndCloseDuringUpload, (FetchErrorKind?)null),
                    "ContentLengthAndChunked" => (HostileBehavior.ContentLengthAndChunked, FetchErrorKind.Protocol),
                    _ => throw new ArgumentException(name),
                };
                fast.GarbageVariant = name switch
                {
                    "GarbageNonNumeric" => GarbageStatusLineVariant.NonNumericStatus,
                    "GarbageBinary" => GarbageStatusLineVariant.Binary,
                    _ => GarbageStatusLineVariant.Foo,
                };
                hostile = HostileServer.Start(behavior, fast);
                url = hostile.Url();
                break;
        }

        try
        {
            var port = hostile?.Port ?? tls?.Port ?? url.Port;
            var check = LeakCheck.Start(server, port);
            var sw = Stopwatch.StartNew();
            await using (var client = NewClient(configure: o =>
            {
                o.Defaults.CaCertificates = tls is null ? null : [tls.CaCertificate];
                o.PoolOptions = new ConnectionPoolOptions { ReaperInterval = TimeSpan.FromMilliseconds(10) };
            }))
            {
                for (var i = 0; i < repeats; i++)
                {
                    await Once(client, url, name, kind);
                }
            }

            sw.Stop();
            Measure("FAULT-16", $"{name} × {repeats}: {sw.Elapsed.TotalMilliseconds / repeats:F1} ms each");
            // Clean rule (issue 13): nothing of this client in the ledger and no ESTABLISHED/CLOSE_WAIT socket towards
            // the hostile port. Whole-process fd counts are asserted only in child processes (ChildProcessScenarioTests).
            await check.AssertCleanAsync();
        }
        finally
        {
            if (hostile is not null)
            {
                await hostile.DisposeAsync();
            }

            if (tls is not null)
            {
                await tls.DisposeAsync();
            }
        }
    }

    private static async Task Once(AsyncHttpClient client, Uri url, string name, FetchErrorKind? kind)
    {
        var ct = TestContext.Current.CancellationToken;
        if (name == "HalfCloseAfterResponse")
        {
            Assert.Equal(200, (await client.FetchAsync(url.ToString(), ct)).Code);
            return;
        }

        if (name == "Status413DuringUpload")
        {
            var error = await Assert.ThrowsAsync<FetchException>(() =>
                client.FetchAsync(new FetchRequest(url) { Method = "POST", Body = new byte[1024 * 1024] }, ct));
            Assert.True(error is { Code: 413, Kind: FetchErrorKind.HttpStatus }
                or { Code: FetchException.NoResponse, Kind: FetchErrorKind.RequestWrite or FetchErrorKind.ConnectionReset },
                $"{error.Code} {error.Kind}: {error.Message}");
            return;
        }

        var e = await Assert.ThrowsAsync<FetchException>(() => client.FetchAsync(url.ToString(), ct));
        Assert.True(e.Code == FetchException.NoResponse && e.Kind == kind, $"{name}: expected {kind}, got {e.Code} {e.Kind}: {e.Message}");
    }
}
