using System.Collections.Immutable;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace Tether.Tests.Docs;

/// <summary>
/// Keeps the README and docs/ true to the code (docs issue): every fenced <c>```csharp</c> block in README.md and
/// docs/*.md is compiled with Roslyn against the assemblies this test run has, as a top-level-statements program.
/// A block that is deliberately a fragment (uses names defined in the prose, or shows a class member) is fenced
/// <c>```csharp fragment</c> and is skipped with that reason. Snippets are compiled, never run. DOC-xx IDs are this
/// issue's checklist; they are not (yet) in the shared behaviours list.
/// </summary>
public sealed class DocSnippetTests(ITestOutputHelper output)
{
    private const string FragmentTag = "fragment";

    /// <summary>Usings every snippet gets for free, as a project with ImplicitUsings plus Tether would have.</summary>
    private static readonly string[] GlobalUsings =
    [
        "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net", "System.Net.Http",
        "System.Threading", "System.Threading.Tasks", "Tether", "Tether.Diagnostics",
        "Microsoft.Extensions.DependencyInjection", "Microsoft.Extensions.Hosting", "Microsoft.Extensions.Logging",
        "Tether.Extensions.DependencyInjection", "OpenTelemetry", "OpenTelemetry.Metrics",
    ];

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(LoadReferences);

    /// <summary>One theory row per csharp block, named "file:line" so a failure says which snippet broke.</summary>
    public static TheoryData<string> Snippets()
    {
        var data = new TheoryData<string>();
        foreach (var snippet in AllSnippets())
        {
            data.Add(snippet.Id);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    [Trait("Spec", "DOC-01")]
    public void DOC_01_every_csharp_snippet_in_the_docs_compiles(string id)
    {
        var snippet = AllSnippets().Single(s => s.Id == id);
        if (snippet.IsFragment)
        {
            Assert.Skip($"{id} is fenced ```csharp {FragmentTag}: it uses names defined in the prose around it");
        }

        var errors = Compile(snippet);
        Assert.True(errors.Count == 0,
            $"{id} does not compile:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}" +
            $"{Environment.NewLine}--- snippet ---{Environment.NewLine}{snippet.Code}");
    }

    [Fact]
    [Trait("Spec", "DOC-02")]
    public void DOC_02_csharp_fences_are_well_formed_and_the_fragment_count_is_reported()
    {
        var snippets = AllSnippets();
        var fragments = snippets.Count(s => s.IsFragment);
        output.WriteLine($"csharp snippets: {snippets.Count} ({snippets.Count - fragments} compiled, {fragments} fragments)");
        foreach (var s in snippets.Where(s => s.IsFragment))
        {
            output.WriteLine($"  fragment: {s.Id}");
        }

        // A typo in the info string ("csharp fragmnet") would otherwise compile-check nothing, silently.
        var badInfo = snippets.Where(s => s.Info is not ("csharp" or "csharp " + FragmentTag)).Select(s => $"{s.Id}: ```{s.Info}");
        Assert.Empty(badInfo);
        Assert.Empty(snippets.Where(s => !s.Closed).Select(s => s.Id));
        Assert.Contains(snippets, s => !s.IsFragment);
    }

    private static List<string> Compile(Snippet snippet)
    {
        var parse = CSharpParseOptions.Default.WithLanguageVersion(LanguageVersion.Latest);
        var usings = string.Concat(GlobalUsings.Select(u => $"global using {u};\n"));
        var trees = new[]
        {
            CSharpSyntaxTree.ParseText(usings, parse, path: "GlobalUsings.cs"),
            CSharpSyntaxTree.ParseText(snippet.Code, parse, path: snippet.Id),
        };
        var compilation = CSharpCompilation.Create(
            "DocSnippet_" + Guid.NewGuid().ToString("N"),
            trees,
            References.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));

        return compilation.GetDiagnostics()
            .Where(d => d.Severity == DiagnosticSeverity.Error)
            // A snippet that only declares types is complete code; it just has no entry point of its own.
            .Where(d => d.Id != "CS5001")
            .Select(d => d.ToString())
            .ToList();
    }

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (!assembly.IsDynamic && !string.IsNullOrEmpty(assembly.Location))
            {
                paths.Add(assembly.Location);
            }
        }

        // The trusted platform assemblies are the framework plus every dependency in the test's deps.json, so types
        // from packages this run has not loaded yet (OpenTelemetry, Hosting) resolve too.
        if (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") is string tpa)
        {
            foreach (var path in tpa.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                paths.Add(path);
            }
        }

        // One reference per simple name: the same assembly can appear under two paths.
        return [.. paths
            .Where(File.Exists)
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase)
            .Select(g => (MetadataReference)MetadataReference.CreateFromFile(g.First()))];
    }

    private sealed record Snippet(string Id, string Info, string Code, bool Closed)
    {
        public bool IsFragment => Info.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(FragmentTag);
    }

    private static List<Snippet> AllSnippets()
    {
        var root = RepoRoot();
        var files = new List<string> { Path.Combine(root, "README.md") };
        files.AddRange(Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order(StringComparer.Ordinal));

        var snippets = new List<Snippet>();
        foreach (var file in files)
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var open = lines[i].Trim();
                if (!open.StartsWith("```csharp", StringComparison.Ordinal) && !open.StartsWith("```cs ", StringComparison.Ordinal)
                    && open != "```cs")
                {
                    continue;
                }

                var start = i + 1;
                var code = new StringBuilder();
                var closed = false;
                for (i = start; i < lines.Length; i++)
                {
                    if (lines[i].Trim() == "```")
                    {
                        closed = true;
                        break;
                    }

                    code.AppendLine(lines[i]);
                }

                snippets.Add(new Snippet($"{relative}:{start}", open[3..].Trim(), code.ToString(), closed));
            }
        }

        return snippets;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Tether.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Tether.slnx above {AppContext.BaseDirectory}; run the tests from the repository.");
    }
}
