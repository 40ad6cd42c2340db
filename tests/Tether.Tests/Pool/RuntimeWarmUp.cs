namespace Tether.Tests.Pool;

/// <summary>SocketsHttpHandler maps System.Net.Quic.dll and System.Net.NetworkInformation.dll (one fd each, kept for
/// the life of the process) the first time some paths run (many queued requests, lifetime expiry). Loading them
/// before a leak check's baseline keeps those one-time runtime fds out of the count.</summary>
internal static class RuntimeWarmUp
{
    public static void Run()
    {
        _ = System.Net.Quic.QuicConnection.IsSupported;
        _ = System.Net.NetworkInformation.NetworkInterface.GetIsNetworkAvailable();
    }
}
