#!/bin/sh
# bench/l2_sweep.sh - are the products' cache rules right for this CPU? One build's forwards
# timed with the L2 size the blocking follows set to several figures (VSSM_CPU_L2), the
# figures' order rotated round by round so all see the same spells of the host.
#
#   sh bench/l2_sweep.sh [BUILD_DIR (build)] [ROUNDS (12)] [ARCHS (vmamba-tiny,vim-tiny)] [THREADS (2)]
#
# The products' order and blocking (kernels/cpu/sgemm.c: row-major up to 1/3 or 5/8 of the L2,
# one-tile bands up to 1/4, tall tiles over 1/2, the fused MLP up to 3/4) were derived from
# the L2 size sysfs reports, on CPUs with 1 MB (Zen 4) and 2 MB (Intel 6/167) and with the
# 1 MB what-if on the latter. On a CPU not measured before (Zen 5), this says whether telling
# the rules another size would be faster: each round runs `vssm bench --arch ARCHS --threads
# THREADS --runs 10 --no-gemm-ref` once per figure in L2S (default: half, the reported size,
# twice and four times it) and reads each model's median ms/batch; the summary gives each
# figure's time over the reported size's, median of the rounds, and in how many rounds it was
# faster. The bits do not depend on the figure (test_cpu_isa), only the time. A figure faster
# by > 2% in most rounds means a fraction in sgemm.c is off for this CPU: say so in the note
# and find which product moved (`--op-times` at both figures, bench/op_times.py).
# Env: L2S (e.g. "512K 1M 2M"), SWEEP_ARGS (extra vssm bench arguments, e.g. "--batch 4").
# Timing rules (README "Speed"): OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for the runs.
set -eu
cd "$(dirname "$0")/.."
B=${1:-build}
ROUNDS=${2:-12}
ARCHS=${3:-vmamba-tiny,vim-tiny}
THREADS=${4:-2}
case "$ROUNDS$THREADS" in
*[!0-9]* | '') echo "l2_sweep: ROUNDS ($ROUNDS) and THREADS ($THREADS) must be whole numbers" >&2; exit 2 ;;
esac
[ "$ROUNDS" -ge 1 ] && [ "$THREADS" -ge 1 ] || { echo "l2_sweep: ROUNDS and THREADS must be at least 1" >&2; exit 2; }
V=$B/vssm
[ -x "$V" ] || { echo "l2_sweep: $V not found (build first: sh tools/setup.sh)" >&2; exit 2; }

# the L2 size of a core as vssm reads it (bytes; the figure sysfs gives cpu0, 1 MB where none)
rep=0
for d in /sys/devices/system/cpu/cpu0/cache/index*; do
    [ -r "$d/level" ] && [ "$(cat "$d/level")" = 2 ] || continue
    s=$(cat "$d/size" 2>/dev/null || echo 0)
    case $s in
    *K) rep=$((${s%K} * 1024)) ;;
    *M) rep=$((${s%M} * 1048576)) ;;
    *[!0-9]* | '') rep=0 ;;
    *) rep=$s ;;
    esac
done
[ "$rep" -gt 0 ] || rep=1048576
# a byte count as VSSM_CPU_L2 takes it (a whole number of K)
kb() { echo "$(($1 / 1024))K"; }
# a figure of L2S (bytes, or a whole number with K or M) in K, so 2M and 2048K are one figure
tok() {
    case $1 in
    *[!0-9KM]* | '' | [KM]* | *[KM]*[0-9KM]) echo "l2_sweep: L2S: '$1' is not a size (bytes, or a whole number with K or M)" >&2; exit 2 ;;
    *K) kb $((${1%K} * 1024)) ;;
    *M) kb $((${1%M} * 1048576)) ;;
    *) kb "$1" ;;
    esac
}
figs=""
for l in ${L2S:-$((rep / 2)) $rep $((rep * 2)) $((rep * 4))}; do
    figs="$figs $(tok "$l")" || exit 2
done
L2S=${figs# }
REF=$(kb "$rep")
case " $L2S " in
*" $REF "*) ;;
*) L2S="$REF $L2S" ;;
esac
# shellcheck disable=SC2086
set -- $L2S
NF=$#

# one run with the L2 taken as $1: the models' median ms/batch, one per line, in ARCHS' order
run() {
    # shellcheck disable=SC2086
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE VSSM_CPU_L2="$1" "$V" bench --arch "$ARCHS" --threads "$THREADS" \
        --runs 10 --no-gemm-ref ${SWEEP_ARGS:-} | awk '$1 == "time" && $3 == "ms/batch" { print $2 }'
}
echo "# l2_sweep: $V, L2 taken as $L2S (reported $REF), $ROUNDS rounds, $ARCHS, $THREADS threads ${SWEEP_ARGS:-}"
echo "# $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(date -u '+%Y-%m-%d %H:%M UTC')"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
i=1
while [ "$i" -le "$ROUNDS" ]; do
    # this round's order: the figures rotated by i
    j=0
    while [ "$j" -lt "$NF" ]; do
        k=$(((i + j) % NF + 1))
        eval "l=\${$k}"
        run "$l" >"$TMP/t_$l"
        [ -s "$TMP/t_$l" ] || { echo "l2_sweep: round $i: the run with L2 $l printed no times" >&2; exit 1; }
        j=$((j + 1))
    done
    line="round $i:"
    m=1
    for a in $(echo "$ARCHS" | tr ',' ' '); do
        ref=$(sed -n "${m}p" "$TMP/t_$REF")
        line="$line  $a"
        for l in $L2S; do
            t=$(sed -n "${m}p" "$TMP/t_$l")
            r=$(awk -v a="$ref" -v b="$t" 'BEGIN { printf "%.3f", b / a }')
            line="$line $l $t"
            echo "$a $l $r" >>"$TMP/ratios"
        done
        m=$((m + 1))
    done
    echo "$line"
    i=$((i + 1))
done
for a in $(echo "$ARCHS" | tr ',' ' '); do
    for l in $L2S; do
        [ "$l" = "$REF" ] && continue
        awk -v a="$a" -v l="$l" -v ref="$REF" '$1 == a && $2 == l { r[++n] = $3; if ($3 < 0.98) f++ }
            END { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
                  med = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
                  printf "%s: L2 taken as %s / as %s (reported), median of %d rounds %.3f (%.3f-%.3f); >2%% faster in %d of %d%s\n",
                         a, l, ref, n, med, r[1], r[n], f, n, (med < 0.98 && 2 * f > n) ? "  <- the rules are off here" : "" }' "$TMP/ratios"
    done
done
