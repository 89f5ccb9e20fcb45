using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace P2PDistill.Testing;

/// <summary>Nodes on 127.0.0.1: a free port and the address of a coordinator listening on one.</summary>
public static class Loopback
{
    /// <summary>A loopback port that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The seed address of a node on <paramref name="port"/> (<c>akka.ssl.tcp</c> with TLS).</summary>
    public static string Seed(int port, bool tls = false) =>
        string.Create(CultureInfo.InvariantCulture, $"akka{(tls ? ".ssl" : "")}.tcp://p2pdistill@127.0.0.1:{port}");
}
