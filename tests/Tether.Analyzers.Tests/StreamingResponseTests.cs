namespace Tether.Analyzers.Tests;

public class StreamingResponseTests
{
    [Fact]
    public async Task FetchStreamAsync_result_never_disposed_warns()
    {
        await Verify.AnalyzerAsync<StreamingResponseAnalyzer>("""
            using System.Threading.Tasks;
            using Tether;
            class C
            {
                async Task<int> M(AsyncHttpClient client)
                {
                    var response = await {|#0:client.FetchStreamAsync("http://localhost/")|};
                    return response.Code;
                }
            }
            """,
            Verify.Diagnostic(Descriptors.StreamingResponse).WithArguments("FetchStreamAsync", "await using"));
    }

    [Fact]
    public async Task Discarded_streaming_response_warns()
    {
        await Verify.AnalyzerAsync<StreamingResponseAnalyzer>("""
            using System.Threading.Tasks;
            using Tether;
            class C
            {
                async Task M(AsyncHttpClient client)
                {
                    await {|#0:client.FetchStreamAsync(new FetchRequest("http://localhost/"))|}.ConfigureAwait(false);
                }
            }
            """,
            Verify.Diagnostic(Descriptors.StreamingResponse).WithArguments("FetchStreamAsync", "await using"));
    }

    [Fact]
    public async Task HttpClient_ResponseHeadersRead_never_disposed_warns()
    {
        await Verify.AnalyzerAsync<StreamingResponseAnalyzer>("""
            using System.Net.Http;
            using System.Threading.Tasks;
            class C
            {
                static readonly HttpClient Http = new HttpClient();
                async Task<bool> M()
                {
                    var response = await {|#0:Http.GetAsync("http://localhost/", HttpCompletionOption.ResponseHeadersRead)|};
                    return response.IsSuccessStatusCode;
                }
            }
            """,
            Verify.Diagnostic(Descriptors.StreamingResponse).WithArguments("GetAsync", "using"));
    }

    [Fact]
    public async Task Disposed_read_or_handed_on_responses_do_not_report()
    {
        await Verify.AnalyzerAsync<StreamingResponseAnalyzer>("""
            using System.IO;
            using System.Net.Http;
            using System.Threading.Tasks;
            using Tether;
            class C
            {
                static readonly HttpClient Http = new HttpClient();
                FetchResponse? _kept;

                async Task Fine(AsyncHttpClient client)
                {
                    await using var a = await client.FetchStreamAsync("http://localhost/");
                    using (var b = await client.FetchStreamAsync("http://localhost/")) { }
                    var c = await client.FetchStreamAsync("http://localhost/");
                    await c.DisposeAsync();
                    var d = await client.FetchStreamAsync("http://localhost/");
                    _ = d.Text;
                    var e = await client.FetchStreamAsync("http://localhost/");
                    await e.BodyStream.CopyToAsync(Stream.Null);
                    var f = await client.FetchStreamAsync("http://localhost/");
                    Consume(f);
                    _kept = await client.FetchStreamAsync("http://localhost/");
                    var g = await client.FetchAsync("http://localhost/"); // buffered: nothing to release
                    using var h = await Http.GetAsync("http://localhost/", HttpCompletionOption.ResponseHeadersRead);
                    var i = await Http.GetAsync("http://localhost/");
                    var j = await Http.GetAsync("http://localhost/", HttpCompletionOption.ResponseHeadersRead);
                    var text = await j.Content.ReadAsStringAsync();
                }

                async Task<FetchResponse> Returned(AsyncHttpClient client)
                {
                    var response = await client.FetchStreamAsync("http://localhost/");
                    return response;
                }

                static void Consume(FetchResponse response) => response.Dispose();
            }
            """);
    }

    [Fact]
    public async Task Fix_adds_await_using()
    {
        await Verify.CodeFixAsync<StreamingResponseAnalyzer, StreamingResponseCodeFix>("""
            using System.Threading.Tasks;
            using Tether;
            class C
            {
                async Task<int> M(AsyncHttpClient client)
                {
                    // the body is streamed
                    var response = await {|#0:client.FetchStreamAsync("http://localhost/")|};
                    return response.Code;
                }
            }
            """, """
            using System.Threading.Tasks;
            using Tether;
            class C
            {
                async Task<int> M(AsyncHttpClient client)
                {
                    // the body is streamed
                    await using var response = await client.FetchStreamAsync("http://localhost/");
                    return response.Code;
                }
            }
            """,
            null,
            Verify.Diagnostic(Descriptors.StreamingResponse).WithArguments("FetchStreamAsync", "await using"));
    }

    [Fact]
    public async Task Fix_adds_using_for_HttpResponseMessage()
    {
        await Verify.CodeFixAsync<StreamingResponseAnalyzer, StreamingResponseCodeFix>("""
            using System.Net.Http;
            using System.Threading.Tasks;
            class C
            {
                async Task<bool> M(HttpClient http)
                {
                    var response = await {|#0:http.GetAsync("http://localhost/", HttpCompletionOption.ResponseHeadersRead)|};
                    return response.IsSuccessStatusCode;
                }
            }
            """, """
            using System.Net.Http;
            using System.Threading.Tasks;
            class C
            {
                async Task<bool> M(HttpClient http)
                {
                    using var response = await http.GetAsync("http://localhost/", HttpCompletionOption.ResponseHeadersRead);
                    return response.IsSuccessStatusCode;
                }
            }
            """,
            null,
            Verify.Diagnostic(Descriptors.StreamingResponse).WithArguments("GetAsync", "using"));
    }
}
