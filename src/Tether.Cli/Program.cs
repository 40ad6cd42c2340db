using Tether.Cli;
using Tether.Cli.Commands;

return CliSupport.Run(TetherCli.CreateRoot(), args);
