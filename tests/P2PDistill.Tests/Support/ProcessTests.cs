namespace P2PDistill.Tests.Support;

/// <summary>
/// The one xunit collection of every test class that starts node processes (categories MultiProcess and Namespace,
/// and the Fault classes that start processes). Its classes run one after another, and with parallelization disabled
/// the collection runs alone, after the other collections: a coordinator and three peers already share the machine's
/// cores, and two such clusters at once would only slow each other down. Every other class is its own collection and
/// runs in parallel with the rest (xunit's defaults: no xunit.runner.json, no assembly attribute).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessTests
{
    public const string Name = "Process tests";
}
