using P2PDistill.Shared.Hosting;

namespace P2PDistill.Coordinator.Cli;

/// <summary>The coordinator's friendly flags and the configuration keys they set.</summary>
public static class CoordinatorCli
{
    public const string Usage = """
        Usage: p2pdistill-coordinator [--single-process | --embedded] [options]

          (default)         run the coordinator of a cluster: peer nodes (p2pdistill-peer) join it and train
          --embedded        coordinator, teacher and --students students as actors in this one process
          --single-process  the reference trainer: one loop, no actors

        Exported models (BASE.json cards beside BASE.dat, BASE.safetensors and BASE.onnx; MODEL: a card, or an .onnx file
        run by ONNX Runtime):
               p2pdistill-coordinator evaluate --model MODEL [--model ...] [--dataset ...]        (evaluate --help)
               p2pdistill-coordinator predict --model MODEL [--model ...] IMAGE...                (predict --help)
               p2pdistill-coordinator export --model MODEL.json [--model ...] --onnx              (export --help)

        The paper's comparison (modes x seeds x cohort sizes x temperatures, resumable):
               p2pdistill-coordinator experiment [--modes ...] [--seeds 1,2,3] [--students 2,4] [--epochs N] (experiment --help)
        """;

    public static CommandLine Create() => new(
    [
        .. NodeFlags.For(seed: true),
        new("single-process", ["Run:SingleProcess"], "train teacher and students in one loop, without actors (the reference runner)", IsSwitch: true),
        new("embedded", ["Run:Embedded"], "host the coordinator and every model actor in this process (one actor system, no network)", IsSwitch: true),
        new("resume", ["Run:Resume"], "continue an interrupted run: its run directory (RUN_DIR); give the same settings as the first start"),
        new("min-students", ["Run:MinStudents"], "cluster: students that must join (with a teacher) before training starts (default 2)"),
        new("step-timeout", ["Run:StepTimeoutSeconds"], "seconds a model may take for half a step before it leaves the cohort (default 60)"),
        new("eval-timeout", ["Run:EvalTimeoutSeconds"], "seconds a model may take for an evaluation (default 600)"),
        new("teacher-lost", ["Run:TeacherLost"], "wait (default: pause until a teacher joins) or continue-ml"),
        new("step-protocol", ["Run:StepProtocol"], "folded (default: the teacher trains its whole step at once, one round trip per student step) or classic (two round trips)"),
        new("teacher-lookahead", ["Run:TeacherLookahead"], "folded protocol: steps the teacher may run ahead of the students, 0-8 (default 2)"),
        new("task", ["Training:Task", "Data:Task"], "classification (default) or detection: the models, losses, metrics and default data set follow"),
        new("dataset", ["Data:Dataset"], "fashion-mnist (default), mnist, folder, synthetic, medmnist, pneumoniamnist; detection: synthetic-detection (default), yolo, coco"),
        new("data-mode", ["Data:Mode"], "ship (default: the coordinator sends every batch) or local (every node has the dataset)"),
        new("data-path", ["Data:Path"], "directory of the IDX files or of the image folder"),
        new("image-size", ["Data:ImageSize"], "image folder and detection sets: side length images are resized (letterboxed) to (default 64)"),
        new("channels", ["Data:Channels"], "image folder and detection sets: 1 (grayscale) or 3 (RGB, default)"),
        new("train-limit", ["Data:TrainLimit"], "use only the first N training images (0: all)"),
        new("test-limit", ["Data:TestLimit"], "use only the first N test images (0: all)"),
        new("crop-padding", ["Data:CropPadding"], "augmentation: random crop after zero padding of N pixels"),
        new("flip", ["Data:HorizontalFlip"], "augmentation: random horizontal flip", IsSwitch: true),
        new("epochs", ["Training:Epochs"], "training epochs (default 1)"),
        new("batch-size", ["Training:BatchSize"], "images per step (default 128)"),
        new("max-steps", ["Training:MaxStepsPerEpoch"], "stop each epoch after N steps (0: whole epoch)"),
        new("seed", ["Training:Seed", "Data:Seed"], "run seed: models, shuffling, augmentation, splits (default 1)"),
        new("mode", ["Training:Mode"], "independent, kd, ml or kd-ml (default)"),
        new("alpha", ["Training:Alpha"], "weight of the KD term (default 1)"),
        new("beta", ["Training:Beta"], "weight of the ML term (default 1)"),
        new("rampup-epochs", ["Training:RampUpEpochs"], "ramp alpha and beta up over this many epochs, sigmoid-shaped (default 0: no ramp)"),
        new("weight-ce", ["Training:WeightCe"], "weight of the cross-entropy term (default 1)"),
        new("temperature", ["Training:Temperature"], "temperature of both KD and ML (default 1)"),
        new("temperature-kd", ["Training:TemperatureKd"], "temperature of KD only"),
        new("temperature-ml", ["Training:TemperatureMl"], "temperature of ML only"),
        new("students", ["Training:Students"], "number of students (single-process and embedded runs; default 2)"),
        new("teacher-model", ["Training:TeacherModel"], "teacher architecture (default cnn-teacher; det-teacher for detection)"),
        new("student-model", ["Training:StudentModel"], "student architecture (default cnn-student; det-student for detection)"),
        new("student-models", ["Training:StudentModels"], "a mixed cohort: comma-separated student architectures, one per student in order (single-process, embedded, experiment; peers choose their own with --model)"),
        new("eval-every", ["Training:EvalEveryEpochs"], "evaluate every N epochs (default 1; the last epoch always)"),
        new("threads", ["Training:Threads"], "TorchSharp threads in this process (0: all cores)"),
        new("checkpoint-every", ["Training:CheckpointEverySteps"], "also checkpoint every N steps (default 0: at the end of each epoch only)"),
        new("keep-checkpoints", ["Training:KeepCheckpoints"], "checkpoints kept (default 3)"),
        new("output", ["Training:OutputDirectory"], "parent folder of run directories (default runs)"),
        new("run-name", ["Training:RunName"], "name of the run directory (default: a timestamp)"),
        new("optimizer", ["Optimizer:Name"], "sgd, adam (default) or adamw"),
        new("lr", ["Optimizer:LearningRate"], "learning rate (default 0.001)"),
        new("momentum", ["Optimizer:Momentum"], "SGD momentum (default 0.9)"),
        new("weight-decay", ["Optimizer:WeightDecay"], "weight decay (default 0)"),
        new("schedule", ["Optimizer:Schedule"], "learning-rate schedule: constant (default), cosine or step"),
        new("warmup", ["Optimizer:WarmupSteps"], "linear warm-up steps (default 0)"),
    ]);
}
