using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Serialization;

namespace P2PDistill.Shared.Hosting;

/// <summary>
/// TLS for remoting with mutual authentication (docs/security.md). Bound from configuration section "Node:Tls".
/// Off unless <see cref="Certificate"/> is set; then every connection in both directions is TLS, both ends present
/// a certificate and both ends accept the other's only if it chains to <see cref="CaCertificate"/>.
/// </summary>
public sealed class TlsOptions
{
    /// <summary>Environment variable that can hold the certificate's password (the generic form of the key Node:Tls:Password).</summary>
    public const string PasswordVariable = "P2PDISTILL_Node__Tls__Password";

    /// <summary>This node's certificate with its private key: a PKCS#12 (.pfx / .p12) file.</summary>
    public string? Certificate { get; set; }

    /// <summary>
    /// Password of <see cref="Certificate"/>. Prefer <see cref="PasswordFile"/> or the environment variable: flags show in process lists.
    /// Never serialized (the run's config.json shows <see cref="RedactedPassword"/> instead).
    /// </summary>
    [JsonIgnore]
    public string? Password { get; set; }

    /// <summary>What config.json shows for <see cref="Password"/>: "***" when one is set, nothing otherwise; never the password.</summary>
    [JsonPropertyName("password")]
    public string? RedactedPassword => string.IsNullOrEmpty(Password) ? null : "***";

    /// <summary>A file whose first line is the password of <see cref="Certificate"/>.</summary>
    public string? PasswordFile { get; set; }

    /// <summary>The CA that signs the cluster's certificates (PEM or DER). Peers are trusted if and only if their certificate chains to it; the system store is not used.</summary>
    public string? CaCertificate { get; set; }

