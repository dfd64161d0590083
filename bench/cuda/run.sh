#!/bin/sh
# bench/cuda/run.sh - on a machine with an NVIDIA GPU: the gpu tests (they must PASS, not
# skip), the host CPU's bf16 and instruction-set tests, compute-sanitizer memcheck, VMamba-T at
# batch 1/32/128 (fp32 and TF32), Vim-T, CPU batch-1 lines (all cores; 2 cores), copy bandwidth, and per-kernel times (ncu). Few files land in $OUT
# (a device lent for minutes returns at most 8): log.txt, bench.jsonl, kernels_b1.csv,
# kernels_b32.csv.
#
#   bench/cuda/run.sh [BUILD_DIR]       build with CUDA here (needs tools/setup.sh's packages)
#   VSSM_PACK=FILE bench/cuda/run.sh    use the binaries bench/cuda/pack.sh packed on another
#                                       machine (a GPU machine without our -dev packages)
#   OUT=/some/dir RUNS=20 ...
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-cuda}
OUT=${OUT:-$BUILD/bench-cuda}
RUNS=${RUNS:-20}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"
LOG=$OUT/log.txt
: >"$LOG"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
status=0
say() { echo "$*" | tee -a "$LOG"; }
# show CMD...: run it, output to the log and the terminal; its exit status in $rc
show() {
    say "== $*"
    rc=0
    timeout 600 "$@" >"$TMP/o" 2>&1 || rc=$?
    tee -a "$LOG" <"$TMP/o"
}
# check CMD...: as show; failing or skipping (77: no usable GPU) fails the run
check() {
    show "$@"
    if [ "$rc" -ne 0 ]; then
        say "FAILED (exit $rc): $*"
        status=1
    fi
}

show nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
if [ -n "${VSSM_PACK:-}" ]; then
    G=$TMP/pack
    mkdir -p "$G/use"
    if ! tar -C "$G" -xJf "$VSSM_PACK" 2>"$TMP/tar.txt" || [ ! -x "$G/bin/vssm" ] || [ ! -f "$G/SOURCE_DIR" ]; then
        say "VSSM_PACK $VSSM_PACK: cannot unpack it, or it is not a pack from bench/cuda/pack.sh ($(head -1 "$TMP/tar.txt"))"
        exit 1
    fi
    BIN=$G/bin
    TESTS=$G/bin
    say "== pack $VSSM_PACK (commit $(cat "$G/COMMIT" 2>/dev/null || echo ?))"
    # the tests read tests/data under the source dir they were built in
    SRC=$(cat "$G/SOURCE_DIR")
    if [ ! -e "$SRC/tests/data" ]; then
        mkdir -p "$(dirname "$SRC")" && ln -sfn "$ROOT" "$SRC" || say "cannot link $SRC to $ROOT: the tests will not find their data"
    fi
    # CUDA's libraries from this machine, ours from the pack where this machine lacks them
    CUDA_DIRS=""
    for lib in $(ldd "$BIN/vssm" | awk '/not found/ && $1 ~ /^lib(cuda|cublas|cudnn)/ {print $1}'); do
        f=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
        [ -n "$f" ] || f=$(find /usr/local /usr/lib /opt -name "$lib" 2>/dev/null | head -1)
        if [ -n "$f" ]; then CUDA_DIRS="$CUDA_DIRS:$(dirname "$f")"; else say "$lib: not on this machine"; fi
    done
    export LD_LIBRARY_PATH="$G/use$CUDA_DIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    for _ in 1 2 3; do # a carried library may need another one
        for lib in $(ldd "$BIN/vssm" "$BIN/test_ops" | awk '/not found/ {print $1}' | sort -u); do
            if [ -e "$G/lib/$lib" ]; then ln -sf "$G/lib/$lib" "$G/use/$lib"; fi
        done
    done
    say "carried libraries used: $(ls "$G/use" | tr '\n' ' ')"
    if ldd "$BIN/vssm" | grep "not found" >"$TMP/missing"; then
        tee -a "$LOG" <"$TMP/missing"
        status=1
    fi
    say "== tests (every test labelled gpu in tests/*.cmake, and the host-side chunked scan)"
    check "$TESTS/test_cuda_scan"
    check "$TESTS/test_cuda_model"
    check "$TESTS/test_cuda_model" v0_odd v0_even
    check "$TESTS/test_ops" cuda
    check "$TESTS/test_vim_parity" cuda
    check "$TESTS/test_vim_tasks" cuda
    check "$TESTS/test_chunked_scan"
    say "== host CPU tests (bf16: AMX tiles where the host has them; the instruction-set variants)"
    for t in test_bf16 test_bf16_models test_cpu_isa test_vmath_avx512; do
        if [ -x "$TESTS/$t" ]; then check "$TESTS/$t"; else say "$t: not in this pack"; fi
    done
    COPY_BW=$BIN/copy_bw
