using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Tether.Analyzers
{
    /// <summary>
    /// TETHER004: a response obtained in streaming mode (<c>AsyncHttpClient.FetchStreamAsync</c>, or an
    /// HttpClient call with <c>HttpCompletionOption.ResponseHeadersRead</c>) that is never disposed and
    /// never read to the end. Anything that hands the response on (return, argument, assignment)
    /// counts as a transfer of ownership and is not reported.
    /// </summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class StreamingResponseAnalyzer : DiagnosticAnalyzer
    {
        /// <summary>Diagnostic property: "true" when the code fix can turn the declaration into a using declaration.</summary>
        public const string CanAddUsingProperty = "CanAddUsing";

        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
            ImmutableArray.Create(Descriptors.StreamingResponse);

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
                start.RegisterOperationAction(c => Analyze(c, types), OperationKind.Invocation);
            });
        }

        private static bool IsStreamingCall(IInvocationOperation invocation, KnownTypes types)
        {
            var method = invocation.TargetMethod;
            if (method.Name == "FetchStreamAsync" && types.IsAsyncHttpClient(method.ContainingType))
            {
                return true;
            }
            if (types.HttpCompletionOption == null || !types.IsClient(method.ContainingType) || types.IsAsyncHttpClient(method.ContainingType))
            {
                return false;
            }
            return invocation.Arguments.Any(a =>
                SymbolEqualityComparer.Default.Equals(a.Value.Type, types.HttpCompletionOption) &&
                a.Value.ConstantValue.HasValue &&
                a.Value.ConstantValue.Value is int value && value == 1); // HttpCompletionOption.ResponseHeadersRead
        }

        private static void Analyze(OperationAnalysisContext context, KnownTypes types)
        {
            var invocation = (IInvocationOperation)context.Operation;
            if (!IsStreamingCall(invocation, types))
            {
                return;
            }

            // Follow the task to its await: call(...).ConfigureAwait(false) and conversions included.
            IOperation current = invocation.WalkUpConversions();
            if (current.Parent is IInvocationOperation configure && configure.Instance == current &&
                configure.TargetMethod.Name == "ConfigureAwait")
            {
                current = configure.WalkUpConversions();
            }
            if (!(current.Parent is IAwaitOperation awaited))
            {
                return; // the task itself is stored or returned: ownership goes with it
            }
            var response = awaited.WalkUpConversions();
            var name = invocation.TargetMethod.Name;
            var keyword = types.AsyncDisposable != null &&
                awaited.Type != null &&
                awaited.Type.AllInterfaces.Contains(types.AsyncDisposable, SymbolEqualityComparer.Default)
                ? "await using" : "using";

            if (response.Parent is IVariableInitializerOperation initializer &&
                initializer.Parent is IVariableDeclaratorOperation declarator)
            {
                if (declarator.IsUsingDeclarator())
                {
                    return;
                }
                var root = declarator.Root();
                var references = root.Descendants()
                    .OfType<ILocalReferenceOperation>()
                    .Where(r => SymbolEqualityComparer.Default.Equals(r.Local, declarator.Symbol))
                    .ToList();
                if (references.Any(r => IsHandled(r, types)))
                {
                    return;
                }
                var canAddUsing = references.All(r => !IsWrite(r)) &&
                    declarator.Parent?.Parent is IVariableDeclarationGroupOperation group &&
                    group.Parent is IBlockOperation;
                var properties = ImmutableDictionary<string, string?>.Empty.Add(CanAddUsingProperty, canAddUsing ? "true" : "false");
                context.ReportDiagnostic(Diagnostic.Create(
                    Descriptors.StreamingResponse, invocation.Syntax.GetLocation(), properties, name, keyword));
                return;
            }

            if (response.Parent is ISimpleAssignmentOperation)
            {
                return; // stored somewhere else: ownership moves
            }
            if (!IsHandled(response, types))
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    Descriptors.StreamingResponse, invocation.Syntax.GetLocation(), name, keyword));
            }
        }

        private static bool IsWrite(ILocalReferenceOperation reference)
        {
            var top = reference.WalkUpConversions();
            return (top.Parent is IAssignmentOperation assignment && assignment.Target == top) ||
                (top.Parent is IArgumentOperation argument && argument.Parameter?.RefKind != RefKind.None && argument.Parameter?.RefKind != RefKind.In);
        }

        /// <summary>Does this use of the response dispose it, read it to the end, or hand it to someone else?</summary>
        private static bool IsHandled(IOperation value, KnownTypes types)
        {
            var top = value.WalkUpConversions();
            switch (top.Parent)
            {
                case IArgumentOperation _:
                case IReturnOperation _:
                case IUsingOperation _:
                    return true;
                case ISimpleAssignmentOperation assignment:
                    return assignment.Value == top;
                case IVariableInitializerOperation _:
                    return true; // copied into another variable: that one owns it now
                case IInvocationOperation call when call.Instance == top:
                    return IsDisposeName(call.TargetMethod.Name);
                case IPropertyReferenceOperation property when property.Instance == top:
                    return IsReadingProperty(property, types);
                default:
                    return false;
            }
        }

        private static bool IsDisposeName(string name) =>
            name == "Dispose" || name == "DisposeAsync" || name == "Close";

        private static bool IsReadingProperty(IPropertyReferenceOperation property, KnownTypes types)
        {
            var name = property.Property.Name;
            if (name == "Body" || name == "Text")
            {
                return true; // FetchResponse reads the whole body for these
            }
            if (name == "BodyStream" || name == "Content")
            {
                // Disposing, copying or reading the stream/content all drain or release the connection;
                // handing the stream to anything else (a reader, a serializer, a variable) is a transfer.
                var top = property.WalkUpConversions();
                switch (top.Parent)
                {
                    case IInvocationOperation call when call.Instance == top:
                        var method = call.TargetMethod.Name;
                        return IsDisposeName(method) || method.StartsWith("CopyTo", System.StringComparison.Ordinal) ||
                            method.StartsWith("ReadAs", System.StringComparison.Ordinal) ||
                            method.StartsWith("LoadIntoBuffer", System.StringComparison.Ordinal);
                    case IMemberReferenceOperation _:
                        return false;
                    default:
                        return true;
                }
            }
            return false;
        }
    }
}
