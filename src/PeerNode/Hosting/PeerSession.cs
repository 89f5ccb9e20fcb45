namespace P2PDistill.PeerNode.Hosting;

/// <summary>
/// One life of the peer's actor system. A node that lost its coordinator for good (its node was removed, or a
/// restarted coordinator formed a new cluster) cannot join another cluster with the same actor system: the session
/// records that, the host stops, and Program starts a fresh session that joins the seed nodes again, within the
/// budget of <see cref="PeerOptions.RejoinTimeoutSeconds"/> counted from the loss.
/// </summary>
public sealed class PeerSession(string? lostCoordinator = null, DateTime? lostSinceUtc = null)
{
    private readonly object gate = new();

    /// <summary>Why the previous session lost the coordinator (null on the first session).</summary>
    public string? LostCoordinator { get; } = lostCoordinator;

    /// <summary>When the coordinator was lost, carried across sessions until a coordinator accepts this node again.</summary>
    public DateTime? LostSinceUtc { get; } = lostSinceUtc;

    /// <summary>Set when this session ends so that a fresh one can rejoin: why, and since when.</summary>
    public (string Why, DateTime SinceUtc)? Rejoin { get; private set; }

    /// <summary>The host is stopping for a reason of its own (end of run, refusal, give-up, Ctrl+C): no rejoin.</summary>
    public bool Stopping { get; private set; }

    public void MarkStopping()
    {
        lock (gate) Stopping = true;
    }

    /// <summary>Records a rejoin request unless the host is already stopping; true when recorded.</summary>
    public bool RequestRejoin(string why, DateTime sinceUtc)
    {
        lock (gate)
        {
            if (Stopping || Rejoin is not null) return false;
            Rejoin = (why, sinceUtc);
            return true;
        }
    }

    /// <summary>Seconds left of the rejoin budget for a session that follows this one.</summary>
    public static double Remaining(double budgetSeconds, DateTime sinceUtc, DateTime nowUtc) => budgetSeconds - (nowUtc - sinceUtc).TotalSeconds;
}
