using P2PDistill.Coordinator.Experiments;
using P2PDistill.Shared.Hosting;

namespace P2PDistill.Tests.Experiments;

/// <summary>
/// Experiment folders written before detection (results.csv with accuracy and AUC columns, experiment.json without a task) are
/// read, continued and reported as that version reported them.
/// </summary>
[Trait("Category", "Unit")]
public sealed class ExperimentCompatibilitySpecs : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-experiment-compat-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>Eight rows of the PneumoniaMNIST experiment of issue 12 (20 epochs, seeds 1 and 2), as the version before detection wrote them.</summary>
    private const string Csv = """
        students,temperature,mode,seed,epochs,steps,seconds,teacher,student_mean,ensemble,student_accuracies,teacher_auc,student_mean_auc,ensemble_auc,best_epoch,best_ensemble,best_ensemble_auc
        2,,independent,1,20,720,1061.3,0.8301282051282052,0.8357371794871795,0.8333333333333334,0.8333333333333334;0.8381410256410257,0.9426473811089195,0.9388313609467456,0.9419734823580977,17,0.8397435897435898,0.9393655489809336
        2,1,kd,1,20,720,768.6,0.8301282051282052,0.8413461538461539,0.844551282051282,0.844551282051282;0.8381410256410257,0.9426473811089195,0.937680802103879,0.938253342099496,17,0.844551282051282,0.9377547666009205
        2,1,ml,1,20,720,521.3,0.8301282051282052,0.8509615384615385,0.8477564102564102,0.8381410256410257;0.8637820512820513,0.9426473811089195,0.9390587332895025,0.9406366425597195,17,0.8413461538461539,0.9380834976988823
        2,1,kd-ml,1,20,720,232.0,0.8301282051282052,0.8397435897435898,0.8413461538461539,0.8317307692307693;0.8477564102564102,0.9426473811089195,0.9380615822923515,0.9389162831470523,17,0.844551282051282,0.9378040762656147
        2,,independent,2,20,720,236.8,0.8189102564102564,0.8661858974358974,0.8669871794871795,0.8798076923076923;0.8525641025641025,0.9380670611439842,0.9371931843085689,0.939212141135218,15,0.8461538461538461,0.9408119658119658
        2,1,kd,2,20,720,207.0,0.8189102564102564,0.8477564102564102,0.842948717948718,0.8589743589743589;0.8365384615384616,0.9380670611439842,0.9398860398860398,0.9426528599605523,18,0.8333333333333334,0.9428720140258602
        2,1,ml,2,20,720,207.9,0.8189102564102564,0.8621794871794872,0.8589743589743589,0.8653846153846154;0.8589743589743589,0.9380670611439842,0.9398449484987946,0.9400504054350208,19,0.8637820512820513,0.9460607056760902
        2,1,kd-ml,2,20,720,217.6,0.8189102564102564,0.8397435897435898,0.8317307692307693,0.842948717948718;0.8365384615384616,0.9380670611439842,0.9406667762436993,0.9410749506903353,18,0.8301282051282052,0.9408503177733947
        """;

    private const string Settings = """
        {
          "batch_size": "128",
          "channels": "3",
          "crop_padding": "0",
          "dataset": "pneumoniamnist",
          "data_path": "",
          "data_seed": "1",
          "epochs": "20",
          "flip": "False",
          "image_size": "64",
          "max_steps": "0",
          "optimizer": "adam lr 0.001 momentum 0.9 wd 0 constant step 10x0.1 warmup 0",
          "student_model": "cnn-student",
          "synthetic": "2048/512/4/28/1",
          "teacher_model": "cnn-teacher",
          "test_limit": "0",
          "train_limit": "0",
          "weights": "ce 1, alpha 1, beta 1"
        }
        """;

    /// <summary>results.md as the version before detection wrote it from <see cref="Csv"/> (<c>--report-only</c>).</summary>
    private const string Report = """
        # Experiment: teacher + students, modes compared

        - dataset pneumoniamnist; teacher cnn-teacher, students cnn-student; 20 epoch(s), batch 128; adam lr 0.001, constant; w_ce 1, alpha 1, beta 1
        - seeds 1, 2; test accuracy after the last epoch, mean ± sample std (n − 1) over seeds; the student ensemble averages the students' softmax probabilities
        - single-process reference trainer (`p2pdistill-coordinator experiment`); independent runs do not depend on T and appear under every T

        ## teacher + 2 students, T = 1

        | mode | seeds | teacher | student-1 | student-2 | student mean | student ensemble |
        |---|---|---|---|---|---|---|
        | independent | 2 | 0.8245 ± 0.0079 | 0.8566 ± 0.0329 | 0.8454 ± 0.0102 | 0.8510 ± 0.0215 | **0.8502 ± 0.0238** |
        | kd | 2 | 0.8245 ± 0.0079 | 0.8518 ± 0.0102 | 0.8373 ± 0.0011 | 0.8446 ± 0.0045 | **0.8438 ± 0.0011** |
        | ml | 2 | 0.8245 ± 0.0079 | 0.8518 ± 0.0193 | 0.8614 ± 0.0034 | 0.8566 ± 0.0079 | **0.8534 ± 0.0079** |
        | kd-ml | 2 | 0.8245 ± 0.0079 | 0.8373 ± 0.0079 | 0.8421 ± 0.0079 | 0.8397 ± 0.0000 | **0.8365 ± 0.0068** |

        Test ROC-AUC (final), and the ensemble at the epoch best on the validation split:

        | mode | seeds | teacher AUC | student mean AUC | ensemble AUC | ensemble accuracy, best epoch on val | ensemble AUC, best epoch on val |
        |---|---|---|---|---|---|---|
        | independent | 2 | 0.9404 ± 0.0032 | 0.9380 ± 0.0012 | **0.9406 ± 0.0020** | 0.8429 ± 0.0045 | 0.9401 ± 0.0010 |
        | kd | 2 | 0.9404 ± 0.0032 | 0.9388 ± 0.0016 | **0.9405 ± 0.0031** | 0.8389 ± 0.0079 | 0.9403 ± 0.0036 |
        | ml | 2 | 0.9404 ± 0.0032 | 0.9395 ± 0.0006 | **0.9403 ± 0.0004** | 0.8526 ± 0.0159 | 0.9421 ± 0.0056 |
        | kd-ml | 2 | 0.9404 ± 0.0032 | 0.9394 ± 0.0018 | **0.9400 ± 0.0015** | 0.8373 ± 0.0102 | 0.9393 ± 0.0022 |

        **Verdict.** teacher + 2 students, T = 1: does kd-ml's student ensemble beat kd's and ml's? no on the mean, and where it trails the difference is not significant. It trails kd's by 0.72 points (0.8365 vs 0.8438; paired over 2 seeds: -0.72 ± 0.40 points (SE), t(1) = -1.80, p = 0.3228); it trails ml's by 1.68 points (0.8365 vs 0.8534; paired over 2 seeds: -1.68 ± 1.04 points (SE), t(1) = -1.62, p = 0.3529) (2 seed(s) for kd-ml).

        **Verdict on ROC-AUC.** teacher + 2 students, T = 1: does kd-ml's student ensemble beat kd's and ml's in ROC-AUC? no on the mean, and where it trails the difference is not significant. It trails kd's by 0.05 points (0.9400 vs 0.9405; paired over 2 seeds: -0.05 ± 0.11 points (SE), t(1) = -0.41, p = 0.7532); it trails ml's by 0.03 points (0.9400 vs 0.9403; paired over 2 seeds: -0.03 ± 0.14 points (SE), t(1) = -0.25, p = 0.8420) (2 seed(s) for kd-ml).

        ![accuracy](plots/accuracy-s2-T1.png)

        """;

    [Fact]
    public void Should_read_a_row_written_before_detection()
    {
        var row = ExperimentRow.FromCsv(Csv.Split('\n')[4]);

        Assert.Equal(new ExperimentKey(2, 1, "kd-ml", 1), row.Key);
        Assert.Equal((20, 720L, 232.0), (row.Epochs, row.Steps, row.Seconds));
        Assert.Equal((0.8301282051282052, 0.8413461538461539), (row.Teacher, row.Ensemble));
        Assert.Equal([0.8317307692307693, 0.8477564102564102], row.Students);
        Assert.Equal((0.9426473811089195, 0.9380615822923515, 0.9389162831470523), (row.TeacherSecond, row.StudentMeanSecond, row.EnsembleSecond));
        Assert.Equal((17, 0.844551282051282, 0.9378040762656147), (row.BestEpoch, row.BestEnsemble, row.BestEnsembleSecond));
        Assert.Equal(Csv.Split('\n')[4], row.ToCsv());
        Assert.Equal(Csv.Split('\n')[0], ExperimentMetrics.Classification.CsvHeader);
    }

    [Fact]
    public async Task Should_report_a_folder_written_before_detection_byte_for_byte_and_leave_its_files_alone()
    {
        var output = Path.Combine(dir, "pneumonia");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "results.csv"), Csv + "\n");
        File.WriteAllText(Path.Combine(output, "experiment.json"), Settings);

        var (code, stdout, stderr) = await ExperimentRuns.Run(
            ["--dataset", "pneumoniamnist", "--epochs", "20", "--students", "2", "--seeds", "1,2", "--output", output, "--report-only"]);

        Assert.True(code == (int)ExitCode.Completed, stdout + stderr);
        Assert.Equal("", stderr);
        Assert.Contains("8 run(s), 8 already done, report only", stdout);
        Assert.Equal(Report, File.ReadAllText(Path.Combine(output, "results.md")));
        Assert.Equal(Csv + "\n", File.ReadAllText(Path.Combine(output, "results.csv")));
        Assert.Equal(Settings, File.ReadAllText(Path.Combine(output, "experiment.json"))); // no task added
        Assert.True(File.Exists(Path.Combine(output, "plots", "accuracy-s2-T1.png")));
    }
}
