using P2PDistill.Shared.Data;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Training;

namespace P2PDistill.PeerNode.Hosting;

/// <summary>What this peer node hosts. Bound from configuration section "Peer"; immutable.</summary>
public sealed record PeerOptions
{
    /// <summary>teacher or student.</summary>
    public ModelRole Role { get; init; } = ModelRole.Student;

    /// <summary>Architecture (default: cnn-teacher for a teacher, cnn-student for a student).</summary>
    public string? Model { get; init; }

    /// <summary>Classes the network outputs; must match the coordinator's dataset.</summary>
    public int Classes { get; init; } = 10;

    /// <summary>Input shape CxHxW; must match the coordinator's dataset.</summary>
    public ImageShape InputShape { get; init; } = new(1, 28, 28);

    /// <summary>Local data mode: where this node's copy of the dataset is (default: the coordinator's path).</summary>
    public string? DataPath { get; init; }

    /// <summary>TorchSharp intra-op threads (0: all cores of this machine).</summary>
    public int Threads { get; init; }

    /// <summary>Seconds to wait for a coordinator to accept this node before giving up (exit code 4).</summary>
    public double JoinTimeoutSeconds { get; init; } = 120;

    /// <summary>Seconds to keep trying to rejoin after losing the coordinator before giving up (exit code 4).</summary>
    public double RejoinTimeoutSeconds { get; init; } = 300;

    /// <summary>
    /// Seconds the coordinator may stay unreachable before this node checks that it is still a member of the cluster. A
    /// coordinator that is merely unreachable (paused, a network blip) is waited for, up to <see cref="RejoinTimeoutSeconds"/>:
    /// this node keeps its network and carries on when the same incarnation is reachable again. Only a coordinator whose
    /// node was removed or downed, or a restarted one (a new incarnation answering at its address or up in the cluster; it
    /// forms a new cluster), makes this node start a fresh cluster member that joins the seed nodes again.
    /// </summary>
    public double RejoinGraceSeconds { get; init; } = 10;

    public string ModelName => string.IsNullOrWhiteSpace(Model) ? (Role == ModelRole.Teacher ? "cnn-teacher" : "cnn-student") : Model;

    public ModelSpec Spec => new(InputShape.Channels, InputShape.Height, InputShape.Width, Classes);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!ModelRegistry.IsKnown(ModelName)) errors.Add($"model: unknown model '{ModelName}'. Known models: {string.Join(", ", ModelRegistry.Names)}.");
        if (Classes < 2) errors.Add($"classes must be >= 2 (got {Classes})");
        if (Threads < 0) errors.Add($"threads must be >= 0 (got {Threads})");
        if (!(JoinTimeoutSeconds > 0)) errors.Add($"join-timeout must be > 0 seconds (got {JoinTimeoutSeconds})");
        if (!(RejoinTimeoutSeconds > 0)) errors.Add($"rejoin-timeout must be > 0 seconds (got {RejoinTimeoutSeconds})");
        if (!(RejoinGraceSeconds > 0)) errors.Add($"rejoin-grace must be > 0 seconds (got {RejoinGraceSeconds})");
        return errors;
    }
}