    /// <summary>Also require the certificate of a node this one connects to to name the host it is reached at (CN or SAN). Off by default.</summary>
    public bool ValidateHostname { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(Certificate);

    /// <summary>Configuration errors, each naming the input and what to do; empty when TLS is off and nothing of it is set, or when everything loads.</summary>
    public IReadOnlyList<string> Validate(string? host = null)
    {
        if (!Enabled)
        {
            return string.IsNullOrWhiteSpace(CaCertificate) && string.IsNullOrWhiteSpace(PasswordFile) && string.IsNullOrEmpty(Password)
                ? []
                : ["tls: --tls-ca / --tls-password-file / a password are set but --tls-cert (Node:Tls:Certificate) is not: give this node's PFX certificate too, or remove the TLS settings"];
        }
        try
        {
            using var material = Load();
            if (ValidateHostname && !string.IsNullOrWhiteSpace(host) && !material.Certificate.MatchesHostname(host))
                return [$"tls: --tls-validate-hostname is on but certificate '{Certificate}' ({material.Certificate.Subject}) does not name this node's address '{host}' " +
                        "in its subject alternative names: the other nodes would refuse it; issue it with SAN DNS:/IP:" + host + " or turn the check off"];
            return [];
        }
        catch (TlsConfigurationException e)
        {
            return [e.Message];
        }
    }

    /// <summary>Loads and checks this node's certificate and the CA. Throws <see cref="TlsConfigurationException"/> with a message that says what to fix.</summary>
    public TlsMaterial Load()
    {
        if (!Enabled) throw new TlsConfigurationException("tls: no certificate configured (--tls-cert)");
        if (string.IsNullOrWhiteSpace(CaCertificate))
            throw new TlsConfigurationException(
                "tls: --tls-cert is set but --tls-ca (Node:Tls:CaCertificate) is not: give the CA certificate (PEM or DER) that signs every node's certificate; " +
                "nodes trust exactly that CA, never the system store");
        var ca = LoadCa(CaCertificate);
        X509Certificate2 node;
        try
        {
            node = LoadNode(Certificate!, ReadPassword());
        }
        catch
        {
            ca.Dispose();
            throw;
        }
        try
        {
            CheckNode(node, ca);
        }
        catch
        {
            ca.Dispose();
            node.Dispose();
            throw;
        }
        return new TlsMaterial(node, ca);
    }

    private string? ReadPassword()
    {
        if (!string.IsNullOrWhiteSpace(PasswordFile))
        {
            if (!string.IsNullOrEmpty(Password))
                throw new TlsConfigurationException("tls: both a password and --tls-password-file are set: give only one");
            if (!File.Exists(PasswordFile))
                throw new TlsConfigurationException($"tls: password file '{PasswordFile}' (--tls-password-file) does not exist");
            try
            {
                using var reader = new StreamReader(PasswordFile);
                return reader.ReadLine() ?? "";
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new TlsConfigurationException($"tls: cannot read password file '{PasswordFile}' (--tls-password-file): {e.Message}");
            }
        }
        return Password;
    }

    private static X509Certificate2 LoadCa(string path)
    {
        if (!File.Exists(path))
            throw new TlsConfigurationException($"tls: CA certificate file '{path}' (--tls-ca) does not exist: give the PEM or DER file of the CA that signs the cluster's certificates");
        X509Certificate2 ca;
        try
        {
            ca = X509CertificateLoader.LoadCertificateFromFile(path);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new TlsConfigurationException(
                $"tls: cannot read CA certificate '{path}' (--tls-ca): {e.Message.TrimEnd('.')}. It must be one X.509 certificate, PEM (-----BEGIN CERTIFICATE-----) or DER");
        }
        var constraints = ca.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        if (constraints is { CertificateAuthority: false })
        {
            var subject = ca.Subject;
            ca.Dispose();
            throw new TlsConfigurationException($"tls: '{path}' (--tls-ca) is not a CA certificate ({subject} has CA:FALSE): give the certificate of the CA that signed the nodes' certificates");
        }
        return ca;
    }

    private static X509Certificate2 LoadNode(string path, string? password)
    {
        if (!File.Exists(path))
            throw new TlsConfigurationException($"tls: certificate file '{path}' (--tls-cert) does not exist: give this node's PKCS#12 (.pfx) file with its private key");
        try
        {
            // Exportable is not needed; ephemeral keys would break SslStream on some platforms, so keys stay in the default set.
            return X509CertificateLoader.LoadPkcs12FromFile(path, password, X509KeyStorageFlags.DefaultKeySet);
        }
        catch (CryptographicException e)
        {
            var hint = string.IsNullOrEmpty(password)
                ? $"if it has a password, give it with --tls-password-file FILE or the environment variable {PasswordVariable}"
                : "is the password right (--tls-password-file / " + PasswordVariable + ")?";
            throw new TlsConfigurationException($"tls: cannot open certificate '{path}' (--tls-cert) as PKCS#12: {e.Message.TrimEnd('.')}; {hint}. A PEM certificate must be converted first (see docs/security.md)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TlsConfigurationException($"tls: cannot read certificate '{path}' (--tls-cert): {e.Message}");
        }
    }

    private void CheckNode(X509Certificate2 node, X509Certificate2 ca)
    {
        if (!node.HasPrivateKey)
            throw new TlsConfigurationException($"tls: certificate '{Certificate}' (--tls-cert) has no private key: export the PFX with its key (openssl pkcs12 -export -inkey KEY ...)");
        var now = DateTime.Now;
        if (now < node.NotBefore || now > node.NotAfter)
            throw new TlsConfigurationException($"tls: certificate '{Certificate}' (--tls-cert) is valid from {node.NotBefore:u} to {node.NotAfter:u}, not now: issue a new one");
        if (!TlsValidation.ChainsTo(node, ca, out var status))
            throw new TlsConfigurationException(
                $"tls: certificate '{Certificate}' (--tls-cert, {node.Subject}, issued by {node.Issuer}) does not chain to the CA '{CaCertificate}' (--tls-ca, {ca.Subject}): {status}. " +
                "The other nodes would refuse it; sign it with the cluster's CA or give the right --tls-ca");
    }
}

/// <summary>This node's certificate (with key) and the cluster CA, loaded and checked.</summary>
public sealed record TlsMaterial(X509Certificate2 Certificate, X509Certificate2 Ca) : IDisposable
{
    public void Dispose()
    {
        Certificate.Dispose();
        Ca.Dispose();
    }
}

/// <summary>A TLS setting that cannot be used; the message names the input and what to do.</summary>
public sealed class TlsConfigurationException(string message) : ArgumentException(message);
