using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Tether.Analyzers
{
    /// <summary>
    /// TETHER005: <c>.Result</c>, <c>.Wait()</c> or <c>.GetAwaiter().GetResult()</c> on a fetch task
    /// inside a lambda passed to <c>EventLoop.Run</c>. The loop thread would wait for work only it can do.
    /// </summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class BlockingInLoopAnalyzer : DiagnosticAnalyzer
    {
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
            ImmutableArray.Create(Descriptors.BlockingInLoop);

        public override void Initialize(AnalysisContext context)
        {
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.EnableConcurrentExecution();
            context.RegisterCompilationStartAction(start =>
            {
                var types = KnownTypes.Create(start.Compilation);
                if (types.EventLoop == null || types.Task == null)
                {
                    return;
                }
                start.RegisterOperationAction(c => AnalyzeResult(c, types), OperationKind.PropertyReference);
                start.RegisterOperationAction(c => AnalyzeCall(c, types), OperationKind.Invocation);
            });
        }

        private static void AnalyzeResult(OperationAnalysisContext context, KnownTypes types)
        {
            var property = (IPropertyReferenceOperation)context.Operation;
            if (property.Property.Name != "Result" || property.Instance == null ||
                !(types.IsSameType(property.Property.ContainingType, types.TaskOfT) || types.IsSameType(property.Property.ContainingType, types.ValueTaskOfT)))
            {
                return;
            }
            Check(context, types, property.Instance, ".Result");
        }

        private static void AnalyzeCall(OperationAnalysisContext context, KnownTypes types)
        {
            var call = (IInvocationOperation)context.Operation;
            var method = call.TargetMethod;
            if (method.Name == "Wait" && call.Instance != null && types.IsTaskLike(method.ContainingType))
            {
                Check(context, types, call.Instance, ".Wait()");
            }
            else if (method.Name == "GetResult" && call.Instance.StripConversions() is IInvocationOperation getAwaiter &&
                getAwaiter.TargetMethod.Name == "GetAwaiter" && getAwaiter.Instance != null)
            {
                Check(context, types, getAwaiter.Instance, ".GetAwaiter().GetResult()");
            }
        }

        private static void Check(OperationAnalysisContext context, KnownTypes types, IOperation task, string how)
        {
            if (!IsFetchTask(task, types) || types.EnclosingRunLambda(context.Operation) == null)
            {
                return;
            }
            context.ReportDiagnostic(Diagnostic.Create(Descriptors.BlockingInLoop, context.Operation.Syntax.GetLocation(), how));
        }

        private static bool IsFetchTask(IOperation task, KnownTypes types)
        {
            task = task.StripConversions()!;
            if (task is IInvocationOperation configure && configure.TargetMethod.Name == "ConfigureAwait" && configure.Instance != null)
            {
                task = configure.Instance.StripConversions()!;
            }
            switch (task)
            {
                case IInvocationOperation invocation:
                    var owner = invocation.TargetMethod.ContainingType;
                    return types.IsClient(owner) || types.IsSameType(owner, types.HttpContent) || types.IsSameType(owner, types.FetchResponse);
                case ILocalReferenceOperation local:
                    // A task kept in a local is only a problem if nobody awaited it (or passed it to
                    // Task.WhenAll & co.) first: after an await, .Result is just a read.
                    if (!IsResponseTask(local.Type, types))
                    {
                        return false;
                    }
                    return !local.Root().Descendants().OfType<ILocalReferenceOperation>().Any(r =>
                        SymbolEqualityComparer.Default.Equals(r.Local, local.Local) && IsAwaitedOrPassedOn(r));
                default:
                    return false;
            }
        }

        /// <summary>await t, Task.WhenAll(t), Task.WhenAny(new[] { t }) and the like.</summary>
        private static bool IsAwaitedOrPassedOn(IOperation reference)
        {
            for (var parent = reference.Parent; parent != null; parent = parent.Parent)
            {
                switch (parent)
                {
                    case IAwaitOperation _:
                    case IArgumentOperation _:
                        return true;
                    case IConversionOperation _:
                    case IArrayInitializerOperation _:
                    case IArrayCreationOperation _:
                    case ICollectionExpressionOperation _: // params ReadOnlySpan<Task> overloads
                        continue;
                    default:
                        return false;
                }
            }
            return false;
        }

        private static bool IsResponseTask(ITypeSymbol? type, KnownTypes types) =>
            type is INamedTypeSymbol named && named.TypeArguments.Length == 1 &&
            (types.IsSameType(named, types.TaskOfT) || types.IsSameType(named, types.ValueTaskOfT)) &&
            (types.IsSameType(named.TypeArguments[0], types.FetchResponse) || types.IsSameType(named.TypeArguments[0], types.HttpResponseMessage));
    }
}
