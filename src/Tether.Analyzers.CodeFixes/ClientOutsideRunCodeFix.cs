using System.Collections.Generic;
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
using Microsoft.CodeAnalysis.Editing;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Operations;
using Microsoft.CodeAnalysis.Simplification;

namespace Tether.Analyzers
{
    /// <summary>
    /// TETHER002 fixes: move <c>var client = new AsyncHttpClient()</c> into the EventLoop.Run lambda as an
    /// <c>await using</c> local, or drop it and use <c>AsyncHttpClient.Shared</c> inside the lambda.
    /// </summary>
    [ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(ClientOutsideRunCodeFix)), Shared]
    public sealed class ClientOutsideRunCodeFix : CodeFixProvider
    {
        public const string MoveInsideKey = "TETHER002-MoveInside";
        public const string UseSharedKey = "TETHER002-UseShared";

        public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(Descriptors.ClientOutsideRunId);

        public override FixAllProvider? GetFixAllProvider() => null;

        public override async Task RegisterCodeFixesAsync(CodeFixContext context)
        {
            var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
            var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
            if (root == null || model == null)
            {
                return;
            }
            var diagnostic = context.Diagnostics[0];
            var creation = root.FindNode(diagnostic.Location.SourceSpan, findInsideTrivia: false, getInnermostNodeForTie: true)
                .AncestorsAndSelf().OfType<BaseObjectCreationExpressionSyntax>().FirstOrDefault();
            if (!(creation?.Parent is EqualsValueClauseSyntax equals) ||
                !(equals.Parent is VariableDeclaratorSyntax declarator) ||
                !(declarator.Parent is VariableDeclarationSyntax declaration) ||
                declaration.Variables.Count != 1 ||
                !(declaration.Parent is LocalDeclarationStatementSyntax statement) ||
                !(statement.Parent is BlockSyntax || statement.Parent is GlobalStatementSyntax) ||
                !(model.GetDeclaredSymbol(declarator, context.CancellationToken) is ILocalSymbol local))
            {
                return;
            }

            var types = KnownTypes.Create(model.Compilation);
            var scope = statement.Parent is GlobalStatementSyntax global ? (SyntaxNode)global.Parent! : statement.Parent!;
            var references = scope.DescendantNodes().OfType<IdentifierNameSyntax>()
                .Where(id => id.Identifier.ValueText == local.Name &&
                    SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(id, context.CancellationToken).Symbol, local))
                .ToList();
            var lambdas = new HashSet<SyntaxNode>();
            foreach (var reference in references)
            {
                var operation = model.GetOperation(reference, context.CancellationToken);
                var lambda = operation == null ? null : types.EnclosingRunLambda(operation);
                if (lambda == null)
                {
                    return;
                }
                lambdas.Add(lambda.Syntax);
            }

            if (lambdas.Count == 1 && lambdas.First() is AnonymousFunctionExpressionSyntax target && target.AsyncKeyword.IsKind(SyntaxKind.AsyncKeyword))
            {
                context.RegisterCodeFix(CodeAction.Create(
                    "Create the client inside the EventLoop.Run lambda",
                    ct => MoveInsideAsync(context.Document, statement, declaration, target, model, ct),
                    MoveInsideKey), diagnostic);
            }
            context.RegisterCodeFix(CodeAction.Create(
                "Use AsyncHttpClient.Shared inside the lambda",
                ct => UseSharedAsync(context.Document, statement, references, ct),
                UseSharedKey), diagnostic);
        }

        private static SyntaxNode StatementToRemove(LocalDeclarationStatementSyntax statement) =>
            statement.Parent is GlobalStatementSyntax global ? global : (SyntaxNode)statement;

        private static async Task<Document> MoveInsideAsync(
            Document document, LocalDeclarationStatementSyntax statement, VariableDeclarationSyntax declaration,
            AnonymousFunctionExpressionSyntax lambda, SemanticModel model, CancellationToken cancellationToken)
        {
            var editor = await DocumentEditor.CreateAsync(document, cancellationToken).ConfigureAwait(false);
            var moved = SyntaxFactory.LocalDeclarationStatement(
                    SyntaxFactory.Token(SyntaxKind.AwaitKeyword),
                    SyntaxFactory.Token(SyntaxKind.UsingKeyword),
                    default,
                    declaration.WithoutTrivia(),
                    SyntaxFactory.Token(SyntaxKind.SemicolonToken))
                .WithAdditionalAnnotations(Formatter.Annotation);

            BlockSyntax body;
            if (lambda.Block != null)
            {
                body = lambda.Block.WithStatements(lambda.Block.Statements.Insert(0, moved));
            }
            else
            {
                var expression = lambda.ExpressionBody!.WithoutTrivia();
                var returnsValue = model.GetSymbolInfo(lambda, cancellationToken).Symbol is IMethodSymbol method &&
                    method.ReturnType is INamedTypeSymbol returnType && returnType.IsGenericType;
                StatementSyntax last = returnsValue
                    ? SyntaxFactory.ReturnStatement(expression)
                    : SyntaxFactory.ExpressionStatement(expression);
                var newLine = SyntaxFactory.ElasticLineFeed;
                body = SyntaxFactory.Block(
                    SyntaxFactory.Token(SyntaxKind.OpenBraceToken).WithTrailingTrivia(newLine),
                    SyntaxFactory.List(new[] { moved.WithTrailingTrivia(newLine), last.WithTrailingTrivia(newLine) }),
                    SyntaxFactory.Token(SyntaxKind.CloseBraceToken));
                body = body.WithLeadingTrivia(newLine);
            }
            body = body.WithAdditionalAnnotations(Formatter.Annotation);

            SyntaxNode newLambda = lambda switch
            {
                ParenthesizedLambdaExpressionSyntax p => p.WithExpressionBody(null).WithBlock(body),
                SimpleLambdaExpressionSyntax s => s.WithExpressionBody(null).WithBlock(body),
                AnonymousMethodExpressionSyntax a => a.WithBlock(body),
                _ => lambda,
            };
            editor.ReplaceNode(lambda, newLambda.WithAdditionalAnnotations(Formatter.Annotation));
            editor.RemoveNode(StatementToRemove(statement), SyntaxRemoveOptions.KeepNoTrivia);
            return editor.GetChangedDocument();
        }

        private static async Task<Document> UseSharedAsync(
            Document document, LocalDeclarationStatementSyntax statement, List<IdentifierNameSyntax> references, CancellationToken cancellationToken)
        {
            var editor = await DocumentEditor.CreateAsync(document, cancellationToken).ConfigureAwait(false);
            foreach (var reference in references)
            {
                var shared = SyntaxFactory.ParseExpression("global::Tether.AsyncHttpClient.Shared")
                    .WithTriviaFrom(reference)
                    .WithAdditionalAnnotations(Simplifier.Annotation);
                editor.ReplaceNode(reference, shared);
            }
            editor.RemoveNode(StatementToRemove(statement), SyntaxRemoveOptions.KeepNoTrivia);
            return editor.GetChangedDocument();
        }
    }
}
