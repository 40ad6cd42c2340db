using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tether.TestServer;

/// <summary>
/// Makes every certificate the test servers present, in-process, with <see cref="CertificateRequest"/>.
/// </summary>
/// <remarks>
/// One test CA per process signs the "localhost" leaf, the client certificates, the expired leaf and the
/// wrong-host leaf, so a test that trusts <see cref="Ca"/> still sees the expiry or name failure. The
/// self-signed leaf is signed by nobody. Keys are ECDSA P-256, which is quick to generate.
/// Every certificate is reloaded from PKCS#12 so that its private key works with SslStream on every OS.
/// The cached instances are shared by the whole process and must not be disposed by callers; public
/// members of the servers hand out copies.
/// </remarks>
internal static class TestCertificates
{
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    private static readonly Lazy<X509Certificate2> s_ca = new(CreateCa);
    private static readonly Lazy<X509Certificate2> s_localhost = new(() => CreateLeaf(
        "localhost", ["localhost"], includeLoopbackIps: true, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1), ServerAuthOid));
    private static readonly Lazy<X509Certificate2> s_expired = new(() => CreateLeaf(
        "localhost", ["localhost"], includeLoopbackIps: true, DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1), ServerAuthOid));
    private static readonly Lazy<X509Certificate2> s_notYetValid = new(() => CreateLeaf(
        "localhost", ["localhost"], includeLoopbackIps: true, DateTimeOffset.UtcNow.AddDays(1), DateTimeOffset.UtcNow.AddYears(1), ServerAuthOid));
    private static readonly Lazy<X509Certificate2> s_wrongHost = new(() => CreateLeaf(
        "wrong.example", ["wrong.example"], includeLoopbackIps: false, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1), ServerAuthOid));
    private static readonly Lazy<X509Certificate2> s_selfSigned = new(CreateSelfSignedLeaf);

    /// <summary>The process-wide test CA (with its private key).</summary>
    public static X509Certificate2 Ca => s_ca.Value;

    /// <summary>A CA-signed leaf for "localhost", 127.0.0.1 and ::1.</summary>
    public static X509Certificate2 Localhost => s_localhost.Value;

    /// <summary>A CA-signed leaf for "localhost" whose NotAfter is yesterday.</summary>
    public static X509Certificate2 Expired => s_expired.Value;

    /// <summary>A CA-signed leaf for "localhost" whose NotBefore is tomorrow.</summary>
    public static X509Certificate2 NotYetValid => s_notYetValid.Value;

    /// <summary>A CA-signed leaf whose only SAN is "wrong.example".</summary>
    public static X509Certificate2 WrongHost => s_wrongHost.Value;

    /// <summary>A self-signed leaf for "localhost" (not signed by <see cref="Ca"/>).</summary>
    public static X509Certificate2 SelfSigned => s_selfSigned.Value;

    /// <summary>A copy without the private key, safe to hand to callers.</summary>
    public static X509Certificate2 PublicCopy(X509Certificate2 certificate) =>
        X509CertificateLoader.LoadCertificate(certificate.RawData);

    /// <summary>A new client-authentication certificate signed by <see cref="Ca"/>; the caller owns it.</summary>
    public static X509Certificate2 CreateClientCertificate(string subjectName) => CreateLeaf(
        subjectName, [], includeLoopbackIps: false, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1), ClientAuthOid);

    /// <summary>Returns whether a certificate chains to <see cref="Ca"/> (revocation not checked).</summary>
    public static bool ChainsToCa(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    private static X509Certificate2 CreateCa()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Tether Test CA, O=Tether tests", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddYears(-1), DateTimeOffset.UtcNow.AddYears(10));
        return Reload(certificate);
    }

    private static X509Certificate2 CreateLeaf(
        string commonName, string[] dnsNames, bool includeLoopbackIps, DateTimeOffset notBefore, DateTimeOffset notAfter, string usageOid)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = NewLeafRequest(commonName, dnsNames, includeLoopbackIps, usageOid, key);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Ca, true, false));
        using var unsigned = request.Create(Ca, notBefore, notAfter, NewSerial());
        using var withKey = unsigned.CopyWithPrivateKey(key);
        return Reload(withKey);
    }

    private static X509Certificate2 CreateSelfSignedLeaf()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = NewLeafRequest("localhost", ["localhost"], includeLoopbackIps: true, ServerAuthOid, key);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        return Reload(certificate);
    }

    private static CertificateRequest NewLeafRequest(string commonName, string[] dnsNames, bool includeLoopbackIps, string usageOid, ECDsa key)
    {
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usageOid)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (dnsNames.Length > 0 || includeLoopbackIps)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var name in dnsNames)
            {
                san.AddDnsName(name);
            }

            if (includeLoopbackIps)
            {
                san.AddIpAddress(IPAddress.Loopback);
                san.AddIpAddress(IPAddress.IPv6Loopback);
            }

            request.CertificateExtensions.Add(san.Build());
        }

        return request;
    }

    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // keep it positive
        serial[0] |= 0x01; // and without a leading zero byte
        return serial;
    }

    private static X509Certificate2 Reload(X509Certificate2 certificate) =>
        X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
}
