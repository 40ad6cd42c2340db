using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Tether.Analyzers
{
    /// <summary>
    /// TETHER003: <c>EventLoop.Run</c> inside a while/for/foreach/do body. Warning when the loop
    /// body also creates an HTTP client or captures one declared outside the loop (a pool per
    /// iteration, or the seed leak); Info otherwise (just a wasted loop start-up per iteration).
    /// </summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class RunInLoopAnalyzer : DiagnosticAnalyzer
    {
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
            ImmutableArray.Create(Descriptors.RunInLoop, Descriptors.RunInLoopInfo);

        public override void Initialize(AnalysisContext context)
        {
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.EnableConcurrentExecution();
            context.RegisterCompilationStartAction(start =>
            {
                var types = KnownTypes.Create(start.Compilation);
                if (types.EventLoop == null)
                {
                    return;
                }
                start.RegisterOperationAction(c => Analyze(c, types), OperationKind.Invocation);
            });
        }

        private static void Analyze(OperationAnalysisContext context, KnownTypes types)
        {
            var invocation = (IInvocationOperation)context.Operation;
            if (!types.IsEventLoopRun(invocation.TargetMethod))
            {
                return;
            }
            var loop = invocation.EnclosingLoopBody();
            if (loop == null)
            {
                return;
            }

            var bodySpan = loop.Body.Syntax.Span;
            var clientPerIteration = loop.Body.Descendants().Any(op =>
                (op is IObjectCreationOperation creation && types.IsClient(creation.Type)) ||
                (op is ILocalReferenceOperation local && types.IsClient(local.Local.Type) &&
                    local.Local.Locations.Length > 0 && !bodySpan.Contains(local.Local.Locations[0].SourceSpan)));

            context.ReportDiagnostic(clientPerIteration
                ? Diagnostic.Create(Descriptors.RunInLoop, invocation.Syntax.GetLocation(),
                    ", and the body uses an HTTP client, so a client and its sockets are set up and torn down (or stranded) per iteration")
                : Diagnostic.Create(Descriptors.RunInLoopInfo, invocation.Syntax.GetLocation(), ""));
        }
    }
}
