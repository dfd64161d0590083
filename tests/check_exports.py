#!/usr/bin/env python3
"""tests/check_exports.py - libvssm.so exports exactly the declared public API.

Fails (exit 1) when the shared library exports a symbol that is not a function declared in
a public header (include/vssm/*.h: an internal helper, a symbol without the vssm_ prefix,
something re-exported from a static dependency), or when a declared function is not
exported (a declaration without VSSM_API, or a function with no definition).

With --static LIBVSSM_A (first), also the static archive: every global symbol it defines
carries the vssm_ prefix (C), or names a vssm_ function (C++, CUDA's host wrappers), so a
program linking libvssm.a statically never meets "multiple definition" for a name of its own
(internal helpers named plot_text or seg_conv_load did; CUDA kernels are static).

Usage: check_exports.py [--static LIBVSSM_A] NM LIBVSSM_SO INCLUDE_DIR...   (CTest: test_exports)"""
import glob
import os
import re
import subprocess
import sys


def top_level_statements(text):
    """The statements at file scope (outside braces), comments and preprocessor lines removed."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^\s*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    text = text.replace('extern ""', " ")   # the extern "C" { } guard: its braces are blanked below
    depth, out, cur, guard = 0, [], [], 0
    for tok in re.findall(r"\{|\}|;|[^{};]+", text):
        if tok == "{":
            if depth == 0 and "".join(cur).strip() == "":
                guard += 1        # a bare "{": the extern "C" block, stays file scope
                continue
            depth += 1
        elif tok == "}":
            if depth == 0 and guard:
                guard -= 1
                continue
            depth -= 1
        if depth == 0 and tok == ";":
            out.append("".join(cur).strip())
            cur = []
        elif depth == 0:
            cur.append(tok)
    return out


def declared_functions(headers):
    names = {}
    for h in headers:
        for st in top_level_statements(open(h).read()):
            st = " ".join(st.split())
            if not st or st.startswith(("typedef", "struct", "enum", "union", "}")) or "(" not in st:
                continue
            m = re.search(r"([A-Za-z_]\w*)\s*\(", st.split("__attribute__")[0])
            if m:
                names[m.group(1)] = os.path.basename(h)
    return names


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    args = sys.argv[1:]
    static = None
    if args[0] == "--static":
        static, args = args[1], args[2:]
    nm, lib, incdirs = args[0], args[1], args[2:]
    headers = sorted(h for d in incdirs for h in glob.glob(os.path.join(d, "*.h")))
    declared = declared_functions(headers)
    if len(declared) < 100:
        print(f"check_exports: only {len(declared)} declarations found in {incdirs}: parser broken?")
        return 1
    res = subprocess.run([nm, "-D", "--defined-only", lib], capture_output=True, text=True)
    if res.returncode != 0:
        print(f"check_exports: {nm} failed on {lib}: {res.stderr}")
        return 1
    exported = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            exported[parts[2].split("@")[0]] = parts[1]
    bad = []
    for name, kind in sorted(exported.items()):
        if not name.startswith("vssm_"):
            bad.append(f"exported without the vssm_ prefix: {name} ({kind})")
        elif name not in declared:
            bad.append(f"exported but declared in no public header: {name} ({kind})")
        elif kind not in "Tt":
            bad.append(f"exported as a non-function: {name} ({kind})")
    for name, hdr in sorted(declared.items()):
        if name not in exported:
            bad.append(f"declared in {hdr} but not exported (VSSM_API missing, or no definition): {name}")
    n_static = 0
    if static:
        res = subprocess.run([nm, "-g", "--defined-only", static], capture_output=True, text=True)
        if res.returncode != 0:
            print(f"check_exports: {nm} failed on {static}: {res.stderr}")
            return 1
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) != 3 or parts[1] in "wvUVW":  # weak: never a multiple definition
                continue
            name = parts[2]
            n_static += 1
            # C: vssm_...; C++ (the CUDA host wrappers): _Z<len>vssm_...
            if not (name.startswith("vssm_") or re.match(r"_Z\d+vssm_", name)):
                bad.append(f"defined in {os.path.basename(static)} without the vssm_ prefix: {name} ({parts[1]})")
    if bad:
        print("\n".join(bad))
    print(f"check_exports: {len(exported)} exported, {len(declared)} declared, {n_static} global in the archive, "
          f"{len(bad)} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
