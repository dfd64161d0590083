#!/bin/sh
# tools/setup.sh - install what vssm needs (Debian packages) and build it in ./build.
# Safe to rerun: installs only what is missing, rebuilds only what changed.
# Env: BUILD_DIR (default build), VSSM_CUDA (AUTO|ON|OFF, default AUTO), JOBS (default 2).
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
# opencv-doc: vtest.avi, the real pedestrian video test_video_track tracks (it skips that part without it)
PKGS="build-essential cmake pkg-config locales libopenblas-openmp-dev libturbojpeg0-dev libpng-dev libstb-dev libcjson-dev libcairo2-dev libopenmpi-dev openmpi-bin libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libavdevice-dev opencv-doc"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DVSSM_CUDA="${VSSM_CUDA:-AUTO}" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" >/dev/null
echo "setup: built $BUILD_DIR/vssm" >&2
