// Deliberately wrong: a new HttpClient (and its connection pool) per iteration.
// The analyzers inside the Tether package must report TETHER001 here.
using System.Net.Http;

foreach (var url in args)
{
    using var http = new HttpClient();
    System.Console.WriteLine(await http.GetStringAsync(url));
}
