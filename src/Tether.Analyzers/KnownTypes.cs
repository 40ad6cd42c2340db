using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace Tether.Analyzers
{
    /// <summary>
    /// The types the analyzers care about, looked up by metadata name so the analyzers never
    /// reference the Tether assembly (tests declare stubs with the same names).
    /// </summary>
    internal sealed class KnownTypes
    {
        public INamedTypeSymbol? AsyncHttpClient { get; private set; }
        public INamedTypeSymbol? EventLoop { get; private set; }
        public INamedTypeSymbol? FetchResponse { get; private set; }
        public INamedTypeSymbol? HttpClient { get; private set; }
        public INamedTypeSymbol? HttpResponseMessage { get; private set; }
        public INamedTypeSymbol? HttpContent { get; private set; }
        public INamedTypeSymbol? HttpCompletionOption { get; private set; }
        public INamedTypeSymbol? Task { get; private set; }
        public INamedTypeSymbol? TaskOfT { get; private set; }
        public INamedTypeSymbol? ValueTask { get; private set; }
        public INamedTypeSymbol? ValueTaskOfT { get; private set; }
        public INamedTypeSymbol? AsyncDisposable { get; private set; }

        public static KnownTypes Create(Compilation compilation) => new KnownTypes
        {
            AsyncHttpClient = compilation.GetTypeByMetadataName("Tether.AsyncHttpClient"),
            EventLoop = compilation.GetTypeByMetadataName("Tether.EventLoop"),
            FetchResponse = compilation.GetTypeByMetadataName("Tether.FetchResponse"),
            HttpClient = compilation.GetTypeByMetadataName("System.Net.Http.HttpClient"),
            HttpResponseMessage = compilation.GetTypeByMetadataName("System.Net.Http.HttpResponseMessage"),
            HttpContent = compilation.GetTypeByMetadataName("System.Net.Http.HttpContent"),
            HttpCompletionOption = compilation.GetTypeByMetadataName("System.Net.Http.HttpCompletionOption"),
            Task = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task"),
            TaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task`1"),
            ValueTask = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask"),
            ValueTaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask`1"),
            AsyncDisposable = compilation.GetTypeByMetadataName("System.IAsyncDisposable"),
        };

        public bool HasClientTypes => AsyncHttpClient != null || HttpClient != null;

        public bool IsAsyncHttpClient(ITypeSymbol? type) =>
            type != null && AsyncHttpClient != null && SymbolEqualityComparer.Default.Equals(type, AsyncHttpClient);

        /// <summary>AsyncHttpClient, HttpClient or a class derived from HttpClient.</summary>
        public bool IsClient(ITypeSymbol? type)
        {
            if (type == null)
            {
                return false;
            }
            if (IsAsyncHttpClient(type))
            {
                return true;
            }
            if (HttpClient == null)
            {
                return false;
            }
            for (var t = type; t != null; t = t.BaseType)
            {
                if (SymbolEqualityComparer.Default.Equals(t, HttpClient))
                {
                    return true;
                }
            }
            return false;
        }

        public bool IsSameType(ITypeSymbol? type, INamedTypeSymbol? known) =>
            type != null && known != null && SymbolEqualityComparer.Default.Equals(type.OriginalDefinition, known);

        public bool IsEventLoopRun(IMethodSymbol method) =>
            method.Name == "Run" && EventLoop != null &&
            SymbolEqualityComparer.Default.Equals(method.ContainingType, EventLoop);

        /// <summary>AsyncHttpClient.Shared (after implicit conversions).</summary>
        public bool IsShared(IOperation? operation) =>
            operation.StripConversions() is IPropertyReferenceOperation property &&
            property.Property.Name == "Shared" && IsAsyncHttpClient(property.Property.ContainingType);

        /// <summary>True when the lambda is passed straight to EventLoop.Run.</summary>
        public bool IsRunLambda(IAnonymousFunctionOperation lambda)
        {
            IOperation? parent = lambda.Parent;
            while (parent is IDelegateCreationOperation || parent is IConversionOperation)
            {
                parent = parent.Parent;
            }
            return parent is IArgumentOperation argument &&
                argument.Parent is IInvocationOperation invocation &&
                IsEventLoopRun(invocation.TargetMethod);
        }

        /// <summary>The nearest enclosing lambda passed to EventLoop.Run, looking through other lambdas.</summary>
        public IAnonymousFunctionOperation? EnclosingRunLambda(IOperation operation)
        {
            for (var p = operation.Parent; p != null; p = p.Parent)
            {
                if (p is IAnonymousFunctionOperation lambda && IsRunLambda(lambda))
                {
                    return lambda;
                }
            }
            return null;
        }

        /// <summary>Task/Task&lt;T&gt;/ValueTask/ValueTask&lt;T&gt;.</summary>
        public bool IsTaskLike(ITypeSymbol? type) =>
            IsSameType(type, Task) || IsSameType(type, TaskOfT) || IsSameType(type, ValueTask) || IsSameType(type, ValueTaskOfT);
    }

    internal static class OperationHelpers
    {
        public static IOperation? StripConversions(this IOperation? operation)
        {
            while (operation is IConversionOperation conversion)
            {
                operation = conversion.Operand;
            }
            return operation;
        }

        /// <summary>Walks up through conversions and returns the outermost one (or the operation itself).</summary>
        public static IOperation WalkUpConversions(this IOperation operation)
        {
            while (operation.Parent is IConversionOperation conversion)
            {
                operation = conversion;
            }
            return operation;
        }

        public static IOperation Root(this IOperation operation)
        {
            while (operation.Parent != null)
            {
                operation = operation.Parent;
            }
            return operation;
        }

        /// <summary>Nearest enclosing loop whose body contains the operation, stopping at lambdas and local functions.</summary>
        public static ILoopOperation? EnclosingLoopBody(this IOperation operation)
        {
            for (var p = operation.Parent; p != null; p = p.Parent)
            {
                if (p is IAnonymousFunctionOperation || p is ILocalFunctionOperation)
                {
                    return null;
                }
                if (p is ILoopOperation loop && loop.Body.Syntax.Span.Contains(operation.Syntax.Span))
                {
                    return loop;
                }
            }
            return null;
        }

        /// <summary>True when a local declared by this declarator is disposed by a using statement or declaration.</summary>
        public static bool IsUsingDeclarator(this IVariableDeclaratorOperation declarator)
        {
            var group = declarator.Parent?.Parent;
            return group is IVariableDeclarationGroupOperation &&
                (group.Parent is IUsingDeclarationOperation || group.Parent is IUsingOperation);
        }
    }
}
