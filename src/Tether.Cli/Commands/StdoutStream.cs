using System.Runtime.InteropServices;

namespace Tether.Cli.Commands;

/// <summary>
/// Standard output as raw bytes, written with <c>write(2)</c> on fd 1, unbuffered.
/// Two alternatives lose data: <c>Console.OpenStandardOutput()</c> ignores EPIPE (a reader that goes away,
/// <c>| head -c 10</c>, went unnoticed), and a <see cref="FileStream"/> over fd 1 writes a regular file with
/// <c>pwrite</c> at a position of its own, so with <c>&gt; out.txt 2&gt;&amp;1</c> the stderr lines, which advance the
/// file offset the two fds share, overwrote the body (coordinator's curl tour, 2026-12-01). <c>write(2)</c> advances
/// that shared offset, as curl's output does, and reports EPIPE as an <see cref="IOException"/> (the runtime ignores
/// SIGPIPE).
/// </summary>
internal sealed partial class StdoutStream : Stream
{
    private const int EINTR = 4;
    private const int EAGAIN = 11;     // Linux; macOS uses 35
    private const int EAGAINMacOS = 35;
    private const int EPIPE = 32;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        long written = 0;
        while (!buffer.IsEmpty)
        {
            nint n = WriteFd(1, ref MemoryMarshal.GetReference(buffer), buffer.Length);
            if (n >= 0)
            {
                buffer = buffer[(int)n..];
                written += n;
                continue;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR)
            {
                continue;
            }

            if (errno is EAGAIN or EAGAINMacOS)
            {
                // Stdout left non-blocking by the parent: wait for room instead of failing the transfer.
                Thread.Sleep(1);
                continue;
            }

            // The bytes of this call that did reach stdout are counted (newcomer review 2026-12-01: `| head -c 10` was
            // told "after 0 body bytes" when a partial write had delivered thousands before the EPIPE).
            throw new PartialWriteException(
                errno == EPIPE ? "Broken pipe: the reader of stdout went away." : $"write to stdout failed ({Marshal.GetPInvokeErrorMessage(errno)}).",
                errno, written);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // Blocking, as a FileStream over fd 1 with no buffer is: stdout is a terminal, a pipe or a file.
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint WriteFd(int fd, ref byte buffer, nint count);
}

/// <summary>A write to stdout that failed after part of its buffer was written.</summary>
/// <param name="message">What failed.</param>
/// <param name="errno">The errno, also the exception's <see cref="Exception.HResult"/>.</param>
/// <param name="written">How many bytes of the failed call reached stdout first.</param>
internal sealed class PartialWriteException(string message, int errno, long written) : IOException(message, errno)
{
    /// <summary>Gets how many bytes of the failed call reached stdout before it failed.</summary>
    public long Written { get; } = written;
}
