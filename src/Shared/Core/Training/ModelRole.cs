namespace P2PDistill.Shared.Training;

/// <summary>A network's part in the cohort: the teacher (slot 0) or a student (slots 1, 2, ...).</summary>
public enum ModelRole { Teacher, Student }
