using System.Globalization;

namespace Tether.Cli.Commands;

/// <summary>
/// Copies a streamed response body to <c>fetch</c>'s destination (stdout or <c>-o FILE</c>) with the CLI's own limits:
/// <c>--max-filesize</c> when given, else a decompression-bomb guard on decoded bodies. The library's
/// <see cref="FetchSettings.MaxBodySize"/> is a bound on memory for buffered fetches; the CLI writes as it reads, so it
/// turns that off (newcomer review 2026-12-01) and keeps only what protects the disk from a bomb.
/// </summary>
/// <remarks>
/// The guard: past <see cref="DecodeGuardFloor"/> decoded bytes (the library's default MaxBodySize, so nothing it used
/// to accept is refused now), a decoded body may be at most <see cref="DecodeGuardRatio"/> times the bytes read from the
/// client's connections (the ledger's <c>BytesRead</c>). 100:1 is the minimum inflate ratio Apache POI's
/// <c>ZipSecureFile</c> uses against zip bombs; a gzip bomb of zeros runs near 1000:1, real text and JSON under 20:1.
/// An explicit <c>--max-filesize</c> replaces the guard.
/// A failed write is rethrown as <see cref="OutputException"/>, so it is told apart from a failed read.
/// </remarks>
internal sealed class GuardedOutput(FetchResponse response, ConnectionPool? pool, long? maxFilesize, Action<int> written)
{
    /// <summary>Decoded bytes always allowed before the ratio is checked: 100 MiB.</summary>
    public const long DecodeGuardFloor = 100L * 1024 * 1024;

    /// <summary>Most decoded bytes per byte received once past <see cref="DecodeGuardFloor"/>.</summary>
    public const long DecodeGuardRatio = 100;

    private const long CheckEvery = 4L * 1024 * 1024;

    /// <summary>Gets a value indicating whether a chunk holding a NUL byte stops the copy before it is written
    /// (<see cref="BinaryOutputException"/>): stdout is a terminal and <c>-o -</c> was not given, as curl's rule.</summary>
    public bool RefuseBinary { get; init; }

    /// <summary>Copies the body; returns the bytes written.</summary>
    public async Task<long> CopyAsync(Stream destination, Action<int> progress, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[81920];
        bool decoded = response.DecodedContentEncodings.Count > 0 && maxFilesize is null;
        long nextCheck = DecodeGuardFloor;
        long total = 0;
        int read;
        while ((read = await response.BodyStream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (maxFilesize is { } max && total + read > max)
            {
                throw new BodyTooLargeException(string.Create(
                    CultureInfo.InvariantCulture, $"the body is larger than --max-filesize {max} bytes; stopped after writing {total} bytes."));
            }

            if (decoded && total + read > nextCheck)
            {
                CheckRatio(total + read);
                nextCheck += CheckEvery;
            }

            if (RefuseBinary && buffer.AsSpan(0, read).Contains((byte)0))
            {
                throw new BinaryOutputException();
            }

            await WriteAsync(destination, buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            written(read);
            progress(read);
            total += read;
        }

        return total;
    }

    /// <summary>Writes to the destination; a failure becomes an <see cref="OutputException"/>.</summary>
    public static async Task WriteAsync(Stream destination, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        try
        {
            await destination.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw new OutputException(ex);
        }
    }

    /// <summary>Flushes the destination; a failure becomes an <see cref="OutputException"/>.</summary>
    public static async Task FlushAsync(Stream destination, CancellationToken cancellationToken)
    {
        try
        {
            await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw new OutputException(ex);
        }
    }

    private void CheckRatio(long decodedBytes)
    {
        long received = 0;
        foreach (Tether.Diagnostics.LedgerEntry entry in pool?.Snapshot() ?? [])
        {
            received += entry.BytesRead;
        }

        if (received > 0 && decodedBytes / received >= DecodeGuardRatio)
        {
            throw new BodyTooLargeException(string.Create(
                CultureInfo.InvariantCulture,
                $"the decoded ({string.Join(", ", response.DecodedContentEncodings)}) body passed {decodedBytes} bytes from {received} bytes received, "
                + $"over {DecodeGuardRatio}:1: refusing a likely decompression bomb. If it is expected, give --max-filesize BYTES to allow a body up to that size."));
        }
    }
}

/// <summary>A binary body (a NUL byte) was about to be written to a terminal.</summary>
internal sealed class BinaryOutputException() : IOException("binary output to a terminal");

/// <summary>The body is over <c>--max-filesize</c>, or a decoded body tripped the decompression-bomb guard (exit 63).</summary>
internal sealed class BodyTooLargeException(string message) : IOException(message);

/// <summary>Writing the body to stdout or the <c>-o</c> file failed; <see cref="BrokenPipe"/> when stdout's reader is gone.</summary>
internal sealed class OutputException(IOException inner) : IOException(inner.Message, inner)
{
    private const int Epipe = 32; // Linux and macOS errno; .NET puts the errno in HResult for a failed write

    /// <summary>Gets how many bytes of the failed write reached the destination before it failed (0 if not known).</summary>
    public long PartialBytes => inner is PartialWriteException partial ? partial.Written : 0;

    /// <summary>Gets whether the write failed with EPIPE (the pipe's reader closed it, e.g. <c>| head -c 10</c>).</summary>
    public bool BrokenPipe => inner.HResult == Epipe || inner.Message.Contains("Broken pipe", StringComparison.OrdinalIgnoreCase);
}
