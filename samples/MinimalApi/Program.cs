using Tether.Samples.MinimalApi;

await MinimalApiApp.Build(args).RunAsync();
