using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Net;

namespace Tether.Diagnostics;

// Span-based readers for procfs text files. Why: a process with 10,000 sockets has a 1.5 MB
// /proc/net/tcp, and the census must parse it in about a millisecond. So each file is read with
// pread into one pooled buffer, walked line by line as UTF-8 bytes, and a line allocates only when
// its inode belongs to the process being counted (and only TCP lines then build endpoints).
internal static class ProcNetReader
{
    /// <summary>Reads a whole procfs file into <paramref name="buffer"/> (rented, grown as needed).</summary>
    /// <returns>The number of bytes read, or -1 when the file does not exist.</returns>
    /// <exception cref="UnauthorizedAccessException">The file exists and cannot be read.</exception>
    internal static int ReadAll(string path, ref byte[] buffer)
    {
        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (FileNotFoundException)
        {
            return -1;
        }
        catch (DirectoryNotFoundException)
        {
            return -1;
        }

        using (handle)
        {
            // procfs files report length 0; read until EOF. seq_file honours sequential pread offsets.
            int filled = 0;
            while (true)
            {
                if (buffer.Length - filled < 4096)
                {
                    byte[] bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, filled).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                int n = RandomAccess.Read(handle, buffer.AsSpan(filled), filled);
                if (n <= 0)
                {
                    return filled;
                }

                filled += n;
            }
        }
    }

    /// <summary>Splits off the next whitespace-separated field of <paramref name="line"/>.</summary>
    internal static ReadOnlySpan<byte> NextField(ref ReadOnlySpan<byte> line)
    {
        int start = 0;
        while (start < line.Length && line[start] == (byte)' ')
        {
            start++;
        }

        line = line[start..];
        int end = line.IndexOf((byte)' ');
        if (end < 0)
        {
            end = line.Length;
        }

        ReadOnlySpan<byte> field = line[..end];
        line = line[end..];
        return field;
    }

    /// <summary>Skips <paramref name="count"/> fields.</summary>
    internal static void SkipFields(ref ReadOnlySpan<byte> line, int count)
    {
        for (int i = 0; i < count; i++)
        {
            NextField(ref line);
        }
    }

    internal static bool TryParseHex(ReadOnlySpan<byte> text, out uint value) =>
        uint.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);

    internal static bool TryParseInode(ReadOnlySpan<byte> text, out ulong value) =>
        ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    /// <summary>Reads the port of an <c>ADDR:PORT</c> field without building the address.</summary>
    internal static int Port(ReadOnlySpan<byte> field)
    {
        int colon = field.LastIndexOf((byte)':');
        return colon >= 0 && TryParseHex(field[(colon + 1)..], out uint port) ? (int)port : -1;
    }

    /// <summary>
    /// Parses <c>0100007F:1F90</c> or a 32-digit IPv6 form. The kernel prints each 32-bit word of the
    /// address in host order, so each word is written back in host order to recover network order.
    /// </summary>
    internal static IPEndPoint ParseEndPoint(ReadOnlySpan<byte> field)
    {
        int colon = field.LastIndexOf((byte)':');
        if (colon < 0)
        {
            return new IPEndPoint(IPAddress.None, 0);
        }

        ReadOnlySpan<byte> hex = field[..colon];
        int port = Port(field);
        Span<byte> bytes = stackalloc byte[16];
        int words = hex.Length / 8;
        if (words is not (1 or 4))
        {
            return new IPEndPoint(IPAddress.None, 0);
        }

        for (int w = 0; w < words; w++)
        {
            TryParseHex(hex.Slice(w * 8, 8), out uint word);
            if (BitConverter.IsLittleEndian)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.Slice(w * 4, 4), word);
            }
            else
            {
                BinaryPrimitives.WriteUInt32BigEndian(bytes.Slice(w * 4, 4), word);
            }
        }

        return new IPEndPoint(new IPAddress(bytes[..(words * 4)]), Math.Max(port, 0));
    }
}
