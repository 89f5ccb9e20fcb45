namespace P2PDistill.Coordinator.SingleProcess;

/// <summary>How the coordinator runs. Bound from configuration section "Run".</summary>
public sealed class RunOptions
{
    /// <summary>Train the cohort in one loop in this process, without actors.</summary>
    public bool SingleProcess { get; set; }
}
