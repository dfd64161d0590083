#!/bin/sh
# bench/cuda/pack.sh - on a machine WITHOUT a GPU (nvcc is enough): build the CUDA backend
# and pack what bench/cuda/run.sh needs into one tarball for a GPU machine that lacks our
# build dependencies (OpenBLAS, libjpeg-turbo, cJSON, cairo dev packages):
#   bin/  vssm, copy_bw and the gpu test programs (stripped)
#   lib/  the shared libraries they load, except glibc, libstdc++/libgcc and CUDA's own
#         (cudart, cuBLAS, cuDNN come from the GPU machine's CUDA install)
#   SOURCE_DIR  the source tree the tests were built against (they read tests/data there)
#
#   bench/cuda/pack.sh [OUT.tar.xz]        (default build-cuda-pack/vssm-cuda-pack.tar.xz)
#   CUDA_ARCH=90 bench/cuda/pack.sh        (sm_90 only: H100/H200; default "80;90")
# Then, on the GPU machine, from a checkout of the same commit:
#   VSSM_PACK=path/to/vssm-cuda-pack.tar.xz OUT=/some/dir sh bench/cuda/run.sh
# Video (FFmpeg) and MPI are left out: their libraries are many and the GPU checks need neither.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-cuda-pack}
OUTF=${1:-$BUILD/vssm-cuda-pack.tar.xz}
ARCH=${CUDA_ARCH:-80;90}
mkdir -p "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVSSM_CUDA=ON -DVSSM_VIDEO=OFF -DVSSM_MPI=OFF \
    "-DCMAKE_CUDA_ARCHITECTURES=$ARCH" >"$BUILD/pack-cmake.txt" 2>&1 || { tail -20 "$BUILD/pack-cmake.txt"; exit 1; }
grep -q "CUDA backend ON" "$BUILD/pack-cmake.txt" || { echo "pack: the CUDA backend is not configured (nvcc?)" >&2; exit 1; }
TESTS="test_ops test_cuda_scan test_cuda_model test_vim_parity test_vim_tasks test_chunked_scan"
# CPU tests for the GPU machine's host (an AMX Xeon so far: bf16 on tiles, which no machine
# of ours has had since session 12)
TESTS="$TESTS test_bf16 test_bf16_models test_cpu_isa test_vmath_avx512"
cmake --build "$BUILD" -j"$(nproc)" --target vssm $TESTS
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib"
cp "$BUILD/vssm" "$STAGE/bin/"
for t in $TESTS; do cp "$BUILD/tests/$t" "$STAGE/bin/"; done
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
"$NVCC" -O2 -o "$STAGE/bin/copy_bw" "$ROOT/bench/cuda/copy_bw.cu"
strip "$STAGE/bin/"*
# every library any of them loads, but the C runtime, the C++ runtime and CUDA's
for f in "$STAGE/bin/"*; do ldd "$f"; done | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
    while read -r name path; do
        case "$name" in
        libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux* | libstdc++* | libgcc_s*) ;;
        libcuda* | libcublas* | libcudnn* | libnvrtc* | libnvJitLink*) ;;
        *) cp -L "$path" "$STAGE/lib/$name" ;;
        esac
    done
echo "$ROOT" >"$STAGE/SOURCE_DIR"
git -C "$ROOT" rev-parse HEAD >"$STAGE/COMMIT" 2>/dev/null || true
mkdir -p "$(dirname "$OUTF")"
tar -C "$STAGE" -cJf "$OUTF.tmp" bin lib SOURCE_DIR COMMIT
mv "$OUTF.tmp" "$OUTF"
echo "pack: $OUTF ($(du -h "$OUTF" | cut -f1); $(ls "$STAGE/lib" | wc -l) libraries)"
