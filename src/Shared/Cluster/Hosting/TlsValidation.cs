using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;

namespace P2PDistill.Shared.Hosting;

/// <summary>Peer-certificate checks for mutual TLS: the peer's chain must end in the cluster's CA, and nothing else is trusted.</summary>
public static class TlsValidation
{
    /// <summary>True when <paramref name="certificate"/> chains to <paramref name="ca"/> (the only trusted root) and is valid now.</summary>
    public static bool ChainsTo(X509Certificate2 certificate, X509Certificate2 ca, out string status, X509Chain? presented = null)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        // A private cluster CA publishes no revocation lists; revoke by replacing the CA (docs/security.md).
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (presented is not null)
            foreach (var element in presented.ChainElements)
                if (!element.Certificate.RawDataMemory.Span.SequenceEqual(certificate.RawDataMemory.Span))
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        if (chain.Build(certificate))
        {
            var root = chain.ChainElements[^1].Certificate;
            if (root.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span))
            {
                status = "ok";
                return true;
            }
            status = $"its chain ends in {root.Subject}, not in the cluster CA";
            return false;
        }
        var problems = chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct();
        status = string.Join("; ", problems) is { Length: > 0 } text ? text : "the chain could not be built";
        return false;
    }

    /// <summary>
    /// The callback Akka.Remote's TLS handler calls for the peer's certificate on both sides of every connection:
    /// accepts it only when it chains to <paramref name="ca"/>, and, when <paramref name="validateHostname"/>, when an
    /// outbound peer's certificate names the host dialled. A refusal is logged with the peer and the reason.
    /// </summary>
    public static CertificateValidationCallback Callback(X509Certificate2 ca, bool validateHostname) =>
        (certificate, presented, remotePeer, errors, log) =>
        {
            if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            {
                log?.Warning("TLS: refused {0}: it presented no certificate (every node needs --tls-cert signed by the cluster CA)", remotePeer);
                return false;
            }
            if (!ChainsTo(certificate, ca, out var status, presented))
            {
                log?.Warning("TLS: refused {0}: its certificate {1} (issued by {2}) is not signed by the cluster CA {3}: {4}",
                    remotePeer, certificate.Subject, certificate.Issuer, ca.Subject, status);
                return false;
            }
            if (validateHostname && errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            {
                log?.Warning("TLS: refused {0}: its certificate {1} does not name the host it was reached at (Node:Tls:ValidateHostname is on)",
                    remotePeer, certificate.Subject);
                return false;
            }
            return true;
        };
}
