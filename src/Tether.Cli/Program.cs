using Tether.Cli;
using Tether.Cli.Commands;

return await CliSupport.RunAsync(TetherCli.CreateRoot(), args, handleSignals: true).ConfigureAwait(false);
