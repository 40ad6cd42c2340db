// Tether micro benchmarks (BenchmarkDotNet). One command runs them all:
//   dotnet run -c Release --project bench/Tether.Benchmarks -- --filter '*'
// Short runs (noisy machine, quick look):  ... -- --filter '*' --job short
// One class:                               ... -- --filter '*Fetch*'
// Reports land in bench/BenchmarkDotNet.Artifacts/results/ (markdown, committed) whatever the working directory.
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

var config = DefaultConfig.Instance.WithArtifactsPath(ArtifactsPath());
BenchmarkSwitcher.FromAssembly(typeof(Tether.Benchmarks.FetchBenchmarks).Assembly).Run(args, config);

// bench/BenchmarkDotNet.Artifacts, found by walking up from the build output to the folder holding this project.
static string ArtifactsPath()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Tether.Benchmarks.csproj")))
        {
            return Path.Combine(dir.Parent!.FullName, "BenchmarkDotNet.Artifacts");
        }
    }

    return Path.Combine(Directory.GetCurrentDirectory(), "BenchmarkDotNet.Artifacts");
}
