using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using P2PDistill.Shared.Hosting;

namespace P2PDistill.Tests.Support;

/// <summary>
/// Certificates made at run time for TLS tests, written to a temporary folder: a cluster CA (PEM), node certificates
/// it signs (PFX with a password in a file), and a rogue CA with its own node certificate. Deleted on dispose.
/// </summary>
public sealed class TestPki : IDisposable
{
    public const string Password = "correct horse battery staple";

    private readonly X509Certificate2 ca;
    private readonly X509Certificate2 rogueCa;

    public TestPki()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("p2pdistill-pki-").FullName;
        ca = CreateCa("CN=P2PDistill test cluster CA");
        rogueCa = CreateCa("CN=Rogue CA");
        CaPath = WritePem("ca.pem", ca);
        RogueCaPath = WritePem("rogue-ca.pem", rogueCa);
        PasswordFile = Path.Combine(Directory, "password.txt");
        File.WriteAllText(PasswordFile, Password + "\n");
    }

    public string Directory { get; }

    /// <summary>The cluster CA, PEM.</summary>
    public string CaPath { get; }

    /// <summary>Another CA, PEM: nothing the cluster trusts.</summary>
    public string RogueCaPath { get; }

    /// <summary>A file holding <see cref="Password"/>.</summary>
    public string PasswordFile { get; }

    /// <summary>A node certificate signed by the cluster CA, as a PFX protected by <see cref="Password"/>.</summary>
    public string Node(string name) => WritePfx($"{name}.pfx", Issue(ca, name));

    /// <summary>A node certificate signed by the rogue CA.</summary>
    public string RogueNode(string name) => WritePfx($"{name}.pfx", Issue(rogueCa, name));

    /// <summary>A self-signed node certificate.</summary>
    public string SelfSignedNode(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = NodeRequest(name, key);
        return WritePfx($"{name}.pfx", request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1)));
    }

    /// <summary>A node certificate signed by the cluster CA that expired yesterday.</summary>
    public string ExpiredNode(string name) => WritePfx($"{name}.pfx", Issue(ca, name, DateTimeOffset.UtcNow.AddDays(-10), DateTimeOffset.UtcNow.AddDays(-1)));

    /// <summary>The certificate of <paramref name="pfx"/> without its private key (DER), renamed .pfx as a user might.</summary>
    public string WithoutKey(string name)
    {
        using var cert = Issue(ca, name);
        var path = Path.Combine(Directory, $"{name}.cer");
        File.WriteAllBytes(path, cert.Export(X509ContentType.Cert));
        return path;
    }

    /// <summary>A PFX of the certificate only (no key), password protected.</summary>
    public string PfxWithoutKey(string name)
    {
        using var withKey = Issue(ca, name);
        using var publicOnly = X509CertificateLoader.LoadCertificate(withKey.RawData);
        return WritePfx($"{name}.pfx", publicOnly);
    }

    /// <summary>This node's certificate and the CA in memory, as a node configured with <paramref name="pfx"/> would load them.</summary>
    public TlsOptions Options(string pfx, string? caPath = null) => new()
    {
        Certificate = pfx, PasswordFile = PasswordFile, CaCertificate = caPath ?? CaPath,
    };

    /// <summary>The loaded certificate (with key) of a PFX written here.</summary>
    public static X509Certificate2 Load(string pfx) => X509CertificateLoader.LoadPkcs12FromFile(pfx, Password);

    /// <summary>Flags that configure an executable with this certificate and the cluster CA (or <paramref name="caPath"/>).</summary>
    public string[] Flags(string pfx, string? caPath = null) => ["--tls-cert", pfx, "--tls-password-file", PasswordFile, "--tls-ca", caPath ?? CaPath];

    public void Dispose()
    {
        ca.Dispose();
        rogueCa.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }

    private static X509Certificate2 CreateCa(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(2));
    }

    private static CertificateRequest NodeRequest(string name, ECDsa key)
    {
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false)); // server and client authentication
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        return request;
    }

    private static X509Certificate2 Issue(X509Certificate2 issuer, string name, DateTimeOffset? from = null, DateTimeOffset? until = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = NodeRequest(name, key);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7f;
        using var signed = request.Create(issuer, from ?? DateTimeOffset.UtcNow.AddMinutes(-5), until ?? DateTimeOffset.UtcNow.AddDays(1), serial);
        return signed.CopyWithPrivateKey(key);
    }

    private string WritePem(string file, X509Certificate2 cert)
    {
        var path = Path.Combine(Directory, file);
        File.WriteAllText(path, cert.ExportCertificatePem());
        return path;
    }

    private string WritePfx(string file, X509Certificate2 cert)
    {
        var path = Path.Combine(Directory, file);
        File.WriteAllBytes(path, cert.Export(X509ContentType.Pfx, Password));
        cert.Dispose();
        return path;
    }
}
