using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Tether.Analyzers
{
    /// <summary>
    /// TETHER002, the seed pattern: <c>var client = new AsyncHttpClient();</c> outside
    /// <c>EventLoop.Run(...)</c> with every use of <c>client</c> inside the Run lambda.
    /// </summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class ClientOutsideRunAnalyzer : DiagnosticAnalyzer
    {
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
            ImmutableArray.Create(Descriptors.ClientOutsideRun);

        public override void Initialize(AnalysisContext context)
        {
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.EnableConcurrentExecution();
            context.RegisterCompilationStartAction(start =>
            {
                var types = KnownTypes.Create(start.Compilation);
                if (types.AsyncHttpClient == null || types.EventLoop == null)
                {
                    return;
                }
                start.RegisterOperationBlockAction(c => Analyze(c, types));
            });
        }

        private static void Analyze(OperationBlockAnalysisContext context, KnownTypes types)
        {
            foreach (var block in context.OperationBlocks)
            {
                var candidates = new List<(IVariableDeclaratorOperation Declarator, IObjectCreationOperation Creation)>();
                var references = new Dictionary<ILocalSymbol, List<ILocalReferenceOperation>>(SymbolEqualityComparer.Default);
                foreach (var operation in block.Descendants())
                {
                    if (operation is IVariableDeclaratorOperation declarator &&
                        types.IsAsyncHttpClient(declarator.Symbol.Type) &&
                        declarator.Initializer?.Value.StripConversions() is IObjectCreationOperation creation &&
                        types.IsAsyncHttpClient(creation.Type))
                    {
                        candidates.Add((declarator, creation));
                    }
                    else if (operation is ILocalReferenceOperation reference && types.IsAsyncHttpClient(reference.Local.Type))
                    {
                        if (!references.TryGetValue(reference.Local, out var list))
                        {
                            list = new List<ILocalReferenceOperation>();
                            references.Add(reference.Local, list);
                        }
                        list.Add(reference);
                    }
                }

                foreach (var (declarator, creation) in candidates)
                {
                    if (!references.TryGetValue(declarator.Symbol, out var uses) || uses.Count == 0)
                    {
                        continue;
                    }
                    var declarationSpan = declarator.Syntax.Span;
                    var onlyInsideRun = uses.All(use =>
                    {
                        var lambda = types.EnclosingRunLambda(use);
                        return lambda != null && !lambda.Syntax.Span.Contains(declarationSpan);
                    });
                    if (onlyInsideRun)
                    {
                        context.ReportDiagnostic(Diagnostic.Create(
                            Descriptors.ClientOutsideRun, creation.Syntax.GetLocation(), declarator.Symbol.Name));
                    }
                }
            }
        }
    }
}
