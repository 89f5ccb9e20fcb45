using System.ComponentModel;
using P2PDistill.Shared.Settings;

namespace P2PDistill.Shared.Training;

/// <summary>A network's part in the cohort: the teacher (slot 0) or a student (slots 1, 2, ...). Written teacher or student.</summary>
[TypeConverter(typeof(ModelRoleConverter))]
public enum ModelRole { Teacher, Student }

public sealed class ModelRoleConverter() : SettingEnumConverter<ModelRole>((ModelRole.Teacher, "teacher", []), (ModelRole.Student, "student", []));
