// MSBuild task compiled by RoslynCodeTaskFactory (see TorchSharpNativeFix.targets).
//
// TorchSharp 0.107's libLibTorchSharp.so lists GLIBCXX_3.4.32 (GCC 13's libstdc++) among its
// version needs only because of the marker symbol std::ios_base_library_init, which is never
// relocated against. Debian 12 and Ubuntu 22.04 ship GLIBCXX_3.4.30, so the stock library does
// not load there. Marking that Vernaux entry VER_FLG_WEAK lets the loader accept the missing
// version. The task patches copies in build/publish outputs only, only when the system
// libstdc++ lacks the version, and is idempotent.
#nullable enable
using System;
using System.Runtime.InteropServices;
using System.Collections.Generic;
using System.IO;
using System.Text;
#if !P2PDISTILL_TESTS
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
#endif

#if !P2PDISTILL_TESTS
public class PatchGlibcxxNeed : Microsoft.Build.Utilities.Task
{
    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>The version whose need is made weak.</summary>
    public string Version { get; set; } = "GLIBCXX_3.4.32";

    /// <summary>Semicolon-separated candidate paths of the system libstdc++.</summary>
    public string SystemLibraries { get; set; } =
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6;/usr/lib/aarch64-linux-gnu/libstdc++.so.6;/usr/lib64/libstdc++.so.6;/usr/lib/libstdc++.so.6;/lib64/libstdc++.so.6";

    /// <summary>Patch even when the system library has the version (used by tests).</summary>
    public bool Force { get; set; }

    [Output] public ITaskItem[] Patched { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) && !Force) return true;
        if (!Force)
        {
            string? lib = null;
            foreach (var c in SystemLibraries.Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries))
                if (File.Exists(c)) { lib = c; break; }
            if (lib is null)
            {
                Log.LogMessage(MessageImportance.Normal, "PatchGlibcxxNeed: no system libstdc++ found; nothing to do.");
                return true;
            }
            if (ElfVersionNeeds.Contains(File.ReadAllBytes(lib), Encoding.ASCII.GetBytes(Version + "\0")))
            {
                Log.LogMessage(MessageImportance.Low, $"PatchGlibcxxNeed: {lib} provides {Version}; nothing to do.");
                return true;
            }
        }

        var patched = new List<ITaskItem>();
        foreach (var item in Files)
        {
            var path = item.GetMetadata("FullPath");
            if (!File.Exists(path)) continue;
            try
            {
                var bytes = File.ReadAllBytes(path);
                var result = ElfVersionNeeds.MakeWeak(bytes, Version);
                if (result == ElfVersionNeeds.PatchResult.Patched)
                {
                    var stamp = File.GetLastWriteTimeUtc(path);
                    var tmp = path + ".p2pdistill-tmp";
                    File.WriteAllBytes(tmp, bytes);
                    // Rename over the file: a hard link into a package cache is replaced, never written through.
                    File.Replace(tmp, path, null);
                    File.SetLastWriteTimeUtc(path, stamp);
                    patched.Add(item);
                    Log.LogMessage(MessageImportance.High, $"PatchGlibcxxNeed: made the {Version} need weak in {path}");
                }
                else
                {
                    Log.LogMessage(MessageImportance.Low, $"PatchGlibcxxNeed: {path}: {result}");
                }
            }
            catch (Exception e)
            {
                Log.LogError($"PatchGlibcxxNeed: cannot patch {path}: {e.Message}");
            }
        }
        Patched = patched.ToArray();
        return !Log.HasLoggedErrors;
    }
}
#endif

/// <summary>Reads and edits the version needs (.gnu.version_r) of a 64-bit little-endian ELF shared library.</summary>
public static class ElfVersionNeeds
{
    private const ushort VerFlgWeak = 0x2;
    private const uint ShtGnuVerneed = 0x6ffffffe;

    public enum PatchResult { Patched, AlreadyWeak, NoSuchNeed, NotElf64 }

    public static PatchResult MakeWeak(byte[] b, string version)
    {
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2 || b[5] != 1)
            return PatchResult.NotElf64;
        ulong shoff = U64(b, 0x28);
        int shentsize = U16(b, 0x3A), shnum = U16(b, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            int sh = checked((int)shoff + i * shentsize);
            if (U32(b, sh + 4) != ShtGnuVerneed) continue;
            int off = checked((int)U64(b, sh + 0x18));
            int link = (int)U32(b, sh + 0x28);
            int strSh = checked((int)shoff + link * shentsize);
            int strOff = checked((int)U64(b, strSh + 0x18));
            int need = off;
            while (true)
            {
                int cnt = U16(b, need + 2);
                int aux = need + (int)U32(b, need + 8);
                for (int a = 0; a < cnt; a++)
                {
                    string name = CString(b, strOff + (int)U32(b, aux + 8));
                    if (name == version)
                    {
                        ushort flags = (ushort)U16(b, aux + 4);
                        if ((flags & VerFlgWeak) != 0) return PatchResult.AlreadyWeak;
                        flags |= VerFlgWeak;
                        b[aux + 4] = (byte)flags;
                        b[aux + 5] = (byte)(flags >> 8);
                        return PatchResult.Patched;
                    }
                    uint nextAux = U32(b, aux + 12);
                    if (nextAux == 0) break;
                    aux += (int)nextAux;
                }
                uint next = U32(b, need + 12);
                if (next == 0) break;
                need += (int)next;
            }
        }
        return PatchResult.NoSuchNeed;
    }

    private static int U16(byte[] b, int o) => b[o] | (b[o + 1] << 8);
    private static uint U32(byte[] b, int o) => (uint)(b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24));
    private static ulong U64(byte[] b, int o) => U32(b, o) | ((ulong)U32(b, o + 4) << 32);

    private static string CString(byte[] b, int o)
    {
        int e = o;
        while (e < b.Length && b[e] != 0) e++;
        return Encoding.ASCII.GetString(b, o, e - o);
    }

    public static bool Contains(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
        {
            if (hay[i] != needle[0]) continue;
            int j = 1;
            while (j < needle.Length && hay[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }
}
