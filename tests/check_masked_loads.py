#!/usr/bin/env python3
"""check_masked_loads.py OBJDUMP FILE...: no AVX/AVX2 masked move (VMASKMOVPS/PD, VPMASKMOVD/Q)
in the built code.

GCC turns `p ? p[i] : 0`, `if (b) v += b[i]` or `i < n ? y[i] : 0` inside a vectorised loop into
a VMASKMOVPS whose masked-off lanes still name addresses: NULL + i, or past a row's end. Intel
guarantees no fault for those lanes; AMD's manual leaves it to the implementation, and QEMU
(tools/ci_cpus.sh) faults: loads from a NULL bias in the AVX2 GEMM's small-M path (-O3) and in
the depthwise conv's backward (-O2) crashed test_cpu_isa, test_ops_bwd and the training tests
there (session 17).
The rule is simpler than the proof that every masked-off address is inside a buffer: write the
test outside the loop. AVX-512's masked loads (k registers) are not matched: fault suppression
on masked-off lanes is architectural there on every vendor.

Prints each function holding one and exits 1; exits 0 when there is none."""
import re
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    objdump, files = sys.argv[1], sys.argv[2:]
    pat = re.compile(r"\bv(p)?maskmov[a-z]*\b")
    found = 0
    for f in files:
        out = subprocess.run([objdump, "-d", "--no-show-raw-insn", f], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{f}: objdump failed: {out.stderr.strip()}")
            return 1
        func = "?"
        hits = {}
        for line in out.stdout.splitlines():
            m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
            if m:
                func = m.group(1)
            elif pat.search(line):
                hits.setdefault(func, []).append(line.strip())
        for fn, lines in hits.items():
            found += len(lines)
            print(f"{f}: {fn}: {len(lines)} masked move(s), e.g. {lines[0]}")
    if found:
        print(f"{found} AVX masked move(s): hoist the condition out of the loop (tests/check_masked_loads.py)")
        return 1
    print(f"no AVX masked moves in {len(files)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
