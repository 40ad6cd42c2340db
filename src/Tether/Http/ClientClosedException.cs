namespace Tether;

/// <summary>Thrown when a closed <see cref="AsyncHttpClient"/> is used. Says where it was closed and created.</summary>
public sealed class ClientClosedException : ObjectDisposedException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="client">The client's name.</param>
    /// <param name="closedAt">Where <c>Close</c> was called (or which loop closed it).</param>
    /// <param name="createdAt">Where the client was created.</param>
    public ClientClosedException(string client, string closedAt, string createdAt)
        : this(client, closedAt, createdAt, "Create a new AsyncHttpClient, or keep this one open for as long as it is used.")
    {
    }

    /// <summary>Creates the exception with the fix that fits the type the caller holds (a wrapper of a client).</summary>
    internal ClientClosedException(string client, string closedAt, string createdAt, string fix)
        : base(client, $"{client} is closed: it was closed at {closedAt} (created at {createdAt}). {fix}")
    {
        ClosedAt = closedAt;
        CreatedAt = createdAt;
    }

    /// <summary>Where the client was closed.</summary>
    public string ClosedAt { get; }

    /// <summary>Where the client was created.</summary>
    public string CreatedAt { get; }
}
