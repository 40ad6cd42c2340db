using Microsoft.CodeAnalysis;

namespace Tether.Analyzers
{
    /// <summary>Every diagnostic Tether reports. docs/analyzers.md documents each one.</summary>
    internal static class Descriptors
    {
        /// <summary>Where the docs live; each ID is an anchor on that page.</summary>
        internal const string DocsUrl = "https://github.com/tether-dotnet/tether/blob/main/docs/analyzers.md";

        private const string Reliability = "Reliability";

        private static string Help(string id) => DocsUrl + "#" + id.ToLowerInvariant();

        public const string ClientPerIterationId = "TETHER001";
        public const string ClientOutsideRunId = "TETHER002";
        public const string RunInLoopId = "TETHER003";
        public const string StreamingResponseId = "TETHER004";
        public const string BlockingInLoopId = "TETHER005";
        public const string DisposeNotOwnedId = "TETHER006";

        // TETHER001 is one ID with two severities: Warning inside a loop body (a pool per
        // iteration is never what you want), Info for "created and disposed per call" in an
        // ordinary method (often fine for a one-off, wasteful if the method runs often).
        public static readonly DiagnosticDescriptor ClientPerIteration = new DiagnosticDescriptor(
            ClientPerIterationId,
            "HTTP client constructed per iteration or per call",
            "A new {0} is created {1}; each instance owns its own connection pool and sockets; {2}",
            Reliability,
            DiagnosticSeverity.Warning,
            isEnabledByDefault: true,
            description: "Creating an HTTP client inside a loop body (or on every call of a method) opens and tears down a connection pool each time. Create one client and reuse it: AsyncHttpClient.Shared inside EventLoop.Run, a static readonly HttpClient, IHttpClientFactory, or an injected instance.",
            helpLinkUri: Help(ClientPerIterationId));

        public static readonly DiagnosticDescriptor ClientPerCall = new DiagnosticDescriptor(
            ClientPerIterationId,
            "HTTP client constructed per iteration or per call",
            "A new {0} is created {1}; each instance owns its own connection pool and sockets; {2}",
            Reliability,
            DiagnosticSeverity.Info,
            isEnabledByDefault: true,
            description: "Creating an HTTP client inside a loop body (or on every call of a method) opens and tears down a connection pool each time. Create one client and reuse it: AsyncHttpClient.Shared inside EventLoop.Run, a static readonly HttpClient, IHttpClientFactory, or an injected instance.",
            helpLinkUri: Help(ClientPerIterationId));

        public static readonly DiagnosticDescriptor ClientOutsideRun = new DiagnosticDescriptor(
            ClientOutsideRunId,
            "AsyncHttpClient constructed outside EventLoop.Run but used only inside it",
            "AsyncHttpClient '{0}' is created outside EventLoop.Run but used only inside its lambda, so its sockets outlive the loop; create it inside the lambda with 'await using' or use AsyncHttpClient.Shared",
            Reliability,
            DiagnosticSeverity.Warning,
            isEnabledByDefault: true,
            description: "This is the pattern behind the original leak: a client built outside the event loop binds its connections to a loop that has already finished, and they are never closed. Build the client inside the lambda passed to EventLoop.Run, or borrow AsyncHttpClient.Shared, which the loop closes when Run returns.",
            helpLinkUri: Help(ClientOutsideRunId));

        public static readonly DiagnosticDescriptor RunInLoop = new DiagnosticDescriptor(
            RunInLoopId,
            "EventLoop.Run called inside a loop",
            "EventLoop.Run is called on every iteration of this loop{0}; call EventLoop.Run once and put the loop inside its lambda",
            Reliability,
            DiagnosticSeverity.Warning,
            isEnabledByDefault: true,
            description: "Each EventLoop.Run starts and tears down a whole event loop, including its shared client and pool. Run one loop and iterate inside it. Reported as a warning when the loop body also creates or captures an HTTP client, as info otherwise.",
            helpLinkUri: Help(RunInLoopId));

        public static readonly DiagnosticDescriptor RunInLoopInfo = new DiagnosticDescriptor(
            RunInLoopId,
            "EventLoop.Run called inside a loop",
            "EventLoop.Run is called on every iteration of this loop{0}; call EventLoop.Run once and put the loop inside its lambda",
            Reliability,
            DiagnosticSeverity.Info,
            isEnabledByDefault: true,
            description: "Each EventLoop.Run starts and tears down a whole event loop, including its shared client and pool. Run one loop and iterate inside it. Reported as a warning when the loop body also creates or captures an HTTP client, as info otherwise.",
            helpLinkUri: Help(RunInLoopId));

        public static readonly DiagnosticDescriptor StreamingResponse = new DiagnosticDescriptor(
            StreamingResponseId,
            "Streaming response is never disposed or read to the end",
            "The streaming response from '{0}' is never disposed or read to the end, so its connection stays checked out; declare it with '{1}'",
            Reliability,
            DiagnosticSeverity.Warning,
            isEnabledByDefault: true,
            description: "In streaming mode (FetchStreamAsync, or HttpCompletionOption.ResponseHeadersRead) the body is an open stream on a live connection. Until the response is disposed or its body read to the end, that connection cannot return to the pool or close.",
            helpLinkUri: Help(StreamingResponseId));

        public static readonly DiagnosticDescriptor BlockingInLoop = new DiagnosticDescriptor(
            BlockingInLoopId,
            "Blocking on a fetch inside EventLoop.Run",
            "'{0}' blocks the event loop thread until the fetch is done, so the loop's timers, callbacks and other coroutines stall meanwhile (and blocking on an async method that awaits on this loop deadlocks); use 'await' instead",
            Reliability,
            DiagnosticSeverity.Error,
            isEnabledByDefault: true,
            description: "Code inside EventLoop.Run runs on the loop's thread. Blocking that thread with .Result, .Wait() or GetAwaiter().GetResult() on a fetch holds every timer, callback and coroutine of the loop until the fetch is done; blocking on an async method whose continuations run on the loop never completes.",
            helpLinkUri: Help(BlockingInLoopId));

        // TETHER006 has two severities: Error for AsyncHttpClient.Shared (always wrong),
        // Warning for a parameter or an injected field (usually wrong, ownership may be documented).
        public static readonly DiagnosticDescriptor DisposeShared = new DiagnosticDescriptor(
            DisposeNotOwnedId,
            "Disposing a client this code does not own",
            "AsyncHttpClient.Shared belongs to the event loop and must not be {0} by borrowers; remove this {1} (the loop closes it when Run returns)",
            Reliability,
            DiagnosticSeverity.Error,
            isEnabledByDefault: true,
            description: "AsyncHttpClient.Shared is closed by its event loop. A parameter or an injected field belongs to whoever created it. Disposing either pulls the sockets out from under other users.",
            helpLinkUri: Help(DisposeNotOwnedId));

        public static readonly DiagnosticDescriptor DisposeNotOwned = new DiagnosticDescriptor(
            DisposeNotOwnedId,
            "Disposing a client this code does not own",
            "'{0}' is {1} that this code did not create; remove the '{2}' call and let its owner dispose it",
            Reliability,
            DiagnosticSeverity.Warning,
            isEnabledByDefault: true,
            description: "AsyncHttpClient.Shared is closed by its event loop. A parameter or an injected field belongs to whoever created it. Disposing either pulls the sockets out from under other users.",
            helpLinkUri: Help(DisposeNotOwnedId));
    }
}
