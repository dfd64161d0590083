#!/usr/bin/env python3
"""tests/check_layers.py - layers only look down: kernels < weights < datasets < backbone < heads <
train < eval < tools. Fails (exit 1) on any #include from a library folder of one layer of
a header of a higher layer: the folder's own headers ("heads/seg_internal.h") by folder, the
public ones (vssm/*.h) by the layer that implements them (LAYER_OF below; a new public header
must be added there, or the check fails naming it).

KNOWN lists the edges that still break the rule, each to be removed by splitting a header
that mixes two layers; an edge that disappears must be removed from KNOWN too (the check
fails on a stale entry), so the list only shrinks.

Usage: check_layers.py [SOURCE_DIR]   (CTest: test_include_layers)"""
import glob
import os
import re
import sys

ORDER = ["kernels", "weights", "datasets", "backbone", "heads", "train", "eval", "tools"]
RANK = {d: i for i, d in enumerate(ORDER)}
LAYER_OF = {
    "common": "kernels", "ctx": "kernels", "outfile": "kernels", "source": "kernels",
    "weights": "weights",
    "image": "datasets", "video": "datasets", "seg_data": "datasets", "track_data": "datasets", "reid_data": "datasets",
    "vmamba": "backbone", "vim": "backbone", "backbone": "backbone", "infer": "backbone",
    "heads": "heads", "classifier": "heads", "segment": "heads", "track": "heads", "reid": "heads",
    "train": "train",
    "seg_eval": "eval", "eval": "eval", "plot": "eval",
    "vssm": "tools",
}
# (file, included header) pairs that still break the rule: none left. Add one only with a
# reason and a plan to remove it.
KNOWN = set()


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    os.chdir(root)
    bad, seen, n_files = [], set(), 0
    for hdr in glob.glob("include/vssm/*.h"):
        name = os.path.basename(hdr)[:-2]
        if name not in LAYER_OF:
            bad.append(f"{hdr}: a public header with no layer in tests/check_layers.py's LAYER_OF")
    for d in ORDER[:-1] + ["tools"]:
        files = sorted(glob.glob(f"{d}/**/*.[ch]", recursive=True) + glob.glob(f"{d}/**/*.cu", recursive=True) +
                       glob.glob(f"{d}/**/*.cuh", recursive=True))
        for f in files:
            n_files += 1
            for ln, line in enumerate(open(f, errors="replace"), 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                inc = m.group(1)
                parts = inc.split("/")
                if parts[0] == "vssm" and len(parts) == 2:
                    layer = LAYER_OF.get(parts[1][:-2])
                    if layer is None:
                        continue  # reported above
                elif parts[0] in RANK:
                    layer = parts[0]
                else:
                    continue
                if RANK[layer] > RANK[d]:
                    if (f, inc) in KNOWN:
                        seen.add((f, inc))
                    else:
                        bad.append(f"{f}:{ln}: includes {inc} ({layer}) from {d}: layers only look down "
                                   f"({' < '.join(ORDER)})")
    for f, inc in sorted(KNOWN - seen):
        bad.append(f"tests/check_layers.py: KNOWN lists {f} -> {inc}, which no longer breaks the rule: remove it")
    for b in bad:
        print(b)
    print(f"check_layers: {n_files} files, {len(seen)} known exceptions left, {len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
