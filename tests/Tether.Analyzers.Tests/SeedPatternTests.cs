using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Tether.Analyzers.Tests;

/// <summary>
/// The bug Tether exists for, written in C#: a client built outside the loop, used only
/// inside it, with a fresh loop per iteration. It must produce build warnings that name the fix.
/// </summary>
public class SeedPatternTests
{
    private const string Seed = """
        using Tether;

        var client = {|#0:new AsyncHttpClient()|};
        while (true)
        {
            {|#1:EventLoop.Run(async () =>
            {
                using var response = await client.FetchAsync("http://localhost:8080/");
            })|};
        }
        """;

    [Fact]
    public async Task Seed_pattern_reports_TETHER002_and_TETHER003_with_the_fix_in_the_message()
    {
        var test = new AllAnalyzersTest(Seed);
        test.TestState.OutputKind = OutputKind.ConsoleApplication;
        test.ExpectedDiagnostics.Add(Verify.Diagnostic(Descriptors.ClientOutsideRun, 0).WithMessage(
            "AsyncHttpClient 'client' is created outside EventLoop.Run but used only inside its lambda, so its sockets outlive the loop; create it inside the lambda with 'await using' or use AsyncHttpClient.Shared"));
        test.ExpectedDiagnostics.Add(Verify.Diagnostic(Descriptors.RunInLoop, 1).WithMessage(
            "EventLoop.Run is called on every iteration of this loop, and the body uses an HTTP client, so a client and its sockets are set up and torn down (or stranded) per iteration; call EventLoop.Run once and put the loop inside its lambda"));
        await test.RunAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>
    /// What a consuming build sees: a plain compilation with the analyzers attached, the way csc loads
    /// them from the package's analyzers/dotnet/cs folder. The seed yields warnings (not info), so a
    /// TreatWarningsAsErrors build fails on it.
    /// </summary>
    [Fact]
    public async Task Consumer_compilation_gets_build_warnings_for_the_seed()
    {
        var source = Seed.Replace("{|#0:", "", StringComparison.Ordinal).Replace("{|#1:", "", StringComparison.Ordinal).Replace("|}", "", StringComparison.Ordinal);
        var compilation = CSharpCompilation.Create(
            "Consumer",
            [CSharpSyntaxTree.ParseText(source, cancellationToken: TestContext.Current.CancellationToken),
             CSharpSyntaxTree.ParseText(TetherStubs.Source, cancellationToken: TestContext.Current.CancellationToken)],
            TestSetup.References,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        Assert.Empty(compilation.GetDiagnostics(TestContext.Current.CancellationToken).Where(d => d.Severity == DiagnosticSeverity.Error));

        var diagnostics = await compilation
            .WithAnalyzers([.. AllAnalyzers.Create()])
            .GetAnalyzerDiagnosticsAsync(TestContext.Current.CancellationToken);

        var seed = Assert.Single(diagnostics, d => d.Id == "TETHER002");
        Assert.Equal(DiagnosticSeverity.Warning, seed.Severity);
        Assert.Contains("create it inside the lambda with 'await using' or use AsyncHttpClient.Shared", seed.GetMessage(), StringComparison.Ordinal);
        Assert.Equal("https://github.com/tether-dotnet/tether/blob/main/docs/analyzers.md#tether002", seed.Descriptor.HelpLinkUri);
        var loop = Assert.Single(diagnostics, d => d.Id == "TETHER003");
        Assert.Equal(DiagnosticSeverity.Warning, loop.Severity);
    }

    [Fact]
    public async Task First_cure_one_loop_with_an_inner_loop_is_clean()
    {
        var test = new AllAnalyzersTest("""
            using Tether;

            EventLoop.Run(async () =>
            {
                await using var client = new AsyncHttpClient();
                while (true)
                {
                    using var response = await client.FetchAsync("http://localhost:8080/");
                }
            });
            """);
        test.TestState.OutputKind = OutputKind.ConsoleApplication;
        await test.RunAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Second_cure_Shared_inside_Run_is_clean()
    {
        var test = new AllAnalyzersTest("""
            using Tether;

            for (var i = 0; i < 3; i++)
            {
                System.Console.WriteLine(i);
            }
            EventLoop.Run(async () =>
            {
                for (var i = 0; i < 1000; i++)
                {
                    using var response = await AsyncHttpClient.Shared.FetchAsync("http://localhost:8080/");
                    System.Console.WriteLine(response.Text);
                }
            });
            """);
        test.TestState.OutputKind = OutputKind.ConsoleApplication;
        await test.RunAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Readme_style_patterns_produce_no_diagnostics_from_any_analyzer()
    {
        await Verify.AllAnalyzersAsync("""
            using System;
            using System.IO;
            using System.Net.Http;
            using System.Threading;
            using System.Threading.Tasks;
            using Tether;

            public sealed class WeatherService : IAsyncDisposable
            {
                private static readonly HttpClient SharedHttp = new HttpClient();
                private readonly AsyncHttpClient _client = new AsyncHttpClient(new AsyncHttpClientOptions());

                public async Task<string> GetAsync(string url, CancellationToken cancellationToken)
                {
                    using var response = await _client.FetchAsync(url, cancellationToken);
                    return response.Text;
                }

                public async Task<long> DownloadAsync(string url, Stream destination, CancellationToken cancellationToken)
                {
                    await using var response = await _client.FetchStreamAsync(url, cancellationToken);
                    await response.BodyStream.CopyToAsync(destination, cancellationToken);
                    return destination.Length;
                }

                public static Task<string> LegacyAsync(string url) => SharedHttp.GetStringAsync(url);

                public ValueTask DisposeAsync() => _client.DisposeAsync();

                public static int Main()
                {
                    return EventLoop.Run(async () =>
                    {
                        var total = 0;
                        await using var service = new WeatherService();
                        for (var i = 0; i < 10; i++)
                        {
                            var text = await service.GetAsync("http://localhost/", CancellationToken.None);
                            total += text.Length;
                            using var response = await AsyncHttpClient.Shared.FetchAsync("http://localhost/");
                            total += response.Code;
                        }
                        return total;
                    });
                }
            }
            """);
    }
}
