#!/bin/sh
# bench/cuda/run.sh - on a machine with an NVIDIA GPU: build with CUDA, run the GPU tests,
# time VMamba-T at batch 1/32/128, measure copy bandwidth. Everything lands in $OUT.
#
#   bench/cuda/run.sh [BUILD_DIR]          (default: build-cuda next to the sources)
#   OUT=/some/dir RUNS=20 bench/cuda/run.sh
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-cuda}
OUT=${OUT:-$BUILD/bench-cuda}
RUNS=${RUNS:-20}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/gpu.csv"
nvcc --version | tail -1 | tee "$OUT/nvcc.txt"

echo "== build ($BUILD)"
cmake -S "$ROOT" -B "$BUILD" -DVSSM_CUDA=ON -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.txt"
grep "CUDA backend" "$OUT/cmake.txt"
cmake --build "$BUILD" -j"$JOBS" >"$OUT/build.txt" 2>&1 || { tail -40 "$OUT/build.txt"; exit 1; }

echo "== tests (gpu label + the host-side chunked scan)"
status=0
(cd "$BUILD" && ctest -L gpu --output-on-failure) 2>&1 | tee "$OUT/gpu-tests.txt" || status=1
(cd "$BUILD" && ctest -R chunked --output-on-failure) 2>&1 | tee -a "$OUT/gpu-tests.txt" || status=1
# a skipped gpu test means the CUDA context could not be made: that is a failure here
if grep -q "Skipped" "$OUT/gpu-tests.txt"; then echo "gpu tests were SKIPPED: no usable CUDA device?"; status=1; fi
"$BUILD/tests/test_cuda_scan" >"$OUT/test_cuda_scan.txt" 2>&1 || status=1
"$BUILD/tests/test_cuda_model" >"$OUT/test_cuda_model.txt" 2>&1 || status=1

echo "== bench"
for b in 1 32 128; do
    "$BUILD/vssm" bench --device cuda --batch $b --runs "$RUNS" --warmup 3 | tee "$OUT/bench_cuda_b$b.txt"
    "$BUILD/vssm" bench --device cuda --batch $b --runs "$RUNS" --warmup 3 --json >"$OUT/bench_cuda_b$b.json"
done
# CPU at batch 1 for the speed-up line (all cores)
"$BUILD/vssm" bench --device cpu --batch 1 --runs 5 --warmup 1 | tee "$OUT/bench_cpu_b1.txt"

echo "== copy bandwidth"
nvcc -O2 -o "$OUT/copy_bw" "$ROOT/bench/cuda/copy_bw.cu"
"$OUT/copy_bw" | tee "$OUT/copy_bw.txt"

if command -v nsys >/dev/null 2>&1; then
    echo "== nsys timeline (batch 32)"
    nsys profile -o "$OUT/vssm_b32" --force-overwrite true "$BUILD/vssm" bench --device cuda --batch 32 --runs 3 --warmup 1 \
        >"$OUT/nsys.txt" 2>&1 || true
    nsys stats --report cuda_gpu_kern_sum "$OUT/vssm_b32.nsys-rep" >"$OUT/kernels_b32.txt" 2>&1 || true
fi
echo "results in $OUT"
exit $status
