#!/bin/sh
# tools/ci_fuzz.sh - builds the libFuzzer harnesses (tests/fuzz, clang, -DVSSM_FUZZ=ON) and
# runs each one: first on its saved crash reproducers (tests/fuzz/regress/<target>/*: bugs
# found and fixed stay fixed), then a fuzzing run of FUZZ_SECONDS seconds from its seeds
# (tests/fuzz/corpus/<target>/ + the tests/data files named in tests/fuzz/seeds/<target>.list).
# Any crash, sanitizer report, leak, timeout or out-of-memory fails it (exit 1) after every
# target has run; reproducers land in $BUILD_DIR/artifacts/<target>/.
# Env: FUZZ_BUILD_DIR (build-fuzz), FUZZ_SECONDS (25), FUZZ_TARGETS (all), JOBS (2),
#      FUZZ_ARGS (extra libFuzzer flags), FUZZ_KEEP_CORPUS=1 (do not reset the work corpus).
# The long run is the same with a bigger FUZZ_SECONDS; see tests/fuzz/README.md.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
B=${FUZZ_BUILD_DIR:-build-fuzz}
SECS=${FUZZ_SECONDS:-25}
JOBS=${JOBS:-2}
TARGETS=${FUZZ_TARGETS:-"image safetensors pth model track reid seg lists"}
command -v clang >/dev/null || { echo "ci_fuzz: clang not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
CC=clang cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVSSM_CUDA=OFF -DVSSM_MPI=OFF -DVSSM_FUZZ=ON >/dev/null
cmake --build "$B" -j "$JOBS" --target fuzz >/dev/null
# llvm-symbolizer for readable stacks (Debian: llvm-14 ships it without the bare name)
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
    for s in llvm-symbolizer /usr/lib/llvm-14/bin/llvm-symbolizer; do
        if command -v "$s" >/dev/null 2>&1; then ASAN_SYMBOLIZER_PATH=$(command -v "$s"); export ASAN_SYMBOLIZER_PATH; break; fi
    done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# -rss_limit_mb/-malloc_limit_mb: a file that claims a huge size must not be able to take the
# machine; -timeout: one input may take at most 30 s
LIBFUZZER="-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=30 ${FUZZ_ARGS:-}"
# One target: its reproducers, then its fuzzing run. Its summary line goes to
# $RES/<target>.sum and each failure's name to $RES/<target>.fail (the lanes below run in
# subshells, so nothing is returned in variables).
RES=$ROOT/$B/results
rm -rf "$RES"
mkdir -p "$RES"
one_target() {
    t=$1
    bin=$B/fuzz_$t
    [ -x "$bin" ] || { echo "ci_fuzz: $bin missing" >&2; echo "$t" >>"$RES/$t.fail"; return 0; }
    art=$B/artifacts/$t
    # the harnesses' scratch folders (fuzz_util.h) go here, so a crashed run leaves nothing in /tmp
    fztmp=$ROOT/$B/tmp/$t
    rm -rf "$fztmp"
    mkdir -p "$fztmp"
    corpus=$B/corpus/$t
    rm -rf "$art"   # only this run's findings
    mkdir -p "$art"
    [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$corpus"
    mkdir -p "$corpus"
    if [ -d tests/fuzz/corpus/$t ]; then
        for f in tests/fuzz/corpus/$t/*; do [ -f "$f" ] && cp "$f" "$corpus/"; done
    fi
    if [ -f tests/fuzz/seeds/$t.list ]; then
        grep -v '^#' tests/fuzz/seeds/$t.list | while read -r f; do
            [ -n "$f" ] || continue
            if [ -f "$f" ]; then cp "$f" "$corpus/seed_$(echo "$f" | tr '/' '_')"; else echo "ci_fuzz: $t: seed $f missing" >&2; fi
        done
    fi
    # a dictionary of the format's tokens, when the target has one
    dict=""
    case $t in
        pth) dict=tests/fuzz/pth.dict ;;
        safetensors|reid) dict=tests/fuzz/safetensors.dict ;;
        # model files come as either format: both dictionaries (libFuzzer takes one file)
        model) dict=$B/model.dict; cat tests/fuzz/pth.dict tests/fuzz/safetensors.dict >"$dict" ;;
    esac
    # 1. the saved reproducers, each run once
    nreg=0
    if [ -d tests/fuzz/regress/$t ]; then
        set -- 
        for f in tests/fuzz/regress/$t/*; do [ -f "$f" ] && set -- "$@" "$f"; done
        nreg=$#
        if [ $nreg -gt 0 ]; then
            if ! TMPDIR=$fztmp "$bin" $LIBFUZZER "$@" >"$B/regress_$t.log" 2>&1; then
                echo "ci_fuzz: $t: a saved reproducer fails again (tests/fuzz/regress/$t):" >&2
                grep -E "Running:|ERROR|SUMMARY|runtime error|#[0-9] " "$B/regress_$t.log" | head -40 >&2
                echo "$t(regress)" >>"$RES/$t.fail"
            fi
        fi
    fi
    # 2. the fuzzing run
    log=$B/fuzz_$t.log
    rc=0
    TMPDIR=$fztmp "$bin" $LIBFUZZER -max_total_time="$SECS" -print_final_stats=1 ${dict:+-dict=$dict} -artifact_prefix="$ROOT/$art/" "$corpus" >"$log" 2>&1 || rc=$?
    rm -rf "$fztmp"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    printf '%-12s %10s execs  %6s edges  %3d reproducers replayed  rc %d\n' "$t" "${execs:-?}" "${cov:-?}" "$nreg" "$rc" >"$RES/$t.sum"
    if [ "$rc" -ne 0 ]; then
        echo "ci_fuzz: $t: FINDING (exit $rc); reproducer(s) in $art:" >&2
        ls "$art" >&2 || true
        grep -E "ERROR|SUMMARY|runtime error|#[0-9]+ 0x" "$log" | head -40 >&2
        echo "$t" >>"$RES/$t.fail"
    fi
}
# the targets dealt round-robin to JOBS lanes, each lane running its targets one after the
# other in the background: the same FUZZ_SECONDS per target, in 1/JOBS of the time (each
# harness runs one process on one core; session 27: 8 x 25 s one after the other was 200 s
# of the stage's 347)
lane=0
while [ "$lane" -lt "$JOBS" ]; do
    i=0
    mine=""
    for t in $TARGETS; do
        if [ $((i % JOBS)) -eq "$lane" ]; then mine="$mine $t"; fi
        i=$((i + 1))
    done
    (for t in $mine; do one_target "$t"; done) &
    lane=$((lane + 1))
done
wait
failed=""
summary=""
for t in $TARGETS; do
    if [ -f "$RES/$t.sum" ]; then
        summary="$summary$(cat "$RES/$t.sum")
"
    elif [ ! -f "$RES/$t.fail" ]; then # its lane stopped before it (set -e): a failure too
        echo "$t(no result)" >"$RES/$t.fail"
    fi
    if [ -f "$RES/$t.fail" ]; then failed="$failed$(sed 's/^/ /' "$RES/$t.fail" | tr -d '\n')"; fi
done
printf 'ci_fuzz: %s s per target\n%s' "$SECS" "$summary" >&2
if [ -n "$failed" ]; then
    echo "ci_fuzz: FAILED:$failed (logs: $B/fuzz_<target>.log)" >&2
    exit 1
fi
echo "ci_fuzz: all targets clean" >&2
