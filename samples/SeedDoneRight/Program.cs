using Tether.Samples.SeedDoneRight;

if (args.Length < 1 || !Uri.TryCreate(args[0], UriKind.Absolute, out _))
{
    Console.Error.WriteLine("usage: SeedDoneRight <loopback-url> [iterations]   e.g. SeedDoneRight http://127.0.0.1:5000/hello 1000");
    return 2;
}

var iterations = args.Length > 1 && int.TryParse(args[1], out var n) && n > 0 ? n : 1000;
SeedDoneRightApp.Run(args[0], iterations, Console.Out);
return 0;
