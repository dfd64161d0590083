#!/bin/sh
# tests/fuzz/make_seeds.sh [FEATURES] - regenerates the seeds of tests/fuzz/corpus/ that are
# built from tests/data (the multi-file inputs of fuzz_track and fuzz_reid; see each
# harness's header for the layout). FEATURES: a re-ID features file to wrap (made by
#   vssm reid extract --weights tests/data/vim/reid.safetensors --data tests/data/reid/market
#        --format market --out FEATURES); without it that seed is left as it is.
# The other targets' seeds are tests/data files used in place (tests/fuzz/seeds/*.list).
set -eu
cd "$(dirname "$0")/../.."
C=tests/fuzz/corpus
R=tests/data/track/readers
RS=$(printf '\036')
mkdir -p $C/track $C/reid
# fuzz_track: FORMAT RESULTS \x1e GT [\x1e A [\x1e B [\x1e META]]]  (format 0 otb, 1 lasot, 2 got10k)
track() { # name fmt results gt [a [b [meta]]]
    out=$C/track/$1; fmt=$2; shift 2
    printf "\\$(printf %03o "$fmt")" >"$out"
    first=1
    for f in "$@"; do
        [ $first -eq 1 ] || printf '%s' "$RS" >>"$out"
        first=0
        cat "$f" >>"$out"
    done
}
track otb_comma 0 $R/otb/Spaces/groundtruth_rect.txt $R/otb/Comma/groundtruth_rect.txt
track otb_spaces 0 $R/otb/Comma/groundtruth_rect.txt $R/otb/Spaces/groundtruth_rect.txt
track otb_short 0 $R/otb/Comma/groundtruth_rect.txt $R/bad/Short/groundtruth_rect.txt
track otb_fmnist 0 tests/data/track/otb/fmnist-01/groundtruth_rect.txt tests/data/track/otb/fmnist-01/groundtruth_rect.txt
L=$R/lasot/cat/cat-1
track lasot_cat1 1 $R/lasot/cat/cat-2/groundtruth.txt $L/groundtruth.txt $L/full_occlusion.txt $L/out_of_view.txt
track lasot_cat2 1 $L/groundtruth.txt $R/lasot/cat/cat-2/groundtruth.txt
G=$R/got10k/val/GOT-10k_Val_000001
track got10k_val1 2 $G/groundtruth.txt $G/groundtruth.txt $G/absence.label $G/cover.label $G/meta_info.ini
# a one-frame GOT-10k sequence (frame 0 only: nothing left to score)
head -n 1 $G/groundtruth.txt >"$C/track/.gt1"; head -n 1 $G/absence.label >"$C/track/.a1"; head -n 1 $G/cover.label >"$C/track/.c1"
track got10k_1frame 2 "$C/track/.gt1" "$C/track/.gt1" "$C/track/.a1" "$C/track/.c1" $G/meta_info.ini
rm -f "$C/track/.gt1" "$C/track/.a1" "$C/track/.c1"
# fuzz_reid: byte < 128 then a file name (parsed as Market, VeRi and MSMT17)
i=0
for n in $(ls tests/data/reid/market/query tests/data/reid/market/bounding_box_test | grep _) \
         0002_c002_00030600_0.jpg 0000/0000_000_01_0303morning_0015_0.jpg; do
    printf '\000%s' "$n" >$C/reid/name_$i
    i=$((i + 1))
done
# byte >= 128 then a features file
if [ $# -ge 1 ]; then
    { printf '\200'; cat "$1"; } >$C/reid/features_market
    { printf '\203'; cat "$1"; } >$C/reid/features_market_rerank
fi
# fuzz_lists: mode byte (0 MSMT17 lists, 1 VOC split, 2 class names), then the file(s)
mkdir -p $C/lists
{ printf '\000'; printf '0000/0000_000_01_0303morning_0015_0.jpg 0\n0001/0001_001_02_0303morning_0016_0.jpg 1\n';
  printf '%s' "$RS"; printf '0000/0000_001_03_0303noon_0020_0.jpg 0\n-1/-1_002_04_0303noon_0021_0.jpg -1\n'; } >$C/lists/msmt
{ printf '\001'; printf 'a\n2007_000032\n\n'; } >$C/lists/voc
{ printf '\002'; printf 'a cat\na dog\na bird\n'; } >$C/lists/labels
