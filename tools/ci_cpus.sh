#!/bin/sh
# tools/ci_cpus.sh - the one build on CPUs this machine is not. QEMU's user-mode emulator
# (qemu-x86_64, Debian's qemu-user) runs a program with the CPUID and the instruction set of
# a chosen CPU model, so the run-time choice of kernels (kernels/cpu/isa.c) is exercised as a
# user's laptop would exercise it: from what the CPU reports, not from VSSM_CPU_ISA.
#
#   Haswell   AVX2 + FMA, no AVX-512 (laptops and desktops up to today's AVX2-only ones):
#             the avx2 variant; the AVX-512 and bf16 tests must skip, not fail
#   Nehalem   SSE4.2, no AVX: the baseline (SSE2) variant
#
# For each model: the tests that run in seconds under emulation (ctest with the emulator as
# CMAKE_CROSSCOMPILING_EMULATOR; tests that start ./vssm run that child natively), then the
# README's main job (`vssm classify` of the shipped sample) compared with this machine's
# output: identical on AVX2 (AVX2 and AVX-512 give the same bits), the same labels on the
# baseline; and `--precision bf16` refused with a message naming the instruction set.
# QEMU (7.2) also faults on the masked-off lanes of VMASKMOVPS, where AMD's manual leaves a
# fault to the implementation: it found two from a NULL bias (session 17; test_masked_loads).
#
# Usage: sh tools/ci_cpus.sh [BUILD_DIR]   (after tools/setup.sh; installs qemu-user if missing;
# ~4 minutes on 2 cores on Zen 4; the Intel VM of session 21 took 12 before test_track_follow
# went native-only, that of session 27 10, and 8 once test_batch_invariance did; session 28's
# 4.8 with VSSM_TEST_SHORT). Env: CPUS, a subset of the default "Haswell Nehalem" (what each
# model must choose and match is written for those two below).
set -eu
cd "$(dirname "$0")/.."
B=${1:-build}
CPUS=${CPUS:-Haswell Nehalem}
if ! command -v qemu-x86_64 >/dev/null 2>&1; then
    echo "ci_cpus: installing qemu-user" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends qemu-user >/dev/null
