/* vssm/eval.h - task metrics with the conventions of the standard Python toolkits.
 *
 * Classification (timm validate.py / utils/metrics.py): top-k counts a sample correct when
 * its target is among the k largest logits, k capped at the class count; accuracy =
 * 100 * correct / N. Counters are 64-bit integers, so sums are exact and order-free.
 *
 *     vssm_cls_metrics m;
 *     vssm_cls_metrics_init(&m, classes, 5, &err);
 *     for each sample: vssm_cls_metrics_add(&m, logits, target);
 *     printf("top-1 %.3f\n", vssm_cls_metrics_topk(&m, 1));
 *     vssm_cls_metrics_free(&m);
 */
#ifndef VSSM_EVAL_H
#define VSSM_EVAL_H

#include "vssm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vssm_cls_metrics {
    int classes, kmax;   /* kmax = min(requested k, classes) */
    int64_t n;           /* samples added */
    int64_t n_nan;       /* of them, with a NaN logit for the target or every class (a diverged model) */
    int64_t *correct_at; /* [kmax]: samples whose target rank is < k+1 ... cumulative */
    int64_t *confusion;  /* (classes, classes): row = target, column = top-1 prediction */
} vssm_cls_metrics;

VSSM_API vssm_status vssm_cls_metrics_init(vssm_cls_metrics *m, int classes, int kmax, vssm_err *err);
VSSM_API void vssm_cls_metrics_free(vssm_cls_metrics *m); /* safe on NULL and on a freed m */
/* Ties: a logit equal to the target's counts as ranked above it only when its index is
 * lower (torch.topk keeps the first of equal values). NaN ranks below every number: a NaN
 * target logit after all the others that are not NaN, a NaN logit of another class never
 * above the target (torch.topk would rank NaN first); NaNs among themselves tie (the lower index
 * first: all-NaN logits predict class 0, and rank the target by its index). Returns
 * VSSM_ERR_INVALID_ARG for a target outside [0, classes). */
VSSM_API vssm_status vssm_cls_metrics_add(vssm_cls_metrics *m, const float *logits, int target, vssm_err *err);
/* 100 * correct / n for top-k (k capped at kmax); 0 when n == 0. */
VSSM_API double vssm_cls_metrics_topk(const vssm_cls_metrics *m, int k);
/* per-class top-1 accuracy in percent; NaN for a class with no samples or c outside
 * [0, classes); class_count: the samples of class c (0 outside the range) */
VSSM_API double vssm_cls_metrics_class_acc(const vssm_cls_metrics *m, int c);
VSSM_API int64_t vssm_cls_metrics_class_count(const vssm_cls_metrics *m, int c);

/* Multi-label attribute metrics (Rethinking_of_PAR pedestrian_metrics.py): pred =
 * sigmoid(logit) > 0.5, i.e. logit > 0. label_mA per attribute = (TP/P + TN/N)/2 with
 * eps 1e-20; instance acc/prec/rec averaged over samples (0 when a denominator is 0);
 * F1 = 2PR/(P+R) of the averaged P and R. */
typedef struct vssm_attr_metrics {
    double mA, acc, prec, rec, f1;
} vssm_attr_metrics;
/* probs: (n, a) probabilities in [0, 1]; gt: (n, a) 0/1. VSSM_ERR_INVALID_ARG naming the
 * first sample and attribute with a label other than 0/1 or a probability outside [0, 1]
 * (NaN included). */
VSSM_API vssm_status vssm_attr_metrics_compute(const float *probs, const uint8_t *gt, int64_t n, int a,
                                               vssm_attr_metrics *out, double *label_mA /* (a) or NULL */,
                                               vssm_err *err);

/* The confusion matrix as a plot with class names, counts and a colour bar: vssm/plot.h. */

#ifdef __cplusplus
}
#endif
#endif
