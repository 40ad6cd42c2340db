using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Tether.Analyzers
{
    /// <summary>
    /// TETHER006: disposing or closing <c>AsyncHttpClient.Shared</c> (Error), a client parameter, or a
    /// client field whose every assignment in its type comes from a parameter (Warning).
    /// </summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class DisposeNotOwnedAnalyzer : DiagnosticAnalyzer
    {
        /// <summary>Diagnostic property telling the code fix what to remove: "Call" or "Using".</summary>
        public const string KindProperty = "Kind";

        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
            ImmutableArray.Create(Descriptors.DisposeShared, Descriptors.DisposeNotOwned);

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
                start.RegisterOperationAction(c => AnalyzeCall(c, types), OperationKind.Invocation);
                start.RegisterOperationAction(c => AnalyzeUsingDeclaration(c, types), OperationKind.VariableDeclarator);
                start.RegisterSymbolStartAction(s => AnalyzeFields(s, types), SymbolKind.NamedType);
            });
        }

        private static bool IsDisposeCall(IInvocationOperation call, KnownTypes types) =>
            call.Instance != null &&
            (call.TargetMethod.Name == "Dispose" || call.TargetMethod.Name == "DisposeAsync" || call.TargetMethod.Name == "Close") &&
            types.IsClient(call.Instance.StripConversions()?.Type);

        private static bool IsSharedLocal(ILocalSymbol local, IOperation anywhere, KnownTypes types) =>
            anywhere.Root().Descendants().OfType<IVariableDeclaratorOperation>().Any(d =>
                SymbolEqualityComparer.Default.Equals(d.Symbol, local) && types.IsShared(d.Initializer?.Value));

        private static ImmutableDictionary<string, string?> Kind(string kind) =>
            ImmutableDictionary<string, string?>.Empty.Add(KindProperty, kind);

        private static void AnalyzeCall(OperationAnalysisContext context, KnownTypes types)
        {
            var call = (IInvocationOperation)context.Operation;
            if (!IsDisposeCall(call, types))
            {
                return;
            }
            var instance = call.Instance.StripConversions()!;
            var verb = call.TargetMethod.Name == "Close" ? "closed" : "disposed";
            if (types.IsShared(instance) ||
                (instance is ILocalReferenceOperation local && types.IsAsyncHttpClient(local.Type) && IsSharedLocal(local.Local, call, types)))
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    Descriptors.DisposeShared, call.Syntax.GetLocation(), Kind("Call"), verb, call.TargetMethod.Name + " call"));
            }
            else if (instance is IParameterReferenceOperation parameter && parameter.Parameter.RefKind == RefKind.None
                // A lambda's parameter (clients.ForEach(c => c.Dispose())) is an element the code itself holds, not
                // an injected dependency.
                && parameter.Parameter.ContainingSymbol is not IMethodSymbol { MethodKind: MethodKind.AnonymousFunction })
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    Descriptors.DisposeNotOwned, call.Syntax.GetLocation(), Kind("Call"),
                    parameter.Parameter.Name, "a parameter", call.TargetMethod.Name));
            }
        }

        /// <summary><c>using var c = AsyncHttpClient.Shared;</c> disposes Shared at the end of the scope.</summary>
        private static void AnalyzeUsingDeclaration(OperationAnalysisContext context, KnownTypes types)
        {
            var declarator = (IVariableDeclaratorOperation)context.Operation;
            if (declarator.IsUsingDeclarator() && types.IsShared(declarator.Initializer?.Value))
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    Descriptors.DisposeShared, declarator.Initializer!.Value.Syntax.GetLocation(), Kind("Using"), "disposed", "using"));
            }
        }

        [System.Flags]
        private enum Source
        {
            None = 0,
            Owned = 1,      // new'd up, or from any call (a factory): this type owns it
            Parameter = 2,  // injected
            Shared = 4,
        }

        private static void AnalyzeFields(SymbolStartAnalysisContext start, KnownTypes types)
        {
            var type = (INamedTypeSymbol)start.Symbol;
            if (!type.GetMembers().OfType<IFieldSymbol>().Any(f => types.IsClient(f.Type)))
            {
                return;
            }
            var sources = new ConcurrentDictionary<IFieldSymbol, Source>(SymbolEqualityComparer.Default);
            var disposals = new ConcurrentBag<(IFieldSymbol Field, IInvocationOperation Call)>();

            void Record(IFieldSymbol field, IOperation? value)
            {
                if (!SymbolEqualityComparer.Default.Equals(field.ContainingType, type) || !types.IsClient(field.Type))
                {
                    return;
                }
                var stripped = value.StripConversions();
                var source = stripped is IParameterReferenceOperation ? Source.Parameter
                    : types.IsShared(stripped) ? Source.Shared
                    : stripped is IDefaultValueOperation || (stripped is ILiteralOperation literal && literal.ConstantValue.HasValue && literal.ConstantValue.Value == null) ? Source.None
                    : Source.Owned;
                sources.AddOrUpdate(field, source, (_, old) => old | source);
            }

            start.RegisterOperationAction(c =>
            {
                var initializer = (IFieldInitializerOperation)c.Operation;
                foreach (var field in initializer.InitializedFields)
                {
                    Record(field, initializer.Value);
                }
            }, OperationKind.FieldInitializer);

            start.RegisterOperationAction(c =>
            {
                var assignment = (IAssignmentOperation)c.Operation;
                if (assignment.Target is IFieldReferenceOperation target)
                {
                    Record(target.Field, assignment is ISimpleAssignmentOperation ? assignment.Value : null);
                }
            }, OperationKind.SimpleAssignment, OperationKind.CoalesceAssignment);

            start.RegisterOperationAction(c =>
            {
                var call = (IInvocationOperation)c.Operation;
                if (IsDisposeCall(call, types) && call.Instance.StripConversions() is IFieldReferenceOperation fieldReference &&
                    SymbolEqualityComparer.Default.Equals(fieldReference.Field.ContainingType, type))
                {
                    disposals.Add((fieldReference.Field, call));
                }
            }, OperationKind.Invocation);

            start.RegisterSymbolEndAction(end =>
            {
                foreach (var (field, call) in disposals)
                {
                    if (!sources.TryGetValue(field, out var source) || (source & Source.Owned) != 0 || source == Source.None)
                    {
                        continue; // created here, or never assigned in this type: can't tell, stay quiet
                    }
                    var diagnostic = (source & Source.Shared) != 0
                        ? Diagnostic.Create(Descriptors.DisposeShared, call.Syntax.GetLocation(), Kind("Call"),
                            call.TargetMethod.Name == "Close" ? "closed" : "disposed", call.TargetMethod.Name + " call")
                        : Diagnostic.Create(Descriptors.DisposeNotOwned, call.Syntax.GetLocation(), Kind("Call"),
                            field.Name, "an injected field (assigned only from a constructor or method parameter)", call.TargetMethod.Name);
                    end.ReportDiagnostic(diagnostic);
                }
            });
        }
    }
}
