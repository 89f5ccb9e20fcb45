using System.Globalization;
using Akka.Serialization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using P2PDistill.Benchmarks;
using P2PDistill.Benchmarks.Support;

const string usage = """
    Usage: dotnet run -c Release --project tests/P2PDistill.Benchmarks -- COMMAND [options]
       or: dotnet tests/P2PDistill.Benchmarks/bin/Release/net10.0/p2pdistill-benchmarks.dll COMMAND [options]

      serialization  BenchmarkDotNet: encode + decode of TrainStep, StepLogits, ApplyTargets (batch 128), step serializer vs Hyperion,
                     with allocations. Options are BenchmarkDotNet's (e.g. --job short, --job dry, --filter '*Logits*');
                     runs in process unless --out-of-process is given; results in runs/benchmarks/serialization/.
      throughput     teacher + students trained single-process, embedded and multi-process (127.0.0.1) with the same settings:
                     images/s, ratios, step time against the slowest model's compute, coordination overhead and share.
      scaling        teacher + N students (tiny models, synthetic data) for N in a list: step overhead and coordinator bytes per
                     step against N, with the per-student slope.
      wire-precision the same cohort trained single-process with float32 and with half-precision outputs and targets (what a float16
                     wire would carry): final test metrics of both, per seed.
      memory         a long run sampling every node's resident memory (VmRSS) into a CSV, with drift per 1000 steps.
      coordinator-scale  teacher + N compute-free students over a few processes, N up to 128: the coordinator's own CPU per step
                     and step latency against N, with the CPU per student.

    COMMAND --help lists a command's options. Results (Markdown reports, CSVs, run directories) go to --results (default runs/benchmarks).
    """;

if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
{
    Console.WriteLine(usage);
    return args.Length == 0 ? 2 : 0;
}

var command = args[0];
var rest = args[1..];
if (command == "serialization") return Serialization(rest);

BenchOptions? options = command switch
{
    "throughput" => ThroughputBenchmark.Options(),
    "scaling" => ScalingBenchmark.Options(),
    "memory" => MemoryBenchmark.Options(),
    "wire-precision" => WirePrecisionBenchmark.Options(),
    "coordinator-scale" => CoordinatorScaleBenchmark.Options(),
    _ => null,
};
if (options is null)
{
    Console.Error.WriteLine($"error: unknown command '{command}'.");
    Console.Error.WriteLine(usage);
    return 2;
}
if (rest.Contains("--help") || rest.Contains("-h"))
{
    Console.WriteLine($"Options of {command}:");
    Console.WriteLine(options.Help());
    return 0;
}
if (!options.Parse(rest, Console.Error)) return 2;
try
{
    return command switch
    {
        "throughput" => ThroughputBenchmark.Run(options, Console.Out),
        "scaling" => ScalingBenchmark.Run(options, Console.Out),
        "wire-precision" => WirePrecisionBenchmark.Run(options, Console.Out),
        "coordinator-scale" => CoordinatorScaleBenchmark.Run(options, Console.Out),
        _ => MemoryBenchmark.Run(options, Console.Out),
    };
}
catch (Exception e) when (e is FormatException or ArgumentException or FileNotFoundException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

static int Serialization(string[] args)
{
    // Wire sizes first: BenchmarkDotNet measures time and allocations, not bytes on the wire.
    using (var system = StepMessageSamples.System())
    {
        var hyperion = StepMessageSamples.Hyperion();
        Console.WriteLine("Wire size per message (bytes): step serializer / Hyperion");
        foreach (var message in new object[] { StepMessageSamples.TrainStep(), StepMessageSamples.StepLogits(), StepMessageSamples.ApplyTargets() })
        {
            var serializer = system.Serialization.FindSerializerFor(message);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {message.GetType().Name,-12} {serializer.ToBinary(message).Length,9:N0} / {StepMessageSamples.HyperionBytes(hyperion, message).Length,9:N0}"));
        }
        system.Terminate().Wait(TimeSpan.FromSeconds(10));
    }

    var list = args.ToList();
    bool outOfProcess = list.Remove("--out-of-process");
    if (!outOfProcess && !list.Contains("--inProcess")) list.Add("--inProcess");
    if (!list.Contains("--filter")) list.AddRange(["--filter", "*"]);
    var config = DefaultConfig.Instance.WithArtifactsPath(Path.GetFullPath(Path.Combine("runs", "benchmarks", "serialization")));
    var summaries = BenchmarkSwitcher.FromTypes([typeof(SerializationBenchmarks)]).Run(list.ToArray(), config);
    return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
}
