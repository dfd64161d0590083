/* vssm/seg_data.h - segmentation data: label maps and dataset layouts (datasets/seg.c),
 * as mmsegmentation 1.x reads them. The metrics over them are in vssm/seg_eval.h.
 *
 * Label maps (datasets/seg.c) are read as mmseg reads them (PIL, 'unchanged'): a palette
 * PNG gives its palette indices, an 8-bit gray PNG its values; RGB(A) label images are
 * refused. A label map over VSSM_IMAGE_MAX_PIXELS_DEFAULT pixels, or whose header promises
 * more pixel data than the file can hold (deflate expands at most 1032 times), is refused
 * before any buffer is allocated; a file cut before IEND is refused. Written label maps
 * are 8-bit palette PNGs, written through vssm/outfile.h (a unique temp file beside PATH,
 * renamed when complete: two writers of one PATH never share a temp file).
 *
 * Dataset layouts (vssm_seg_dataset_open): each item pairs an image with its label map.
 *   ade20k      ROOT/images/<split>/X.jpg + ROOT/annotations/<split>/X.png
 *               (ROOT = ADEChallengeData2016; split training | validation); reduce_zero_label
 *   voc         ROOT/JPEGImages/X.jpg + ROOT/SegmentationClass/X.png for the ids in
 *               ROOT/ImageSets/Segmentation/<split>.txt (ROOT = VOC2012; split train | val)
 *   cityscapes  ROOT/leftImg8bit/<split>/<city>/X_leftImg8bit.png +
 *               ROOT/gtFine/<split>/<city>/X_gtFine_labelTrainIds.png (split train | val)
 *   pairs       IMAGES/<stem>.<image ext> + LABELS/<stem>.png, matched by stem (two folders)
 * Items are sorted by path (byte order), as mmseg's sorted file scans.
 */
#ifndef VSSM_SEG_DATA_H
#define VSSM_SEG_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "vssm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- label maps ---- */
typedef struct vssm_label_map {
    int w, h;
    int32_t *data; /* h * w values, owned */
} vssm_label_map;

VSSM_API vssm_status vssm_label_map_load(vssm_label_map *out, const char *path, vssm_err *err);
VSSM_API void vssm_label_map_free(vssm_label_map *m);
/* Writes labels (h * w values in 0..255) as an 8-bit palette PNG; palette: 256 RGB
 * triplets. Through vssm/outfile.h: PATH is either untouched or the complete new file. */
VSSM_API vssm_status vssm_label_png_write(const char *path, const uint8_t *labels, int w, int h, const uint8_t *palette,
                                          vssm_err *err);
/* The PASCAL VOC colour map (bit-interleaved), 256 RGB triplets: the default palette. */
VSSM_API void vssm_seg_palette_voc(uint8_t palette[768]);

/* ---- dataset layouts ---- */
typedef enum vssm_seg_layout {
    VSSM_SEG_LAYOUT_ADE20K = 0,
    VSSM_SEG_LAYOUT_VOC,
    VSSM_SEG_LAYOUT_CITYSCAPES,
    VSSM_SEG_LAYOUT_PAIRS,
} vssm_seg_layout;

typedef struct vssm_seg_dataset {
    int n, cap;
    char **image, **label; /* owned paths */
    int reduce_zero_label; /* the layout's convention (ade20k: 1) */
    /* items of the layout left out because their image or label map is missing: one
     * message each, naming the path ("P: label map missing for image I (not scored)") */
    int n_missing, missing_cap;
    char **missing;
    /* the folders the images and the label maps are found in (cityscapes: above the city
     * folders; voc: JPEGImages, SegmentationClass), e.g. for a caller that must not write there */
    char *image_dir, *label_dir;
} vssm_seg_dataset;

/* Parses "ade20k" | "voc" | "cityscapes" | "pairs"; -1 otherwise. */
VSSM_API int vssm_seg_layout_from_name(const char *name);
/* root: the dataset root (pairs: the images folder); split: see above (NULL: the
 * validation split); labels_dir: pairs only. A missing folder or split file is
 * VSSM_ERR_IO / VSSM_ERR_FORMAT naming the path. An item whose image (a voc split id) or
 * label map is missing is left out and named in ds->missing (the caller reports each: one
 * missing file does not stop the rest); when no item is complete, or none is found, the
 * open fails (VSSM_ERR_IO naming the first missing file / VSSM_ERR_FORMAT). */
VSSM_API vssm_status vssm_seg_dataset_open(vssm_seg_dataset *ds, vssm_seg_layout layout, const char *root,
                                           const char *split, const char *labels_dir, vssm_err *err);
VSSM_API void vssm_seg_dataset_free(vssm_seg_dataset *ds);
/* Stem of a path ("a/b/c.png" -> "c"), written into buf. With strip, a Cityscapes suffix
 * "_leftImg8bit" / "_gtFine_labelTrainIds" is removed as well. Truncated to n - 1 bytes;
 * n == 0 writes nothing. */
VSSM_API const char *vssm_seg_path_stem(const char *path, int strip, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
