#!/bin/sh
# tools/ci_format.sh - every C and CUDA file git tracks is formatted as .clang-format says
# (clang-format 14, Debian 12's) and no line is over 120 columns. Fix with:
#     git ls-files '*.c' '*.h' '*.cu' '*.cuh' | xargs clang-format -i
# Env: CLANG_FORMAT (clang-format).
set -eu
cd "$(dirname "$0")/.."
CF=${CLANG_FORMAT:-clang-format}
command -v "$CF" >/dev/null || { echo "ci_format: $CF not found (apt-get install clang-format)" >&2; exit 1; }
bad=0
for f in $(git ls-files '*.c' '*.h' '*.cu' '*.cuh'); do
    if ! "$CF" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "ci_format: $f differs from .clang-format (clang-format -i $f)"
        bad=1
    fi
    awk -v f="$f" 'length > 120 { printf "ci_format: %s:%d is %d columns (at most 120)\n", f, FNR, length; e = 1 } END { exit e }' "$f" || bad=1
done
[ "$bad" -eq 0 ] && echo "ci_format: every C/CUDA file formatted, lines <= 120 columns"
exit "$bad"
