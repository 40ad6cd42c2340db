namespace Tether.Analyzers.Tests;

public class DisposeNotOwnedTests
{
    [Fact]
    public async Task Disposing_or_closing_Shared_is_an_error()
    {
        await Verify.AnalyzerAsync<DisposeNotOwnedAnalyzer>("""
            using Tether;
            class C
            {
                void M()
                {
                    EventLoop.Run(async () =>
                    {
                        var client = AsyncHttpClient.Shared;
                        using var response = await client.FetchAsync("http://localhost/");
                        {|#0:client.Close()|};
                        await {|#1:AsyncHttpClient.Shared.DisposeAsync()|};
                    });
                }
            }
            """,
            Verify.Diagnostic(Descriptors.DisposeShared, 0).WithArguments("closed", "Close call"),
            Verify.Diagnostic(Descriptors.DisposeShared, 1).WithArguments("disposed", "DisposeAsync call"));
    }

    [Fact]
    public async Task Using_Shared_is_an_error()
    {
        await Verify.AnalyzerAsync<DisposeNotOwnedAnalyzer>("""
            using Tether;
            class C
            {
                void M()
                {
                    EventLoop.Run(async () =>
                    {
                        await using var client = {|#0:AsyncHttpClient.Shared|};
                        using var response = await client.FetchAsync("http://localhost/");
                    });
                }
            }
            """,
            Verify.Diagnostic(Descriptors.DisposeShared).WithArguments("disposed", "using"));
    }

    [Fact]
    public async Task Disposing_a_parameter_or_injected_field_warns()
    {
        await Verify.AnalyzerAsync<DisposeNotOwnedAnalyzer>("""
            using System;
            using System.Net.Http;
            using Tether;
            sealed class Api : IDisposable
            {
                private readonly HttpClient _http;
                public Api(HttpClient http) { _http = http; }
                public void Dispose() => {|#0:_http.Dispose()|};
                public static void Done(AsyncHttpClient client) => {|#1:client.Close()|};
            }
            """,
            Verify.Diagnostic(Descriptors.DisposeNotOwned, 0).WithArguments("_http", "an injected field (assigned only from a constructor or method parameter)", "Dispose"),
            Verify.Diagnostic(Descriptors.DisposeNotOwned, 1).WithArguments("client", "a parameter", "Close"));
    }

    [Fact]
    public async Task Disposing_a_primary_constructor_injected_field_warns()
    {
        await Verify.AnalyzerAsync<DisposeNotOwnedAnalyzer>("""
            using System;
            using System.Net.Http;
            sealed class Api(HttpClient http) : IDisposable
            {
                private readonly HttpClient _http = http;
                public void Dispose() => {|#0:_http.Dispose()|};
            }
            """,
            Verify.Diagnostic(Descriptors.DisposeNotOwned).WithArguments("_http", "an injected field (assigned only from a constructor or method parameter)", "Dispose"));
    }

    [Fact]
    public async Task Disposing_what_the_code_owns_does_not_report()
    {
        await Verify.AnalyzerAsync<DisposeNotOwnedAnalyzer>("""
            using System;
            using System.Net.Http;
            using System.Threading.Tasks;
            using Tether;
            sealed class Owner : IAsyncDisposable
            {
                private readonly AsyncHttpClient _client = new AsyncHttpClient();
                private readonly HttpClient _http;
                public Owner(HttpMessageHandler handler) { _http = new HttpClient(handler); }
                public async ValueTask DisposeAsync()
                {
                    await _client.DisposeAsync();
                    _http.Dispose();
                }
                static void Run()
                {
                    EventLoop.Run(async () =>
                    {
                        await using var client = new AsyncHttpClient();
                        using var response = await client.FetchAsync("http://localhost/");
                        client.Close();
                    });
                }
                static void DisposeAll(System.Collections.Generic.List<HttpClient> mine) { }
                static void DisposeCreated()
                {
                    var created = new System.Collections.Generic.List<HttpClient> { new HttpClient() };
                    created.ForEach(c => c.Dispose());
                }
            }
            """);
    }

    [Fact]
    public async Task Fix_removes_the_Dispose_of_Shared()
    {
        await Verify.CodeFixAsync<DisposeNotOwnedAnalyzer, DisposeSharedCodeFix>("""
            using Tether;
            class C
            {
                void M()
                {
                    EventLoop.Run(async () =>
                    {
                        using var response = await AsyncHttpClient.Shared.FetchAsync("http://localhost/");
                        {|#0:AsyncHttpClient.Shared.Dispose()|};
                    });
                }
            }
            """, """
            using Tether;
            class C
            {
                void M()
                {
                    EventLoop.Run(async () =>
                    {
                        using var response = await AsyncHttpClient.Shared.FetchAsync("http://localhost/");
                    });
                }
            }
            """,
            null,
            Verify.Diagnostic(Descriptors.DisposeShared).WithArguments("disposed", "Dispose call"));
    }

    [Fact]
    public async Task Fix_removes_using_from_Shared()
    {
        await Verify.CodeFixAsync<DisposeNotOwnedAnalyzer, DisposeSharedCodeFix>("""
            using Tether;
            class C
            {
                void M()
                {
                    EventLoop.Run(async () =>
                    {
                        await using var client = {|#0:AsyncHttpClient.Shared|};
                        using var response = await client.FetchAsync("http://localhost/");
                    });
                }
            }
            """, """
            using Tether;
            class C
            {
                void M()
                {
                    EventLoop.Run(async () =>
                    {
                        var client = AsyncHttpClient.Shared;
                        using var response = await client.FetchAsync("http://localhost/");
                    });
                }
            }
            """,
            null,
            Verify.Diagnostic(Descriptors.DisposeShared).WithArguments("disposed", "using"));
    }

    [Fact]
    public async Task Fix_removes_the_Close_of_a_parameter()
    {
        await Verify.CodeFixAsync<DisposeNotOwnedAnalyzer, DisposeSharedCodeFix>("""
            using System.Threading.Tasks;
            using Tether;
            static class Helpers
            {
                public static async Task<int> CodeOf(AsyncHttpClient client, string url)
                {
                    using var response = await client.FetchAsync(url);
                    {|#0:client.Close()|};
                    return response.Code;
                }
            }
            """, """
            using System.Threading.Tasks;
            using Tether;
            static class Helpers
            {
                public static async Task<int> CodeOf(AsyncHttpClient client, string url)
                {
                    using var response = await client.FetchAsync(url);
                    return response.Code;
                }
            }
            """,
            null,
            Verify.Diagnostic(Descriptors.DisposeNotOwned).WithArguments("client", "a parameter", "Close"));
    }
}
