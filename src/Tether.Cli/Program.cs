using System.CommandLine;
using Tether.Cli.Commands;

// Minimal entry point registering the census commands; the main CLI owner merges the others in.
var root = new RootCommand("tether: an HTTP client that owns its sockets, and the tools to prove it.")
{
    CensusCommand.Create(),
    WatchCommand.Create(),
};
return CliSupport.Run(root, args);
