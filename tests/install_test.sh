#!/bin/sh
# tests/install_test.sh - install into a temporary prefix, then build examples/ against it as a
# user would, through pkg-config (vssm.pc, vssm-static.pc) and find_package (vssmConfig.cmake),
# shared and static, and run them without LD_LIBRARY_PATH: each must print the label the
# in-tree example prints for a shipped image. (CTest: test_install, label install)
#
# usage: install_test.sh BUILD_DIR SOURCE_DIR CC PKG_CONFIG VERSION [CMAKE]
set -eu
build=$1 src=$2 cc=$3 pkgconfig=$4 version=$5 cmake=${6:-cmake}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vssm-install-test.XXXXXX")
trap '[ -n "${VSSM_KEEP:-}" ] || rm -rf "$tmp"' EXIT
unset LD_LIBRARY_PATH
fail() { echo "FAIL: $*" >&2; exit 1; }

weights=$src/weights/fashion_mnist/vmamba_fashion.safetensors
image=$(ls "$src"/weights/fashion_mnist/sample/1_Trouser/* | head -n 1)
want=$("$build/example_classify_one" "$weights" "$image") || fail "in-tree example_classify_one failed"
echo "in-tree: $want"
case $want in Trouser\ *) ;; *) fail "in-tree example printed '$want', expected the Trouser class" ;; esac

"$cmake" --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "install"; }
p=$tmp/prefix
lib=$(ls -d "$p"/lib*/pkgconfig 2>/dev/null | head -n 1)
[ -n "$lib" ] || fail "no pkg-config files installed (PREFIX/lib*/pkgconfig)"
lib=${lib%/pkgconfig}
for f in bin/vssm include/vssm/vssm.h include/vssm/version.h; do
    [ -f "$p/$f" ] || fail "$f not installed"
done
[ ! -e "$p/include/vssm/version.h.in" ] || fail "version.h.in installed"
for f in libvssm.a "libvssm.so" pkgconfig/vssm.pc pkgconfig/vssm-static.pc cmake/vssm/vssmConfig.cmake \
         cmake/vssm/vssmConfigVersion.cmake cmake/vssm/vssmTargets.cmake; do
    [ -e "$lib/$f" ] || fail "$lib/$f not installed"
done
soname=$(readelf -d "$lib/libvssm.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ -n "$soname" ] && [ -e "$lib/$soname" ] || fail "libvssm.so has no soname, or $soname is not installed"
echo "soname $soname"
got=$("$p/bin/vssm" --version) || fail "installed vssm --version"
[ "$got" = "vssm $version" ] || fail "vssm --version printed '$got', expected 'vssm $version'"

# runs a built example: same output as in-tree, and the library it names (shared: the
# installed libvssm.so, not the build tree's; static: no libvssm.so at all)
check() {  # check NAME EXE shared|static
    out=$("$2" "$weights" "$image") || fail "$1: exit $?"
    [ "$out" = "$want" ] || fail "$1 printed '$out', expected '$want'"
    deps=$(ldd "$2")
    if [ "$3" = shared ]; then
        echo "$deps" | grep -q "libvssm.so.* => $lib/" || fail "$1 does not load $lib/libvssm.so: $deps"
    else
        ! echo "$deps" | grep -q libvssm || fail "$1 (static) needs libvssm.so: $deps"
    fi
    echo "$1: $out"
}

export PKG_CONFIG_PATH="$lib/pkgconfig"
[ "$("$pkgconfig" --modversion vssm)" = "$version" ] || fail "pkg-config --modversion vssm"
# the shared library's module stands alone: no dependency's .pc file needed (a user without
# cairo's or FFmpeg's -dev packages could not ask for --cflags when vssm.pc named them)
PKG_CONFIG_LIBDIR="$lib/pkgconfig" "$pkgconfig" --cflags --libs vssm >/dev/null ||
    fail "pkg-config --cflags --libs vssm needs other modules' .pc files"
for ex in classify_one track_loop; do
    # shellcheck disable=SC2046
    "$cc" -std=c11 $("$pkgconfig" --cflags vssm) "$src/examples/$ex.c" -o "$tmp/${ex}_pc_shared" \
        $("$pkgconfig" --libs vssm) || fail "pkg-config vssm: $ex does not build"
    # shellcheck disable=SC2046
    "$cc" -std=c11 $("$pkgconfig" --cflags vssm-static) "$src/examples/$ex.c" -o "$tmp/${ex}_pc_static" \
        $("$pkgconfig" --libs vssm-static) || fail "pkg-config vssm-static: $ex does not build"
done
check "pkg-config vssm" "$tmp/classify_one_pc_shared" shared
check "pkg-config vssm-static" "$tmp/classify_one_pc_static" static

"$cmake" -S "$src/tests/install_project" -B "$tmp/user" -DCMAKE_PREFIX_PATH="$p" -DVSSM_EXAMPLES="$src/examples" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release >"$tmp/user.log" 2>&1 ||
    { cat "$tmp/user.log"; fail "find_package"; }
"$cmake" --build "$tmp/user" >"$tmp/user-build.log" 2>&1 || { cat "$tmp/user-build.log"; fail "find_package build"; }
check "find_package vssm::vssm" "$tmp/user/classify_one_shared" shared
check "find_package vssm::vssm_static" "$tmp/user/classify_one_static" static

# a shared-only user without the dependencies' pkg-config files (no -dev packages): the static
# target's dependencies were required by find_package and failed it; now vssm::vssm builds
PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH=/nonexistent "$cmake" -S "$src/tests/install_project" -B "$tmp/user2" \
    -DCMAKE_PREFIX_PATH="$p" -DVSSM_EXAMPLES="$src/examples" -DVSSM_SHARED_ONLY=ON -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=Release >"$tmp/user2.log" 2>&1 || { cat "$tmp/user2.log"; fail "find_package without deps"; }
grep -q "vssm::vssm_static needs" "$tmp/user2.log" || fail "find_package without deps: no note on the static target"
"$cmake" --build "$tmp/user2" >"$tmp/user2-build.log" 2>&1 ||
    { cat "$tmp/user2-build.log"; fail "find_package without deps: build"; }
check "find_package vssm::vssm without the deps' .pc files" "$tmp/user2/classify_one_shared" shared
echo "install test: OK"
