#!/bin/sh
# tools/demo.sh - the main job on a fresh machine: set up, then classify real
# Fashion-MNIST test images with the shipped VMamba and score them.
set -eu
cd "$(dirname "$0")/.."
sh tools/setup.sh
W=weights/fashion_mnist/vmamba_fashion.safetensors
S=weights/fashion_mnist/sample
echo "== vssm classify (top-3 of the first images)"
./build/vssm classify --weights "$W" --topk 3 "$S" | head -12
echo "== vssm eval classify $S"
./build/vssm eval classify --weights "$W" "$S"
