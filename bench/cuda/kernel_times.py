#!/usr/bin/env python3
"""bench/cuda/kernel_times.py - sum ncu's per-kernel times (bench/cuda/run.sh's kernels_bN.csv,
`ncu --metrics gpu__time_duration.sum --csv`) by kernel name, largest first.

    python3 bench/cuda/kernel_times.py kernels_b32.csv [SKIP_FIRST_N_LAUNCHES]
"""
import collections
import csv
import sys


def main():
    hdr, data = None, []
    with open(sys.argv[1], newline="") as f:
        for r in csv.reader(f):
            if "Kernel Name" in r:
                hdr = r
            elif hdr and len(r) == len(hdr):
                data.append(dict(zip(hdr, r)))
    data = data[int(sys.argv[2]) if len(sys.argv) > 2 else 0:]
    scale = {"nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3}
    agg, tot = collections.OrderedDict(), 0.0
    for d in data:
        name = d["Kernel Name"][:60]
        us = float(d["Metric Value"].replace(",", "")) * scale.get(d["Metric Unit"], 1e-3)
        a = agg.setdefault(name, [0.0, 0])
        a[0] += us
        a[1] += 1
        tot += us
    for name, (us, n) in sorted(agg.items(), key=lambda x: -x[1][0]):
        print(f"{us:10.1f} us {100 * us / max(tot, 1e-9):5.1f}% {n:5d}  {name}")
    print(f"{tot:10.1f} us in {len(data)} launches")


if __name__ == "__main__":
    main()
