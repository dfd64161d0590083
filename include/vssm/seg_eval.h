/* vssm/seg_eval.h - semantic-segmentation metrics, label maps and dataset layouts, with
 * the conventions of mmsegmentation 1.x (IoUMetric / intersect_and_union).
 *
 * Metrics. Per class c, over the WHOLE dataset (sums first, ratios last):
 *     I_c = #(pred == gt == c), P_c = #(pred == c), L_c = #(gt == c), U_c = P_c + L_c - I_c
 * after dropping every pixel whose gt equals ignore_index (255). Counters are 64-bit
 * integers (mmseg sums float histograms; integers are exact and order-free).
 *     aAcc = sum I / sum L       IoU_c = I_c / U_c     Acc_c = I_c / L_c
 *     Dice_c = 2 I_c / (P_c + L_c)
 * 0/0 gives NaN; NaN classes are left out of the means (numpy nanmean). Summaries are
 * percentages (mmseg rounds them to 2 decimals when printing; we return them unrounded).
 * reduce_zero_label (ADE20K) maps the gt before counting: 0 -> 255, v -> v - 1, and
 * 254 -> 255 (so 255 stays ignored).
 *
 *     vssm_seg_metrics m;
 *     vssm_seg_metrics_init(&m, 150, 255, 1, &err);
 *     for each image: vssm_seg_metrics_add(&m, pred, gt, h * w, "ADE_val_1.png", &err);
 *     vssm_seg_summary s; vssm_seg_metrics_summary(&m, &s);
 *     double iou = vssm_seg_metrics_iou(&m, c);       // NaN when the class never occurs
 *     vssm_seg_metrics_free(&m);
 *
 * Bad input is an error value, never a silent skip: a gt value >= classes that is not the
 * ignore index, or a prediction outside [0, classes), gives VSSM_ERR_FORMAT naming the
 * image, the pixel (x, y) and the value (mmseg's histc would silently drop such pixels).
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
#ifndef VSSM_SEG_EVAL_H
#define VSSM_SEG_EVAL_H

#include <stdint.h>
#include "vssm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vssm_seg_metrics {
    int classes, ignore_index, reduce_zero_label;
    int64_t images;
    int64_t *area_inter, *area_pred, *area_label; /* [classes] each */
} vssm_seg_metrics;

typedef struct vssm_seg_summary {
    double aAcc, mIoU, mAcc, mDice; /* percent */
} vssm_seg_summary;

vssm_status vssm_seg_metrics_init(vssm_seg_metrics *m, int classes, int ignore_index, int reduce_zero_label,
                                  vssm_err *err);
void vssm_seg_metrics_free(vssm_seg_metrics *m);
/* pred and gt: n pixels (row-major, width w for error positions; w <= 0: positions given as
 * flat indices). gt holds raw label values (before reduce_zero_label). name is used only
 * in messages. On an error nothing of this image is counted. */
vssm_status vssm_seg_metrics_add(vssm_seg_metrics *m, const int32_t *pred, const int32_t *gt, int64_t n, int w,
                                 const char *name, vssm_err *err);
void vssm_seg_metrics_summary(const vssm_seg_metrics *m, vssm_seg_summary *out);
/* Per class, percent; NaN for 0/0. */
double vssm_seg_metrics_iou(const vssm_seg_metrics *m, int c);
double vssm_seg_metrics_acc(const vssm_seg_metrics *m, int c);
double vssm_seg_metrics_dice(const vssm_seg_metrics *m, int c);

/* ---- label maps ---- */
typedef struct vssm_label_map {
    int w, h;
    int32_t *data; /* h * w values, owned */
} vssm_label_map;

vssm_status vssm_label_map_load(vssm_label_map *out, const char *path, vssm_err *err);
void vssm_label_map_free(vssm_label_map *m);
/* Writes labels (h * w values in 0..255) as an 8-bit palette PNG; palette: 256 RGB
 * triplets. Through vssm/outfile.h: PATH is either untouched or the complete new file. */
vssm_status vssm_label_png_write(const char *path, const uint8_t *labels, int w, int h, const uint8_t *palette,
                                 vssm_err *err);
/* The PASCAL VOC colour map (bit-interleaved), 256 RGB triplets: the default palette. */
void vssm_seg_palette_voc(uint8_t palette[768]);

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
} vssm_seg_dataset;

/* Parses "ade20k" | "voc" | "cityscapes" | "pairs"; -1 otherwise. */
int vssm_seg_layout_from_name(const char *name);
/* root: the dataset root (pairs: the images folder); split: see above (NULL: the
 * validation split); labels_dir: pairs only. A missing folder or split file, or an image
 * without its label map, is VSSM_ERR_IO / VSSM_ERR_FORMAT naming the path. */
vssm_status vssm_seg_dataset_open(vssm_seg_dataset *ds, vssm_seg_layout layout, const char *root, const char *split,
                                  const char *labels_dir, vssm_err *err);
void vssm_seg_dataset_free(vssm_seg_dataset *ds);
/* Stem of a path ("a/b/c.png" -> "c"), written into buf. With strip, a Cityscapes suffix
 * "_leftImg8bit" / "_gtFine_labelTrainIds" is removed as well. */
const char *vssm_seg_path_stem(const char *path, int strip, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
