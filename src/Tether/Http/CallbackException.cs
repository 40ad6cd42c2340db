namespace Tether;

/// <summary>Wraps an exception thrown by user code the fetch called (a streaming callback, header callback or body
/// producer), so the fetch can fail with <see cref="FetchErrorKind.Callback"/> and the user's exception inside.</summary>
internal sealed class CallbackException : Exception
{
    public CallbackException(string callback, Exception inner)
        : base($"{callback} threw {inner.GetType().Name}: {inner.Message}", inner)
    {
        Callback = callback;
    }

    public string Callback { get; }
}
