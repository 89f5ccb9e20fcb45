using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Hosting;

/// <summary>Bad TLS settings are refused at start-up with a message that names the input and what to do.</summary>
[Trait("Category", "Unit")]
public sealed class TlsConfigurationSpecs : IDisposable
{
    private readonly TestPki pki = new();

    public void Dispose() => pki.Dispose();

    private static string Single(NodeOptions node, bool isSeed = true)
    {
        var errors = node.Validate(isSeed);
        Assert.True(errors.Count == 1, string.Join("\n", errors));
        return errors[0];
    }

    private static NodeOptions With(TlsOptions tls, params string[] seeds) => new() { Tls = tls, SeedNodes = seeds };

    [Fact]
    public void Should_accept_a_certificate_the_ca_signed_and_leave_tls_off_when_nothing_is_set()
    {
        Assert.Empty(With(pki.Options(pki.Node("a"))).Validate(isSeed: true));
        Assert.Empty(With(pki.Options(pki.Node("b")), "akka.ssl.tcp://p2pdistill@127.0.0.1:4053").Validate(isSeed: false));
        var plain = new NodeOptions { SeedNodes = ["akka.tcp://p2pdistill@127.0.0.1:4053"] };
        Assert.Empty(plain.Validate(isSeed: false));
        Assert.False(plain.Tls.Enabled);
        Assert.Equal("akka.tcp", plain.Scheme);
    }

    [Fact]
    public void Should_take_the_password_from_the_setting_when_there_is_no_password_file()
    {
        var tls = pki.Options(pki.Node("a"));
        tls.PasswordFile = null;
        tls.Password = TestPki.Password;
        Assert.Empty(tls.Validate());
    }

    [Fact]
    public void Should_name_a_missing_certificate_file()
    {
        var missing = Path.Combine(pki.Directory, "nope.pfx");
        var e = Single(With(pki.Options(missing)));
        Assert.Contains($"certificate file '{missing}' (--tls-cert) does not exist", e);
    }

    [Fact]
    public void Should_say_the_password_may_be_wrong()
    {
        var tls = pki.Options(pki.Node("a"));
        File.WriteAllText(tls.PasswordFile!, "not the password\n");
        var e = Single(With(tls));
        Assert.Contains("cannot open certificate", e);
        Assert.Contains("password", e);
        Assert.Contains("--tls-password-file", e);
    }

    [Fact]
    public void Should_say_where_the_password_goes_when_none_was_given()
    {
        var tls = pki.Options(pki.Node("a"));
        tls.PasswordFile = null;
        var e = Single(With(tls));
        Assert.Contains(TlsOptions.PasswordVariable, e);
    }

    [Fact]
    public void Should_name_a_missing_password_file()
    {
        var tls = pki.Options(pki.Node("a"));
        tls.PasswordFile = Path.Combine(pki.Directory, "missing-password.txt");
        Assert.Contains($"password file '{tls.PasswordFile}' (--tls-password-file) does not exist", Single(With(tls)));
    }

    [Fact]
    public void Should_refuse_a_certificate_without_its_private_key()
    {
        Assert.Contains("has no private key", Single(With(pki.Options(pki.PfxWithoutKey("a")))));
        // A bare certificate (DER) is not a PKCS#12 file at all.
        Assert.Contains("cannot open certificate", Single(With(pki.Options(pki.WithoutKey("b")))));
    }

    [Fact]
    public void Should_require_the_ca_and_name_an_unreadable_one()
    {
        var tls = pki.Options(pki.Node("a"));
        tls.CaCertificate = null;
        Assert.Contains("--tls-ca (Node:Tls:CaCertificate) is not", Single(With(tls)));

        tls.CaCertificate = Path.Combine(pki.Directory, "no-ca.pem");
        Assert.Contains($"CA certificate file '{tls.CaCertificate}' (--tls-ca) does not exist", Single(With(tls)));

        tls.CaCertificate = Path.Combine(pki.Directory, "garbage.pem");
        File.WriteAllText(tls.CaCertificate, "this is not a certificate\n");
        Assert.Contains($"cannot read CA certificate '{tls.CaCertificate}' (--tls-ca)", Single(With(tls)));
    }

    [Fact]
    public void Should_refuse_a_ca_file_that_is_not_a_ca()
    {
        var leaf = pki.WithoutKey("leaf");
        Assert.Contains("is not a CA certificate", Single(With(pki.Options(pki.Node("a"), caPath: leaf))));
    }

    [Fact]
    public void Should_refuse_a_certificate_the_ca_did_not_sign_or_that_expired()
    {
        var rogue = Single(With(pki.Options(pki.RogueNode("rogue"))));
        Assert.Contains("does not chain to the CA", rogue);
        Assert.Contains("CN=Rogue CA", rogue);
        Assert.Contains("not now", Single(With(pki.Options(pki.ExpiredNode("old")))));
    }

    [Fact]
    public void Should_refuse_tls_settings_without_a_certificate()
    {
        var e = Single(With(new TlsOptions { CaCertificate = pki.CaPath }));
        Assert.Contains("--tls-cert (Node:Tls:Certificate) is not", e);
    }

    [Fact]
    public void Should_ask_for_the_tls_scheme_in_seed_addresses()
    {
        var e = Single(With(pki.Options(pki.Node("a")), "akka.tcp://p2pdistill@10.0.0.1:4053"), isSeed: false);
        Assert.Contains("akka.ssl.tcp://p2pdistill@10.0.0.1:4053", e);
        var plain = Single(new NodeOptions { SeedNodes = ["akka.ssl.tcp://p2pdistill@10.0.0.1:4053"] }, isSeed: false);
        Assert.Contains("TLS is off", plain);
    }

    [Fact]
    public void Should_check_that_the_certificate_names_this_node_when_hostnames_are_validated()
    {
        var tls = pki.Options(pki.Node("a")); // SAN: localhost, 127.0.0.1
        tls.ValidateHostname = true;
        Assert.Empty(new NodeOptions { Tls = tls, Hostname = "127.0.0.1" }.Validate(isSeed: true));
        Assert.Empty(new NodeOptions { Tls = tls, Hostname = "0.0.0.0", PublicHostname = "localhost" }.Validate(isSeed: true));
        var e = Single(new NodeOptions { Tls = tls, Hostname = "10.1.2.3" });
        Assert.Contains("does not name this node's address '10.1.2.3'", e);
        tls.ValidateHostname = false;
        Assert.Empty(new NodeOptions { Tls = tls, Hostname = "10.1.2.3" }.Validate(isSeed: true));
    }
}
