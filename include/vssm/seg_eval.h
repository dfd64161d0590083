/* vssm/seg_eval.h - semantic-segmentation metrics with the conventions of
 * mmsegmentation 1.x (IoUMetric / intersect_and_union).
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
 *     for each image: vssm_seg_metrics_add(&m, pred, gt, h * w, w, "ADE_val_1.png", &err);
 *     vssm_seg_summary s; vssm_seg_metrics_summary(&m, &s);
 *     double iou = vssm_seg_metrics_iou(&m, c);       // NaN when the class never occurs
 *     vssm_seg_metrics_free(&m);
 *
 * Bad input is an error value, never a silent skip: a gt value >= classes that is not the
 * ignore index, or a prediction outside [0, classes), gives VSSM_ERR_FORMAT naming the
 * image, the pixel (x, y) and the value (mmseg's histc would silently drop such pixels).
 *
 * Label maps and dataset layouts (the readers of datasets/seg.c) are in vssm/seg_data.h,
 * which this header includes.
 */
#ifndef VSSM_SEG_EVAL_H
#define VSSM_SEG_EVAL_H

#include <stdint.h>
#include "vssm/common.h"
#include "vssm/seg_data.h"

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

VSSM_API vssm_status vssm_seg_metrics_init(vssm_seg_metrics *m, int classes, int ignore_index, int reduce_zero_label,
                                           vssm_err *err);
VSSM_API void vssm_seg_metrics_free(vssm_seg_metrics *m);
/* pred and gt: n pixels (row-major, width w for error positions; w <= 0: positions given as
 * flat indices). gt holds raw label values (before reduce_zero_label). name is used only
 * in messages. On an error nothing of this image is counted. */
VSSM_API vssm_status vssm_seg_metrics_add(vssm_seg_metrics *m, const int32_t *pred, const int32_t *gt, int64_t n, int w,
                                          const char *name, vssm_err *err);
/* The same, for a prediction and a ground truth read from two files: a bad predicted class
 * is named with pred_name, a bad label with gt_name. */
VSSM_API vssm_status vssm_seg_metrics_add_files(vssm_seg_metrics *m, const int32_t *pred, const int32_t *gt, int64_t n,
                                                int w, const char *pred_name, const char *gt_name, vssm_err *err);
VSSM_API void vssm_seg_metrics_summary(const vssm_seg_metrics *m, vssm_seg_summary *out);
/* The number of pixels counted (gt not the ignore index): 0 when every pixel scored so far
 * was ignored, and then every metric is NaN (undefined), not a score. */
VSSM_API int64_t vssm_seg_metrics_labelled(const vssm_seg_metrics *m);
/* Per class, percent; NaN for 0/0 and for c outside [0, classes). */
VSSM_API double vssm_seg_metrics_iou(const vssm_seg_metrics *m, int c);
VSSM_API double vssm_seg_metrics_acc(const vssm_seg_metrics *m, int c);
VSSM_API double vssm_seg_metrics_dice(const vssm_seg_metrics *m, int c);

#ifdef __cplusplus
}
#endif
#endif
