// LOOP-23 probe: a process that creates clients (inside and outside loops, with undisposed streamed responses)
// and exits without closing any of them. It must exit with code 0 and write nothing to stderr.
using Tether;

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: Tether.ExitProbe <loopback url>");
    return 2;
}

var url = args[0];
var outside = new AsyncHttpClient();
var leased = new AsyncHttpClient(new AsyncHttpClientOptions { Pool = ConnectionPool.Process });
await outside.FetchAsync(url);
await leased.FetchAsync(url);
var streamed = await outside.FetchStreamAsync(url);
EventLoop.Run(async () =>
{
    var inside = new AsyncHttpClient();
    await inside.FetchAsync(url);
    await AsyncHttpClient.Shared.FetchAsync(url);
});
await AsyncHttpClient.Shared.FetchAsync(url);
Console.WriteLine($"ok {streamed.Code}");
return 0;
