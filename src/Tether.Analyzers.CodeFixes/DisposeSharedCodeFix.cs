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
    /// <summary>
    /// TETHER006 fix: delete the Dispose/DisposeAsync/Close statement, or drop <c>using</c> from
    /// <c>using var c = AsyncHttpClient.Shared;</c>.
    /// </summary>
    [ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(DisposeSharedCodeFix)), Shared]
    public sealed class DisposeSharedCodeFix : CodeFixProvider
    {
        public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(Descriptors.DisposeNotOwnedId);

        public override FixAllProvider? GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

        public override async Task RegisterCodeFixesAsync(CodeFixContext context)
        {
            var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
            if (root == null)
            {
                return;
            }
            foreach (var diagnostic in context.Diagnostics)
            {
                diagnostic.Properties.TryGetValue(DisposeNotOwnedAnalyzer.KindProperty, out var kind);
                var node = root.FindNode(diagnostic.Location.SourceSpan, findInsideTrivia: false, getInnermostNodeForTie: true);
                if (kind == "Using")
                {
                    var declaration = node.AncestorsAndSelf().OfType<LocalDeclarationStatementSyntax>().FirstOrDefault();
                    if (declaration != null && declaration.UsingKeyword.IsKind(SyntaxKind.UsingKeyword))
                    {
                        context.RegisterCodeFix(CodeAction.Create(
                            "Do not dispose the borrowed client (remove 'using')",
                            ct => RemoveUsingAsync(context.Document, declaration, ct),
                            nameof(DisposeSharedCodeFix) + "Using"), diagnostic);
                    }
                }
                else
                {
                    var statement = node.AncestorsAndSelf().OfType<ExpressionStatementSyntax>().FirstOrDefault();
                    if (statement != null && (statement.Parent is BlockSyntax || statement.Parent is GlobalStatementSyntax))
                    {
                        context.RegisterCodeFix(CodeAction.Create(
                            "Remove the call: this code does not own the client",
                            ct => RemoveStatementAsync(context.Document, statement, ct),
                            nameof(DisposeSharedCodeFix) + "Call"), diagnostic);
                    }
                }
            }
        }

        private static async Task<Document> RemoveStatementAsync(Document document, ExpressionStatementSyntax statement, CancellationToken cancellationToken)
        {
            var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
            SyntaxNode target = statement.Parent is GlobalStatementSyntax global ? global : statement;
            return document.WithSyntaxRoot(root!.RemoveNode(target, SyntaxRemoveOptions.KeepNoTrivia)!);
        }

        private static async Task<Document> RemoveUsingAsync(Document document, LocalDeclarationStatementSyntax declaration, CancellationToken cancellationToken)
        {
            var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
            var leading = declaration.GetLeadingTrivia();
            var updated = declaration
                .WithAwaitKeyword(default)
                .WithUsingKeyword(default)
                .WithoutLeadingTrivia()
                .WithLeadingTrivia(leading);
            return document.WithSyntaxRoot(root!.ReplaceNode(declaration, updated));
        }
    }
}
