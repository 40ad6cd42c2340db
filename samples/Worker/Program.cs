using Microsoft.Extensions.Hosting;
using Tether.Samples.Worker;

await WorkerApp.Build(args).RunAsync();
