using System.ComponentModel;

namespace P2PDistill.Shared.Settings;

/// <summary>What the cohort learns (docs/design/detection.md §5): <c>--task classification</c> (default) or <c>detection</c>.</summary>
[TypeConverter(typeof(TaskKindConverter))]
public enum TaskKind
{
    /// <summary>One label per image; the models output class logits [N, C].</summary>
    Classification,
    /// <summary>Boxes per image; the models output a dense map [N, L, C + 4B] (a one-stage anchor-free detector).</summary>
    Detection,
}

public sealed class TaskKindConverter() : SettingEnumConverter<TaskKind>(
    (TaskKind.Classification, "classification", ["cls"]), (TaskKind.Detection, "detection", ["det"]));
