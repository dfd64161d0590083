#!/bin/sh
# bench/ab.sh - two commits' forwards timed against each other, alternated round by round.
#
# The way this project compares builds on a shared, noisy machine (kernels/cpu/README.md): the
# two builds run one after the other in every round, in alternating order, so both see the
# same spells of the host; what counts is the per-round ratio new / old and in how many rounds
# the new build was faster, not one round's milliseconds.
#
#   sh bench/ab.sh OLD NEW [ROUNDS (6)] [ARCHS (vmamba-tiny,vim-tiny)] [THREADS (2)]
#
# OLD and NEW are commits (anything `git rev-parse` takes). Each is checked out as a detached
# worktree under $AB_DIR (/tmp/vssm-ab/<commit>) and built there (Release, CPU only: CUDA, MPI
# and fuzzing off), once: a later call with the same commit reuses the build. Each round runs
# `vssm bench --arch ARCHS --threads THREADS --runs 10 --no-gemm-ref` with each build (random
# weights, the same for both) and reads each model's median ms/batch. OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE are unset for the runs (timing, README "Speed"). Extra `vssm bench`
# arguments: AB_ARGS (e.g. AB_ARGS="--batch 4", or VSSM_CPU_L2=1M in the environment for the
# 1 MB-L2 what-if). Remove the worktrees with `git worktree remove --force` when done.
set -eu
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
ROUNDS=${3:-6}
ARCHS=${4:-vmamba-tiny,vim-tiny}
THREADS=${5:-2}
case "$ROUNDS$THREADS" in
*[!0-9]* | '') echo "ab: ROUNDS ($ROUNDS) and THREADS ($THREADS) must be whole numbers" >&2; exit 2 ;;
esac
[ "$ROUNDS" -ge 1 ] && [ "$THREADS" -ge 1 ] || { echo "ab: ROUNDS and THREADS must be at least 1" >&2; exit 2; }
DIR=${AB_DIR:-/tmp/vssm-ab}
JOBS=${JOBS:-2}

# the build of commit $1 (its vssm binary's path on stdout; the build's log under $DIR)
build() {
    c=$(git rev-parse --verify -q "$1^{commit}" 2>/dev/null) || { echo "ab: $1: not a commit" >&2; exit 2; }
    w=$DIR/$c
    if [ ! -x "$w/build/vssm" ]; then
        mkdir -p "$DIR"
        [ -d "$w" ] || git worktree add --detach "$w" "$c" >/dev/null 2>&1 ||
            { echo "ab: git worktree add $w $c failed" >&2; exit 1; }
        echo "ab: building $1 ($c) in $w" >&2
        if ! { cmake -S "$w" -B "$w/build" -DCMAKE_BUILD_TYPE=Release -DVSSM_CUDA=OFF -DVSSM_MPI=OFF \
            -DVSSM_FUZZ=OFF && cmake --build "$w/build" -j "$JOBS" --target vssm; } >"$DIR/build-$c.log" 2>&1; then
            tail -20 "$DIR/build-$c.log" >&2
            echo "ab: the build of $1 failed (log: $DIR/build-$c.log)" >&2
            exit 1
        fi
    fi
    echo "$w/build/vssm"
}
A=$(build "$1")
B=$(build "$2")

# one run of build $1: the models' median ms/batch, one per line, in ARCHS' order
run() {
    # shellcheck disable=SC2086
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$1" bench --arch "$ARCHS" --threads "$THREADS" --runs 10 \
        --no-gemm-ref ${AB_ARGS:-} | awk '$1 == "time" && $3 == "ms/batch" { print $2 }'
}
echo "# $1 ($A) against $2 ($B): $ROUNDS rounds, $ARCHS, $THREADS threads ${AB_ARGS:-}"
echo "# $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(date -u '+%Y-%m-%d %H:%M UTC')"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
i=1
while [ "$i" -le "$ROUNDS" ]; do
    if [ $((i % 2)) -eq 1 ]; then
        run "$A" >"$TMP/a"
        run "$B" >"$TMP/b"
    else
        run "$B" >"$TMP/b"
        run "$A" >"$TMP/a"
    fi
    [ -s "$TMP/a" ] && [ -s "$TMP/b" ] || { echo "ab: round $i: a run printed no times" >&2; exit 1; }
    line="round $i:"
    k=1
    for m in $(echo "$ARCHS" | tr ',' ' '); do
        a=$(sed -n "${k}p" "$TMP/a")
        b=$(sed -n "${k}p" "$TMP/b")
        r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
        line="$line  $m $a -> $b ms ($r)"
        echo "$m $r" >>"$TMP/ratios"
        k=$((k + 1))
    done
    echo "$line"
    i=$((i + 1))
done
for m in $(echo "$ARCHS" | tr ',' ' '); do
    awk -v m="$m" '$1 == m { r[++n] = $2; if ($2 < 1) f++ }
        END { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
              med = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
              printf "%s: new / old time, median of %d rounds %.3f (%.3f-%.3f); new faster in %d of %d\n",
                     m, n, med, r[1], r[n], f, n }' "$TMP/ratios"
done
