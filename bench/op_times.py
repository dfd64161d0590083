#!/usr/bin/env python3
"""bench/op_times.py - where a forward's time goes, op by op, from `vssm bench --op-times`.

One file: per model, the median time of each op over the runs, summed per kind.
Two files (A then B, e.g. 1 and 2 threads of the same build, or two builds): per model and
kind the sums and A/B, then the ops that lose most against a perfect speed-up of `--ideal`
(default 1: B should equal A; with 1 thread against 2, pass --ideal 2: what B loses is
B - A/2). Ops are matched by their index in the forward, so both files must come from the
same model and input size.

    vssm bench --arch vmamba-tiny --threads 1 --fixed-threads --runs 10 --op-times t1.csv
    vssm bench --arch vmamba-tiny --threads 2 --fixed-threads --runs 10 --op-times t2.csv
    python3 bench/op_times.py t1.csv t2.csv --ideal 2
"""
import argparse
import csv
import statistics
import sys
from collections import defaultdict


COLUMNS = ("arch", "precision", "threads", "run", "op", "kind", "us")


def load(path):
    """{arch: [(kind, median us), ...] in op order}; SystemExit naming the file and the line when
    it cannot be read, is not `vssm bench --op-times` output, or has a short or bad row"""
    ops = defaultdict(lambda: defaultdict(list))  # arch -> op -> [us]
    kinds = defaultdict(dict)
    try:
        with open(path, newline="") as f:
            rd = csv.DictReader(f)
            if tuple(rd.fieldnames or ()) != COLUMNS:
                raise SystemExit(f"{path}: not a `vssm bench --op-times` file (header {rd.fieldnames}, "
                                 f"want {','.join(COLUMNS)})")
            for row in rd:
                try:
                    a = row["arch"] + "/" + row["precision"]
                    i, us = int(row["op"]), float(row["us"])
                except (TypeError, ValueError):
                    raise SystemExit(f"{path}:{rd.line_num}: a short or bad row (truncated file?)")
                ops[a][i].append(us)
                kinds[a][i] = row["kind"]
    except OSError as e:
        raise SystemExit(f"{path}: {e.strerror}")
    if not ops:
        raise SystemExit(f"{path}: no rows")
    return {a: [(kinds[a][i], statistics.median(v)) for i, v in sorted(ops[a].items())] for a in ops}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b", nargs="?")
    ap.add_argument("--ideal", type=float, default=1.0, help="the speed-up B should have over A")
    ap.add_argument("--top", type=int, default=12, help="ops listed (two files)")
    args = ap.parse_args()
    A = load(args.a)
    B = load(args.b) if args.b else None
    for arch, opsa in A.items():
        print(f"{arch}: {len(opsa)} ops, {sum(t for _, t in opsa) / 1e3:.2f} ms (sum of per-op medians)")
        if B is None:
            per = defaultdict(float)
            for k, t in opsa:
                per[k] += t
            for k, t in sorted(per.items(), key=lambda x: -x[1]):
                print(f"  {k:8s} {t / 1e3:8.2f} ms")
            continue
        opsb = B.get(arch)
        if not opsb or len(opsb) != len(opsa):
            print(f"  not in {args.b}, or a different number of ops: skipped")
            continue
        per = defaultdict(lambda: [0.0, 0.0])
        for (k, ta), (_, tb) in zip(opsa, opsb):
            per[k][0] += ta
            per[k][1] += tb
        print(f"  {'kind':8s} {'A ms':>8s} {'B ms':>8s} {'A/B':>6s} {'lost ms':>8s}")
        for k, (ta, tb) in sorted(per.items(), key=lambda x: -x[1][0]):
            print(f"  {k:8s} {ta / 1e3:8.2f} {tb / 1e3:8.2f} {ta / tb if tb else 0:6.2f} "
                  f"{(tb - ta / args.ideal) / 1e3:8.2f}")
        sa, sb = sum(t for _, t in opsa), sum(t for _, t in opsb)
        print(f"  {'all':8s} {sa / 1e3:8.2f} {sb / 1e3:8.2f} {sa / sb if sb else 0:6.2f} "
              f"{(sb - sa / args.ideal) / 1e3:8.2f}")
        lost = sorted(((tb - ta / args.ideal, i, k, ta, tb) for i, ((k, ta), (_, tb)) in
                       enumerate(zip(opsa, opsb))), reverse=True)[:args.top]
        print(f"  the {len(lost)} ops that lose most (index in the forward, kind, A us, B us, A/B, lost us):")
        for l, i, k, ta, tb in lost:
            print(f"    {i:4d} {k:8s} {ta:9.1f} {tb:9.1f} {ta / tb if tb else 0:6.2f} {l:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
