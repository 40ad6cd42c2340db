namespace Tether.Analyzers.Tests;

/// <summary>
/// Minimal stand-ins for the Tether public API (and nothing else), compiled into every test
/// compilation. The analyzers match these by metadata name exactly as they match the real library.
/// </summary>
internal static class TetherStubs
{
    public const string FileName = "TetherStubs.cs";

    public const string Source = """
        #nullable enable
        namespace Tether
        {
            using System;
            using System.IO;
            using System.Threading;
            using System.Threading.Tasks;

            public sealed class AsyncHttpClientOptions { }

            public sealed class FetchRequest
            {
                public FetchRequest(string url) { Url = url; }
                public string Url { get; }
            }

            public sealed class FetchResponse : IAsyncDisposable, IDisposable
            {
                public Stream BodyStream => Stream.Null;
                public byte[] Body => Array.Empty<byte>();
                public string Text => "";
                public int Code => 200;
                public ValueTask DisposeAsync() => default;
                public void Dispose() { }
            }

            public sealed class AsyncHttpClient : IAsyncDisposable, IDisposable
            {
                public AsyncHttpClient(AsyncHttpClientOptions? options = null) { }
                public static AsyncHttpClient Shared => throw new InvalidOperationException();
                public Task<FetchResponse> FetchAsync(string url, CancellationToken cancellationToken = default) => Task.FromResult(new FetchResponse());
                public Task<FetchResponse> FetchAsync(FetchRequest request, CancellationToken cancellationToken = default) => Task.FromResult(new FetchResponse());
                public Task<FetchResponse> FetchStreamAsync(FetchRequest request, CancellationToken cancellationToken = default) => Task.FromResult(new FetchResponse());
                public Task<FetchResponse> FetchStreamAsync(string url, CancellationToken cancellationToken = default) => Task.FromResult(new FetchResponse());
                public void Close() { }
                public ValueTask DisposeAsync() => default;
                public void Dispose() { }
            }

            public sealed class EventLoop
            {
                private EventLoop() { }
                public static EventLoop? Current => null;
                public static void Run(Func<Task> main, CancellationToken cancellationToken = default) { }
                public static T Run<T>(Func<Task<T>> main, CancellationToken cancellationToken = default) => default!;
            }

            public sealed class BlockingHttpClient : IDisposable
            {
                public FetchResponse Fetch(string url) => new FetchResponse();
                public void Dispose() { }
            }
        }
        """;
}
