using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Tether.Analyzers
{
    /// <summary>
    /// TETHER001: an AsyncHttpClient or HttpClient constructed inside a loop body (Warning),
    /// or created and disposed with <c>using</c> on every call of an ordinary method (Info).
    /// </summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class ClientPerIterationAnalyzer : DiagnosticAnalyzer
    {
        private const string ReuseAdvice =
            "create one client outside the loop and reuse it (AsyncHttpClient.Shared inside EventLoop.Run, a static readonly HttpClient, or an injected instance)";

        private const string PerCallAdvice =
            "if this method runs repeatedly, reuse one client instead (AsyncHttpClient.Shared inside EventLoop.Run, a static readonly HttpClient, IHttpClientFactory, or an injected instance)";

        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
            ImmutableArray.Create(Descriptors.ClientPerIteration, Descriptors.ClientPerCall);

        public override void Initialize(AnalysisContext context)
        {
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.EnableConcurrentExecution();
            context.RegisterCompilationStartAction(start =>
            {
                var types = KnownTypes.Create(start.Compilation);
                if (!types.HasClientTypes)
                {
                    return;
                }
                start.RegisterOperationAction(c => Analyze(c, types), OperationKind.ObjectCreation);
            });
        }

        private static void Analyze(OperationAnalysisContext context, KnownTypes types)
        {
            var creation = (IObjectCreationOperation)context.Operation;
            if (!types.IsClient(creation.Type))
            {
                return;
            }

            var top = creation.WalkUpConversions();
            if (!IsUsedAsThrowawayLocal(top))
            {
                // Stored in a field, an array, a collection or handed to a constructor:
                // deliberate ownership we cannot judge, so stay quiet.
                return;
            }

            var typeName = creation.Type!.Name;
            if (creation.EnclosingLoopBody() != null)
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    Descriptors.ClientPerIteration, creation.Syntax.GetLocation(),
                    typeName, "on every iteration of this loop", ReuseAdvice));
                return;
            }

            if (IsPerCallUsing(top) && context.ContainingSymbol is IMethodSymbol method && IsRepeatableMethod(method, context))
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    Descriptors.ClientPerCall, creation.Syntax.GetLocation(),
                    typeName, "and disposed on every call of '" + method.Name + "'", PerCallAdvice));
            }
        }

        private static bool IsUsedAsThrowawayLocal(IOperation top)
        {
            switch (top.Parent)
            {
                case IVariableInitializerOperation initializer:
                    return initializer.Parent is IVariableDeclaratorOperation;
                case IUsingOperation _:
                case IExpressionStatementOperation _:
                    return true;
                case IInvocationOperation invocation:
                    return invocation.Instance == top;
                case IMemberReferenceOperation member:
                    return member.Instance == top;
                case ISimpleAssignmentOperation assignment:
                    return assignment.Value == top && assignment.Target is ILocalReferenceOperation;
                default:
                    return false;
            }
        }

        private static bool IsPerCallUsing(IOperation top)
        {
            if (top.Parent is IUsingOperation)
            {
                return true;
            }
            return top.Parent is IVariableInitializerOperation initializer &&
                initializer.Parent is IVariableDeclaratorOperation declarator &&
                declarator.IsUsingDeclarator() &&
                !IsInsideLambdaOrLocalFunction(top);
        }

        private static bool IsInsideLambdaOrLocalFunction(IOperation operation)
        {
            for (var p = operation.Parent; p != null; p = p.Parent)
            {
                if (p is IAnonymousFunctionOperation || p is ILocalFunctionOperation)
                {
                    return true;
                }
            }
            return false;
        }

        /// <summary>Ordinary named methods that are not the entry point: things that plausibly run more than once.</summary>
        private static bool IsRepeatableMethod(IMethodSymbol method, OperationAnalysisContext context)
        {
            if (method.MethodKind != MethodKind.Ordinary || method.IsImplicitlyDeclared || method.Name == "Main")
            {
                return false;
            }
            var entryPoint = context.Compilation.GetEntryPoint(context.CancellationToken);
            return entryPoint == null || !SymbolEqualityComparer.Default.Equals(entryPoint, method);
        }
    }
}
