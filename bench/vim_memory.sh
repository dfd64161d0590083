#!/bin/sh
# bench/vim_memory.sh - Vim's memory against token count: `vssm bench` at 224, 512, 1024
# and 1248 (one run each, random weights), activation MB as planned, peak resident MB,
# and activation bytes per token (constant when memory grows linearly with the tokens).
#   sh bench/vim_memory.sh [build-dir] [arch]     (default: build vim-tiny)
set -e
B=${1:-build}
ARCH=${2:-vim-tiny}
printf "%-6s %8s %10s %14s %12s %14s\n" size tokens ms/img "activation MB" "peak RSS MB" "KB/token"
for S in 224 512 1024 1248; do
    "$B/vssm" bench --arch "$ARCH" --size "$S" --runs 1 --warmup 1 --no-gemm-ref --json |
        python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d["height"]
tok = (s // 16) ** 2 + 1   # patch 16 grid + the class token
print("%-6d %8d %10.1f %14.2f %12.1f %14.3f" % (s, tok, d["ms_per_img"], d["activation_mb"], d["peak_rss_mb"],
      d["activation_mb"] * 1e3 / tok))'
done