fi
QEMU=$(command -v qemu-x86_64)
# under emulation every test runs 10-300x slower: the backward-op sweeps (test_ops_bwd, 4-5
# minutes each there), OpenBLAS's kernel variants (test_batch_invariance_<core>: OpenBLAS,
# not vssm) and the VSSM_CPU_ISA copies (*_isa_*: the variant forced, as on this machine) stay
# native-only; test_mpi_eval and the install tests run no vssm code under QEMU. The tracker's
# test_track_follow stays native too: 16 frames through three models, 0.9 s native and ~410 s
# emulated on the Intel VM of session 21 (the Haswell stage's longest test by far), and the
# forwards it runs are the parity tests', which run emulated. test_batch_invariance stays
# native on Haswell too (session 27: 259 s emulated, the stage's longest test, of a 502 s
# stage; 0.4 s native): its AVX2 variant runs natively as test_batch_invariance_isa_avx2, and
# the forwards it repeats at several batch sizes are the parity tests', which run emulated.
# test_adapt_threads stays native too: it checks thread counts against bits (the variants'
# bits are test_batch_invariance_isa_*'s) and runs alone (RUN_SERIAL), so its 47 s emulated
# left the second core idle (session 28). VSSM_TEST_SHORT (tests/testutil.h) has test_ops and
# test_train_vmamba leave out the cases that repeat at full size what their small ones check
# (session 28, emulated Haswell alone: test_ops 133 -> 45 s, test_train_vmamba 71 -> 20 s); they
# run in full natively, test_train_vmamba per variant too (tests/cpu_isa.cmake). The Haswell
# tests 384 -> 200 s, the stage 285 s on the Intel VM of session 28.
# The baseline model runs the tests of the kernels and the models only (its 15 take 45 s
# emulated, test_batch_invariance among them: QEMU runs SSE2 code far faster than AVX2).
SLOW='^(test_ops_bwd.*|.*_isa_.*|test_batch_invariance(_[A-Z].*)?|test_adapt_threads|test_mpi_eval|test_install|test_exports|test_masked_loads|test_pth_full|test_track_head|test_track_follow|test_bench_blas_name)$'
KERNELS='^(test_cpu_isa|test_ops|test_vmath|test_chunked_scan|test_batch_invariance|test_vmamba_parity|test_vmamba_v0_parity|test_vmamba_v0|test_vim_parity|test_vim_tasks|test_shipped_model|test_shipped_reid_model|test_seg_head|test_train_vmamba|test_train_vim)$'
# `vssm` starts itself again once to set GOMP_SPINCOUNT (tools/omp_wait.c): that exec would
# leave QEMU, so the value is set here (for the runs below; ctest sets 1000 for every test,
# tests/CMakeLists.txt)
export GOMP_SPINCOUNT=10000
export VSSM_TEST_SHORT=1
W=weights/fashion_mnist/vmamba_fashion.safetensors
S=weights/fashion_mnist/sample
TMP=$(mktemp -d)
restore() {
    cmake -S . -B "$B" -UCMAKE_CROSSCOMPILING_EMULATOR >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap restore EXIT
"$B/vssm" classify --weights "$W" --topk 3 "$S" >"$TMP/native.txt" 2>/dev/null
status=0
for cpu in $CPUS; do
    echo "== ci_cpus: $cpu (qemu-x86_64 -cpu $cpu)"
    # the emulator only changes how ctest starts the test programs: nothing is rebuilt
    cmake -S . -B "$B" "-DCMAKE_CROSSCOMPILING_EMULATOR=$QEMU;-cpu;$cpu" >/dev/null
    flag=-E pat=$SLOW
    [ "$cpu" = Haswell ] || flag=-R pat=$KERNELS
    if ! ctest --test-dir "$B" $flag "$pat" -LE gpu -j2 --timeout 600 --output-on-failure >"$TMP/ctest.txt" 2>&1; then
        # each failed test's own output first (ctest prints it where the test ended, often
        # further up than the summary's last lines), then the summary
        grep -v "TCG doesn't support" "$TMP/ctest.txt" | grep -E -A40 '\*\*\*(Failed|Exception|Timeout)' | head -200
        grep -v "TCG doesn't support" "$TMP/ctest.txt" | tail -25
        echo "ci_cpus: $cpu: tests FAILED" >&2
        status=1
    else
        grep -E "tests passed|Total Test time" "$TMP/ctest.txt"
    fi
    "$QEMU" -cpu "$cpu" "$B/vssm" classify --weights "$W" --topk 3 "$S" >"$TMP/$cpu.txt" 2>"$TMP/$cpu.err" || {
        echo "ci_cpus: $cpu: vssm classify failed:" >&2
        grep -v "TCG doesn't support" "$TMP/$cpu.err" >&2
        status=1
    }
    isa=$("$QEMU" -cpu "$cpu" "$B/vssm" bench --weights "$W" --size 28x28 --runs 1 --warmup 0 --no-gemm-ref 2>/dev/null | sed -n 's/^device *cpu ([^,]*, \([^;]*\);.*/\1/p')
    if [ "$cpu" = Haswell ]; then
        want="AVX2"
        if cmp -s "$TMP/native.txt" "$TMP/$cpu.txt"; then
            echo "classify: the same output as this machine's, bit for bit"
        else
            echo "ci_cpus: $cpu: classify differs from this machine's:" >&2
            diff "$TMP/native.txt" "$TMP/$cpu.txt" | head >&2
            status=1
        fi
    else
        want="baseline SSE2"
        # each line: "FILE: LABEL NAME PROB | ...": the top-1 without its probability
        top1() { cut -d'|' -f1 "$1" | sed 's/ [0-9.]* *$//'; }
        if [ "$(top1 "$TMP/native.txt")" = "$(top1 "$TMP/$cpu.txt")" ]; then
            echo "classify: the same top-1 labels as this machine's ($(grep -c . "$TMP/$cpu.txt") images)"
        else
            echo "ci_cpus: $cpu: classify's labels differ from this machine's" >&2
            status=1
        fi
    fi
    if [ "$isa" = "$want" ]; then
        echo "vssm bench: device says $isa"
    else
        echo "ci_cpus: $cpu: vssm chose '$isa', expected '$want'" >&2
        status=1
    fi
    if "$QEMU" -cpu "$cpu" "$B/vssm" bench --weights "$W" --size 28x28 --runs 1 --warmup 0 --no-gemm-ref --precision bf16 >/dev/null 2>"$TMP/bf16.err"; then
        echo "ci_cpus: $cpu: --precision bf16 was not refused" >&2
        status=1
    elif grep -q "avx512_bf16" "$TMP/bf16.err"; then
        echo "bf16: refused ($(grep -v "TCG doesn't support" "$TMP/bf16.err" | head -1))"
    else
        echo "ci_cpus: $cpu: --precision bf16 failed without naming avx512_bf16:" >&2
        grep -v "TCG doesn't support" "$TMP/bf16.err" >&2
        status=1
    fi
done
exit $status
