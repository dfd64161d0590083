/* eval/seg_metrics.c - mmseg 1.x IoUMetric: dataset-level intersect / union sums
 * (vssm/seg_eval.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vssm/seg_eval.h"

vssm_status vssm_seg_metrics_init(vssm_seg_metrics *m, int classes, int ignore_index, int reduce_zero_label,
                                  vssm_err *err) {
    memset(m, 0, sizeof *m);
    if (classes < 1 || classes > 65536)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "segmentation metrics need 1..65536 classes (got %d)", classes);
    m->classes = classes;
    m->ignore_index = ignore_index;
    m->reduce_zero_label = reduce_zero_label;
    m->area_inter = calloc((size_t)classes * 3, sizeof(int64_t));
    if (!m->area_inter) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    m->area_pred = m->area_inter + classes;
    m->area_label = m->area_pred + classes;
    return VSSM_OK;
}

void vssm_seg_metrics_free(vssm_seg_metrics *m) {
    if (!m) return;
    free(m->area_inter);
    memset(m, 0, sizeof *m);
}

/* mmseg LoadAnnotations(reduce_zero_label=True) on uint8 maps */
static int32_t reduce_zero(int32_t g) {
    if (g == 0) return 255;
    g -= 1;
    return g == 254 ? 255 : g;
}

vssm_status vssm_seg_metrics_add(vssm_seg_metrics *m, const int32_t *pred, const int32_t *gt, int64_t n, int w,
                                 const char *name, vssm_err *err) {
    return vssm_seg_metrics_add_files(m, pred, gt, n, w, name, name, err);
}

vssm_status vssm_seg_metrics_add_files(vssm_seg_metrics *m, const int32_t *pred, const int32_t *gt, int64_t n, int w,
                                       const char *pred_name, const char *name, vssm_err *err) {
    const int C = m->classes;
    name = name ? name : "(image)";
    pred_name = pred_name ? pred_name : name;
    /* validate first, so an image with bad values counts nothing */
    for (int64_t i = 0; i < n; i++) {
        int32_t g = m->reduce_zero_label ? reduce_zero(gt[i]) : gt[i];
        if (g == m->ignore_index) continue;
        if (g < 0 || g >= C) {
            if (w > 0)
                return vssm_err_set(err, VSSM_ERR_FORMAT,
                                    "%s: label %d at (x %lld, y %lld) is not a class (0..%d) nor the ignore index %d",
                                    name, (int)gt[i], (long long)(i % w), (long long)(i / w), C - 1, m->ignore_index);
            return vssm_err_set(err, VSSM_ERR_FORMAT,
                                "%s: label %d at pixel %lld is not a class (0..%d) nor the ignore index %d", name,
                                (int)gt[i], (long long)i, C - 1, m->ignore_index);
        }
        if ((pred[i] < 0 || pred[i] >= C) && w > 0)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: predicted class %d at (x %lld, y %lld) is outside 0..%d",
                                pred_name, (int)pred[i], (long long)(i % w), (long long)(i / w), C - 1);
        if (pred[i] < 0 || pred[i] >= C)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: predicted class %d at pixel %lld is outside 0..%d",
                                pred_name, (int)pred[i], (long long)i, C - 1);
    }
    for (int64_t i = 0; i < n; i++) {
        int32_t g = m->reduce_zero_label ? reduce_zero(gt[i]) : gt[i];
        if (g == m->ignore_index) continue;
        m->area_label[g]++;
        m->area_pred[pred[i]]++;
        if (pred[i] == g) m->area_inter[g]++;
    }
    m->images++;
    return VSSM_OK;
}

static double ratio(int64_t a, int64_t b) { return b == 0 ? (a == 0 ? NAN : INFINITY) : 100.0 * (double)a / (double)b; }

/* the per-class getters: NaN for a class outside [0, classes) */
double vssm_seg_metrics_iou(const vssm_seg_metrics *m, int c) {
    if (c < 0 || c >= m->classes) return NAN;
    return ratio(m->area_inter[c], m->area_pred[c] + m->area_label[c] - m->area_inter[c]);
}
double vssm_seg_metrics_acc(const vssm_seg_metrics *m, int c) {
    if (c < 0 || c >= m->classes) return NAN;
    return ratio(m->area_inter[c], m->area_label[c]);
}
double vssm_seg_metrics_dice(const vssm_seg_metrics *m, int c) {
    if (c < 0 || c >= m->classes) return NAN;
    return ratio(2 * m->area_inter[c], m->area_pred[c] + m->area_label[c]);
}

static double nanmean(const vssm_seg_metrics *m, double (*f)(const vssm_seg_metrics *, int)) {
    double s = 0;
    int n = 0;
    for (int c = 0; c < m->classes; c++) {
        double v = f(m, c);
        if (isnan(v)) continue;
        s += v;
        n++;
    }
    return n ? s / n : NAN;
}

void vssm_seg_metrics_summary(const vssm_seg_metrics *m, vssm_seg_summary *out) {
    int64_t I = 0, L = 0;
    for (int c = 0; c < m->classes; c++) {
        I += m->area_inter[c];
        L += m->area_label[c];
    }
    out->aAcc = ratio(I, L);
    out->mIoU = nanmean(m, vssm_seg_metrics_iou);
    out->mAcc = nanmean(m, vssm_seg_metrics_acc);
    out->mDice = nanmean(m, vssm_seg_metrics_dice);
}

int64_t vssm_seg_metrics_labelled(const vssm_seg_metrics *m) {
    int64_t L = 0;
    for (int c = 0; c < m->classes; c++) L += m->area_label[c];
    return L;
}
