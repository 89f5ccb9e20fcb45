using P2PDistill.Shared.Models;
using P2PDistill.Shared.Training;

namespace P2PDistill.PeerNode.Hosting;

/// <summary>What this peer node hosts. Bound from configuration section "Peer".</summary>
public sealed class PeerOptions
{
    /// <summary>teacher or student.</summary>
    public string Role { get; set; } = "student";

    /// <summary>Architecture (default: cnn-teacher for a teacher, cnn-student for a student).</summary>
    public string? Model { get; set; }

    /// <summary>Classes the network outputs; must match the coordinator's dataset.</summary>
    public int Classes { get; set; } = 10;

    /// <summary>Input shape CxHxW; must match the coordinator's dataset.</summary>
    public string InputShape { get; set; } = "1x28x28";

    /// <summary>Local data mode: where this node's copy of the dataset is (default: the coordinator's path).</summary>
    public string? DataPath { get; set; }

    /// <summary>TorchSharp intra-op threads (0: all cores of this machine).</summary>
    public int Threads { get; set; }

    /// <summary>Seconds to wait for a coordinator to accept this node before giving up (exit code 4).</summary>
    public double JoinTimeoutSeconds { get; set; } = 120;

    /// <summary>Seconds to keep trying to rejoin after losing the coordinator before giving up (exit code 4).</summary>
    public double RejoinTimeoutSeconds { get; set; } = 300;

    /// <summary>
    /// Seconds the coordinator may stay unreachable before this node checks that it is still a member of the cluster. A
    /// coordinator that is merely unreachable (paused, a network blip) is waited for, up to <see cref="RejoinTimeoutSeconds"/>:
    /// this node keeps its network and carries on when the same incarnation is reachable again. Only a coordinator whose
    /// node was removed or downed, or a restarted one (a new incarnation answering at its address or up in the cluster; it
    /// forms a new cluster), makes this node start a fresh cluster member that joins the seed nodes again.
    /// </summary>
    public double RejoinGraceSeconds { get; set; } = 10;

    public ModelRole ParsedRole => Role.Trim().ToLowerInvariant() == "teacher" ? ModelRole.Teacher : ModelRole.Student;

    public string ModelName => string.IsNullOrWhiteSpace(Model) ? (ParsedRole == ModelRole.Teacher ? "cnn-teacher" : "cnn-student") : Model;

    public ModelSpec Spec
    {
        get
        {
            var parts = InputShape.ToLowerInvariant().Split('x');
            return new ModelSpec(int.Parse(parts[0]), int.Parse(parts[1]), int.Parse(parts[2]), Classes);
        }
    }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Role.Trim().ToLowerInvariant() is not ("teacher" or "student")) errors.Add($"role must be teacher or student (got '{Role}')");
        if (!ModelRegistry.IsKnown(ModelName)) errors.Add($"model: unknown model '{ModelName}'. Known models: {string.Join(", ", ModelRegistry.Names)}.");
        if (Classes < 2) errors.Add($"classes must be >= 2 (got {Classes})");
        var parts = InputShape.ToLowerInvariant().Split('x');
        if (parts.Length != 3 || parts.Any(p => !int.TryParse(p, out var v) || v < 1))
            errors.Add($"input-shape must look like 1x28x28 (channels x height x width), got '{InputShape}'");
        if (Threads < 0) errors.Add($"threads must be >= 0 (got {Threads})");
        if (!(JoinTimeoutSeconds > 0)) errors.Add($"join-timeout must be > 0 seconds (got {JoinTimeoutSeconds})");
        if (!(RejoinTimeoutSeconds > 0)) errors.Add($"rejoin-timeout must be > 0 seconds (got {RejoinTimeoutSeconds})");
        if (!(RejoinGraceSeconds > 0)) errors.Add($"rejoin-grace must be > 0 seconds (got {RejoinGraceSeconds})");
        return errors;
    }
}
