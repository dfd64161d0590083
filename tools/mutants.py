#!/usr/bin/python3
"""tools/mutants.py - are the tests able to fail? Each mutant of tests/mutants/mutants.json is a
small wrong edit of the library (an off-by-one, a comparison turned, a rounding changed, a
constant dropped) that some test must catch. For every mutant this applies the edit to a
scratch copy of the tree (a git worktree of HEAD: the checkout you work in is not touched),
rebuilds, runs the CTest tests the mutant names, and counts it killed when one fails.

    python3 tools/mutants.py                 # all (about 20 minutes on 2 cores)
    python3 tools/mutants.py -k pth -k scan  # the mutants whose name contains pth or scan
    python3 tools/mutants.py --list
    python3 tools/mutants.py --catalogue new.json    # candidates, before they join the catalogue
    python3 tools/mutants.py --check         # only: does every mutant still apply (CTest: test_mutants_apply)

Exit 0 when every mutant was killed; 1 when one survived (a test that cannot see that
bug: strengthen it), or when a mutant's `old` text no longer occurs exactly once in its
file (the code moved: update the mutant, so the catalogue keeps testing something).
Each mutant: name, file, old (the exact text, once in the file), new, tests (a CTest -R
regex), what (the bug in words). Add one with every test written to catch a bug class.
Needs git, cmake and a C compiler; builds without CUDA and MPI (CPU tests only).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd, cwd, quiet=True):
    r = subprocess.run(cmd, cwd=cwd, capture_output=quiet, text=True)
    return r.returncode, (r.stdout or "") + (r.stderr or "")


KEYS = ("name", "file", "old", "new", "tests", "what")


def load_catalogue(path):
    """The mutants of a catalogue file, or exit naming the file and what is wrong with it."""
    try:
        muts = json.load(open(path, encoding="utf-8"))
    except (OSError, ValueError) as e:
        sys.exit("mutants: %s: %s" % (path, e))
    if not isinstance(muts, list):
        sys.exit("mutants: %s: not a list of mutants" % path)
    for i, m in enumerate(muts):
        missing = [k for k in KEYS if not isinstance(m, dict) or not isinstance(m.get(k), str)]
        if missing:
            sys.exit("mutants: %s: mutant %d: %s missing or not a string" % (path, i + 1, ", ".join(missing)))
    return muts


def why_stale(m, root):
    """Why mutant m cannot apply to the tree at root (its old text must occur exactly once in its
    file, and its new text differ), or None where it applies."""
    path = os.path.join(root, m["file"])
    if not os.path.isfile(path):
        return "no such file %s" % m["file"]
    n = open(path, encoding="utf-8").read().count(m["old"])
    if n != 1:
        return "its text occurs %d times in %s" % (n, m["file"])
    return "new equals old" if m["new"] == m["old"] else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", action="append", default=[], help="only mutants whose name contains this (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--check", action="store_true",
                    help="only check that each mutant's old text occurs once in its file (no build)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch tree and build")
    ap.add_argument("-j", type=int, default=os.cpu_count() or 2, help="build jobs")
    ap.add_argument("--catalogue", default=os.path.join(ROOT, "tests", "mutants", "mutants.json"),
                    help="another list of mutants (candidates, before they join the catalogue)")
    a = ap.parse_args()
    muts = load_catalogue(a.catalogue)
    if a.k:
        muts = [m for m in muts if any(k in m["name"] for k in a.k)]
    if a.list:
        for m in muts:
            print("%-22s %-28s %s" % (m["name"], m["file"], m["what"]))
        return 0
    if a.check:
        # the checkout's files as they are: a mutant whose text moved away tests nothing
        bad = 0
        for m in muts:
            why = why_stale(m, ROOT)
            if why:
                bad += 1
                print("mutants: %s STALE: %s (update it to the code)" % (m["name"], why))
        print("mutants: %d of %d apply" % (len(muts) - bad, len(muts)))
        return 1 if bad else 0
    scratch = tempfile.mkdtemp(prefix="vssm_mutants_")
    tree, build = os.path.join(scratch, "tree"), os.path.join(scratch, "build")
    rc, out = sh(["git", "worktree", "add", "--detach", tree, "HEAD"], ROOT)
    if rc:
        sys.exit("mutants: git worktree add failed:\n" + out)
    status = 0
    try:
        rc, out = sh(["cmake", "-S", tree, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DVSSM_CUDA=OFF",
                      "-DVSSM_MPI=OFF"], ROOT)
        if rc == 0:
            rc, out = sh(["cmake", "--build", build, "-j", str(a.j)], ROOT)
        if rc:
            sys.exit("mutants: the unmutated tree does not build:\n" + out[-3000:])
        killed, survived, stale = [], [], []
        for i, m in enumerate(muts):
            why = why_stale(m, tree)
            if why:
                stale.append(m["name"])
                print("[%d/%d] %-22s STALE: %s" % (i + 1, len(muts), m["name"], why))
                continue
            path = os.path.join(tree, m["file"])
            src = open(path, encoding="utf-8").read()
            t0 = time.time()
            open(path, "w").write(src.replace(m["old"], m["new"]))
            try:
                rc, out = sh(["cmake", "--build", build, "-j", str(a.j)], ROOT)
                if rc:  # a mutant that does not compile tests nothing
                    stale.append(m["name"])
                    print("[%d/%d] %-22s STALE: does not compile" % (i + 1, len(muts), m["name"]))
                    continue
                rc, out = sh(["ctest", "-LE", "gpu", "-R", m["tests"], "-j", str(a.j), "--timeout", "600"], build)
                ran = re.search(r"tests failed out of (\d+)", out)
                # every way CTest says a test ended badly: Failed, Timeout, SEGFAULT, Numerical (SIGFPE),
                # ILLEGAL, BUS_ERROR, INTERRUPT, OTHER_FAULT, Child aborted, ...; not the ones that did not run
                failed = re.findall(r"\d+ - (\S+) \((?!Skipped|Not Run|Disabled)[^)]*\)", out)
                if not ran or int(ran.group(1)) == 0:
                    stale.append(m["name"])
                    print("[%d/%d] %-22s STALE: no test matches '%s'" % (i + 1, len(muts), m["name"], m["tests"]))
                elif failed:
                    killed.append(m["name"])
                    print("[%d/%d] %-22s killed by %s (%.0f s)" % (i + 1, len(muts), m["name"], " ".join(failed),
                                                                   time.time() - t0))
                else:
                    survived.append(m["name"])
                    print("[%d/%d] %-22s SURVIVED %s: %s" % (i + 1, len(muts), m["name"], m["tests"], m["what"]))
            finally:
                open(path, "w").write(src)
            sys.stdout.flush()
        print("mutants: %d killed, %d survived, %d stale" % (len(killed), len(survived), len(stale)))
        status = 1 if survived or stale else 0
    finally:
        if not a.keep:
            sh(["git", "worktree", "remove", "--force", tree], ROOT)
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print("kept %s" % scratch)
    return status


if __name__ == "__main__":
    sys.exit(main())
