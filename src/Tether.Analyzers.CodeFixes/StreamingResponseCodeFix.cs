using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Tether.Analyzers
{
    /// <summary>TETHER004 fix: turn <c>var response = await ...Stream...;</c> into an (await) using declaration.</summary>
    [ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(StreamingResponseCodeFix)), Shared]
    public sealed class StreamingResponseCodeFix : CodeFixProvider
    {
        public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(Descriptors.StreamingResponseId);

        public override FixAllProvider? GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

        public override async Task RegisterCodeFixesAsync(CodeFixContext context)
        {
            var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
            var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
            if (root == null || model == null)
            {
                return;
            }
            foreach (var diagnostic in context.Diagnostics)
            {
                if (!diagnostic.Properties.TryGetValue(StreamingResponseAnalyzer.CanAddUsingProperty, out var can) || can != "true")
                {
                    continue;
                }
                var statement = root.FindNode(diagnostic.Location.SourceSpan, findInsideTrivia: false, getInnermostNodeForTie: true)
                    .AncestorsAndSelf().OfType<LocalDeclarationStatementSyntax>().FirstOrDefault();
                if (statement == null || statement.UsingKeyword.IsKind(SyntaxKind.UsingKeyword) || statement.Declaration.Variables.Count != 1)
                {
                    continue;
                }
                var useAwait = CanAwait(statement) && ImplementsAsyncDisposable(statement, model, context.CancellationToken);
                var title = useAwait ? "Declare the response with 'await using'" : "Declare the response with 'using'";
                context.RegisterCodeFix(CodeAction.Create(
                    title,
                    ct => AddUsingAsync(context.Document, statement, useAwait, ct),
                    nameof(StreamingResponseCodeFix)), diagnostic);
            }
        }

        private static bool CanAwait(SyntaxNode node)
        {
            foreach (var ancestor in node.Ancestors())
            {
                switch (ancestor)
                {
                    case AnonymousFunctionExpressionSyntax lambda:
                        return lambda.AsyncKeyword.IsKind(SyntaxKind.AsyncKeyword);
                    case LocalFunctionStatementSyntax localFunction:
                        return localFunction.Modifiers.Any(SyntaxKind.AsyncKeyword);
                    case BaseMethodDeclarationSyntax method:
                        return method.Modifiers.Any(SyntaxKind.AsyncKeyword);
                    case GlobalStatementSyntax _:
                        return true;
                    case AccessorDeclarationSyntax _:
                        return false;
                }
            }
            return false;
        }

        private static bool ImplementsAsyncDisposable(LocalDeclarationStatementSyntax statement, SemanticModel model, CancellationToken cancellationToken)
        {
            var asyncDisposable = model.Compilation.GetTypeByMetadataName("System.IAsyncDisposable");
            var type = (model.GetDeclaredSymbol(statement.Declaration.Variables[0], cancellationToken) as ILocalSymbol)?.Type;
            return asyncDisposable != null && type != null &&
                (SymbolEqualityComparer.Default.Equals(type, asyncDisposable) ||
                 type.AllInterfaces.Contains(asyncDisposable, SymbolEqualityComparer.Default));
        }

        private static async Task<Document> AddUsingAsync(Document document, LocalDeclarationStatementSyntax statement, bool useAwait, CancellationToken cancellationToken)
        {
            var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
            var leading = statement.GetLeadingTrivia();
            var updated = statement.WithoutLeadingTrivia()
                .WithUsingKeyword(SyntaxFactory.Token(SyntaxKind.UsingKeyword).WithTrailingTrivia(SyntaxFactory.Space));
            if (useAwait)
            {
                updated = updated.WithAwaitKeyword(SyntaxFactory.Token(SyntaxKind.AwaitKeyword).WithTrailingTrivia(SyntaxFactory.Space));
            }
            updated = updated.WithLeadingTrivia(leading);
            return document.WithSyntaxRoot(root!.ReplaceNode(statement, updated));
        }
    }
}
