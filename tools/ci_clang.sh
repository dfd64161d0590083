#!/bin/sh
# tools/ci_clang.sh - the library, tools and tests built with clang (Release, CPU only) and the
# CTest suite run on that build. The project is written for any C11 compiler; gcc is what
# tools/setup.sh uses, so until session 18 nothing compiled the Release code with clang, and a
# user who did (CC=clang) got: a test that did not compile (test_vmath), the bf16 kernels
# compiled out without a word (clang spells the AMX macros __AMXBF16__ / __AMXTILE__; bf16 was
# then refused as "this CPU has no avx512_bf16" and its tests skipped), and a lock symbol of
# clang's OpenMP exported from libvssm.so. Speed is not judged here (no timed tests): the
# clang build's products were 1.75x slower with AVX-512 and 2.5x with AVX2 before the kernel's
# loops were written for it (kernels/cpu/README.md "Session 18"); bench/ compares the builds.
# Env: CLANG (clang: the compiler, e.g. clang-16 with its libomp-16-dev, which replaces
# libomp-14-dev), CLANG_BUILD_DIR (build-clang), JOBS (2), CLANG_CTEST_ARGS (extra ctest
# arguments). CI runs Debian 12's clang (14); clang 16 passed by hand in session 18.
set -eu
cd "$(dirname "$0")/.."
B=${CLANG_BUILD_DIR:-build-clang}
JOBS=${JOBS:-2}
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "ci_clang: $CLANG not found (apt-get install clang libomp-14-dev)" >&2; exit 2; }
# -Werror: clang's warnings are part of what this checks (the gcc build has none either)
CC=$CLANG cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DVSSM_CUDA=OFF -DVSSM_MPI=OFF -DVSSM_FUZZ=OFF \
    -DCMAKE_C_FLAGS=-Werror >/dev/null
cmake --build "$B" -j "$JOBS" >/dev/null
# shellcheck disable=SC2086
if ctest --test-dir "$B" --output-on-failure -j "$JOBS" ${CLANG_CTEST_ARGS:-} >"$B/ctest.log" 2>&1; then
    echo "ci_clang: $(grep -E 'tests passed' "$B/ctest.log")"
else
    cat "$B/ctest.log"
    echo "ci_clang: FAILED (the clang build's tests, above)" >&2
    exit 1
fi