else
    show nvcc --version
    say "== build ($BUILD)"
    cmake -S "$ROOT" -B "$BUILD" -DVSSM_CUDA=ON -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.txt" 2>&1 || true
    grep "CUDA backend" "$TMP/cmake.txt" | tee -a "$LOG"
    if ! cmake --build "$BUILD" -j"$JOBS" >"$TMP/build.txt" 2>&1; then
        tail -40 "$TMP/build.txt" | tee -a "$LOG"
        exit 1
    fi
    BIN=$BUILD
    TESTS=$BUILD/tests
    say "== tests (gpu label + the host-side chunked scan)"
    check ctest --test-dir "$BUILD" -L gpu --output-on-failure
    # a skipped gpu test means the CUDA context could not be made: that is a failure here
    if grep -q "Skipped" "$TMP/o"; then
        say "gpu tests were SKIPPED: no usable CUDA device?"
        status=1
    fi
    check ctest --test-dir "$BUILD" -R chunked --output-on-failure
    say "== host CPU tests (bf16: AMX tiles where the host has them; the instruction-set variants)"
    check ctest --test-dir "$BUILD" -R "^(test_bf16|test_bf16_models|test_cpu_isa|test_vmath_avx512)$" --output-on-failure
    COPY_BW=$TMP/copy_bw
    nvcc -O2 -o "$COPY_BW" "$ROOT/bench/cuda/copy_bw.cu"
fi

if command -v compute-sanitizer >/dev/null 2>&1; then
    check compute-sanitizer --tool memcheck --error-exitcode 3 --print-limit 20 "$TESTS/test_cuda_scan"
    check compute-sanitizer --tool memcheck --error-exitcode 3 --print-limit 20 "$TESTS/test_ops" cuda
fi

say "== bench (medians of $RUNS runs after 3 warm-ups)"
: >"$OUT/bench.jsonl"
bench() { # bench ARGS...: the text report to the log, the JSON line to bench.jsonl
    show "$BIN/vssm" bench --device cuda --warmup 3 "$@"
    [ "$rc" -eq 0 ] || status=1
    timeout 600 "$BIN/vssm" bench --device cuda --warmup 3 --json "$@" >>"$OUT/bench.jsonl" 2>>"$LOG" || status=1
}
for b in 1 32 128; do bench --batch "$b" --runs "$RUNS"; done
bench --batch 1 --runs "$RUNS" --tf32
bench --batch 128 --runs "$RUNS" --tf32
bench --arch vim-tiny --batch 1 --runs "$RUNS"
bench --arch vim-tiny --batch 32 --runs "$RUNS"
# CPU at batch 1 for the speed-up line (all cores)
show "$BIN/vssm" bench --device cpu --batch 1 --runs 5 --warmup 1
# and on 2 cores as issue 17 measures (fp32 share of the in-run sgemm; bf16 against fp32)
if command -v taskset >/dev/null 2>&1; then
    show taskset -c 0,1 "$BIN/vssm" bench --device cpu --threads 2 --arch vmamba-tiny,vim-tiny --runs 10
    show taskset -c 0,1 "$BIN/vssm" bench --device cpu --threads 2 --precision f32,bf16 --runs 10
fi
show "$COPY_BW"

if command -v ncu >/dev/null 2>&1; then
    for b in 1 32; do # every kernel's time over the first ~260 launches (one forward and a bit)
        say "== ncu: kernel times, batch $b -> kernels_b$b.csv"
        timeout 300 ncu --clock-control none --metrics gpu__time_duration.sum --csv --launch-count 260 \
            "$BIN/vssm" bench --device cuda --batch "$b" --runs 1 --warmup 0 >"$OUT/kernels_b$b.csv" 2>>"$LOG" ||
            say "ncu failed"
    done
fi
say "results in $OUT; status $status"
exit $status
