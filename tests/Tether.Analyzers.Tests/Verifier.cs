using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace Tether.Analyzers.Tests;

/// <summary>
/// Test plumbing shared by every analyzer test: offline reference assemblies, the Tether stubs,
/// nullable on, and C# latest.
/// </summary>
internal static class TestSetup
{
    /// <summary>
    /// Reference assemblies taken from the installed SDK's Microsoft.NETCore.App.Ref pack (or, failing
    /// that, the running runtime's own assemblies), so tests never download anything.
    /// </summary>
    private static readonly Lazy<ImmutableArray<MetadataReference>> LazyReferences = new(LoadReferences);

    public static ImmutableArray<MetadataReference> References => LazyReferences.Value;

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        var runtimeDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var directory = FindRefPack(runtimeDir) ?? runtimeDir;
        var files = Directory.GetFiles(directory, "*.dll")
            .Where(f =>
            {
                var name = Path.GetFileName(f);
                return name.StartsWith("System", StringComparison.Ordinal) ||
                    name.StartsWith("Microsoft.", StringComparison.Ordinal) ||
                    name is "mscorlib.dll" or "netstandard.dll";
            })
            .Where(f => !Path.GetFileName(f).Contains(".Native", StringComparison.Ordinal));
        return [.. files.Select(f => (MetadataReference)MetadataReference.CreateFromFile(f))];
    }

    private static string? FindRefPack(string runtimeDir)
    {
        // runtimeDir = <dotnet>/shared/Microsoft.NETCore.App/<version>
        var version = Path.GetFileName(runtimeDir);
        var dotnetRoot = Path.GetFullPath(Path.Combine(runtimeDir, "..", "..", ".."));
        var packs = Path.Combine(dotnetRoot, "packs", "Microsoft.NETCore.App.Ref");
        if (!Directory.Exists(packs))
        {
            return null;
        }
        var candidates = new[] { Path.Combine(packs, version) }
            .Concat(Directory.GetDirectories(packs).OrderByDescending(d => d, StringComparer.Ordinal));
        foreach (var pack in candidates)
        {
            var refDir = Path.Combine(pack, "ref");
            if (!Directory.Exists(refDir))
            {
                continue;
            }
            var tfm = Directory.GetDirectories(refDir).OrderByDescending(d => d, StringComparer.Ordinal).FirstOrDefault();
            if (tfm != null && File.Exists(Path.Combine(tfm, "System.Runtime.dll")))
            {
                return tfm;
            }
        }
        return null;
    }

    public static void Configure(SolutionState state, bool addStubs)
    {
        if (addStubs)
        {
            state.Sources.Add((TetherStubs.FileName, TetherStubs.Source));
        }
        state.AdditionalReferences.AddRange(References);
    }

    public static Solution Transform(Solution solution, ProjectId projectId)
    {
        var project = solution.GetProject(projectId)!;
        var options = ((CSharpCompilationOptions)project.CompilationOptions!)
            .WithNullableContextOptions(NullableContextOptions.Enable);
        var parse = ((CSharpParseOptions)project.ParseOptions!).WithLanguageVersion(LanguageVersion.Latest);
        return solution.WithProjectCompilationOptions(projectId, options).WithProjectParseOptions(projectId, parse);
    }

    /// <summary>No framework package: references come from <see cref="References"/>.</summary>
    public static readonly ReferenceAssemblies NoPackages = new("net10.0");
}

/// <summary>Runs one analyzer (or all of them, see <see cref="AllAnalyzersTest"/>) over source plus stubs.</summary>
internal class AnalyzerTest<TAnalyzer> : CSharpAnalyzerTest<TAnalyzer, DefaultVerifier>
    where TAnalyzer : DiagnosticAnalyzer, new()
{
    public AnalyzerTest(string source, bool addStubs = true)
    {
        TestCode = source;
        ReferenceAssemblies = TestSetup.NoPackages;
        TestSetup.Configure(TestState, addStubs);
        SolutionTransforms.Add(TestSetup.Transform);
    }
}

/// <summary>Every Tether analyzer at once: for "correct code produces nothing" and seed-pattern tests.</summary>
internal sealed class AllAnalyzersTest : AnalyzerTest<ClientPerIterationAnalyzer>
{
    public AllAnalyzersTest(string source) : base(source) { }

    protected override IEnumerable<DiagnosticAnalyzer> GetDiagnosticAnalyzers() => AllAnalyzers.Create();
}

internal static class AllAnalyzers
{
    public static DiagnosticAnalyzer[] Create() =>
    [
        new ClientPerIterationAnalyzer(),
        new ClientOutsideRunAnalyzer(),
        new RunInLoopAnalyzer(),
        new StreamingResponseAnalyzer(),
        new BlockingInLoopAnalyzer(),
        new DisposeNotOwnedAnalyzer(),
    ];
}

internal sealed class CodeFixTest<TAnalyzer, TCodeFix> : CSharpCodeFixTest<TAnalyzer, TCodeFix, DefaultVerifier>
    where TAnalyzer : DiagnosticAnalyzer, new()
    where TCodeFix : CodeFixProvider, new()
{
    public CodeFixTest(string source, string fixedSource, string? equivalenceKey = null)
    {
        TestCode = source;
        FixedCode = fixedSource;
        ReferenceAssemblies = TestSetup.NoPackages;
        TestSetup.Configure(TestState, addStubs: true);
        TestSetup.Configure(FixedState, addStubs: true);
        SolutionTransforms.Add(TestSetup.Transform);
        CodeActionEquivalenceKey = equivalenceKey;
    }
}

internal static class Verify
{
    public static Task AnalyzerAsync<TAnalyzer>(string source, params DiagnosticResult[] expected)
        where TAnalyzer : DiagnosticAnalyzer, new()
    {
        var test = new AnalyzerTest<TAnalyzer>(source);
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync(Xunit.TestContext.Current.CancellationToken);
    }

    public static Task AllAnalyzersAsync(string source, params DiagnosticResult[] expected)
    {
        var test = new AllAnalyzersTest(source);
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync(Xunit.TestContext.Current.CancellationToken);
    }

    public static Task CodeFixAsync<TAnalyzer, TCodeFix>(string source, string fixedSource, string? equivalenceKey, params DiagnosticResult[] expected)
        where TAnalyzer : DiagnosticAnalyzer, new()
        where TCodeFix : CodeFixProvider, new()
    {
        var test = new CodeFixTest<TAnalyzer, TCodeFix>(source, fixedSource, equivalenceKey);
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync(Xunit.TestContext.Current.CancellationToken);
    }

    public static DiagnosticResult Diagnostic(DiagnosticDescriptor descriptor, int location = 0) =>
        new DiagnosticResult(descriptor).WithLocation(location);
}
