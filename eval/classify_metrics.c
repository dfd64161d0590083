/* eval/classify_metrics.c - top-k accuracy and confusion counts (timm conventions). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vssm/eval.h"

vssm_status vssm_cls_metrics_init(vssm_cls_metrics *m, int classes, int kmax, vssm_err *err) {
    memset(m, 0, sizeof *m);
    if (classes < 1 || classes > 100000 || kmax < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "metrics need 1..100000 classes and k >= 1 (got %d, %d)",
                            classes, kmax);
    m->classes = classes;
    m->kmax = kmax < classes ? kmax : classes;
    m->correct_at = calloc((size_t)m->kmax, sizeof(int64_t));
    m->confusion = calloc((size_t)classes * classes, sizeof(int64_t));
    if (!m->correct_at || !m->confusion) {
        vssm_cls_metrics_free(m);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for a %dx%d confusion matrix", classes, classes);
    }
    return VSSM_OK;
}

void vssm_cls_metrics_free(vssm_cls_metrics *m) {
    if (!m) return;
    free(m->correct_at);
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

vssm_status vssm_cls_metrics_add(vssm_cls_metrics *m, const float *logits, int target, vssm_err *err) {
    if (target < 0 || target >= m->classes)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "target %d outside [0, %d)", target, m->classes);
    /* rank of the target = number of classes ranked above it */
    const float t = logits[target];
    int rank = 0, arg = 0;
    for (int c = 0; c < m->classes; c++) {
        if (logits[c] > t || (logits[c] == t && c < target) || (isnan(t) && (!isnan(logits[c]) || c < target))) rank++;
        if (!isnan(logits[c]) && (logits[c] > logits[arg] || isnan(logits[arg]))) arg = c; /* NaN: as in rank */
    }
    m->n++;
    m->n_nan += isnan(logits[arg]) || isnan(t);
    for (int k = rank; k < m->kmax; k++) m->correct_at[k]++;
    m->confusion[(size_t)target * m->classes + arg]++;
    return VSSM_OK;
}

double vssm_cls_metrics_topk(const vssm_cls_metrics *m, int k) {
    if (m->n == 0 || k < 1) return 0;
    if (k > m->kmax) k = m->kmax;
    return 100.0 * (double)m->correct_at[k - 1] / (double)m->n;
}

int64_t vssm_cls_metrics_class_count(const vssm_cls_metrics *m, int c) {
    if (c < 0 || c >= m->classes) return 0;
    int64_t s = 0;
    for (int j = 0; j < m->classes; j++) s += m->confusion[(size_t)c * m->classes + j];
    return s;
}

double vssm_cls_metrics_class_acc(const vssm_cls_metrics *m, int c) {
    if (c < 0 || c >= m->classes) return NAN;
    int64_t n = vssm_cls_metrics_class_count(m, c);
    return n ? 100.0 * (double)m->confusion[(size_t)c * m->classes + c] / (double)n : NAN;
}

vssm_status vssm_attr_metrics_compute(const float *probs, const uint8_t *gt, int64_t n, int a, vssm_attr_metrics *out,
                                      double *label_mA, vssm_err *err) {
    if (n < 1 || a < 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "attribute metrics need samples and attributes");
    if (!probs || !gt || !out) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "attribute metrics: NULL argument");
    for (int64_t i = 0; i < n * a; i++) /* a label of 2 or a NaN probability would be scored silently */
        if (gt[i] > 1 || !(probs[i] >= 0 && probs[i] <= 1))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                                "attribute metrics: sample %lld, attribute %d: label %d, probability %g (labels are 0 "
                                "or 1, probabilities in [0, 1])",
                                (long long)(i / a), (int)(i % a), gt[i], (double)probs[i]);
    const double eps = 1e-20;
    double mA = 0;
    for (int j = 0; j < a; j++) {
        int64_t P = 0, N = 0, TP = 0, TN = 0;
        for (int64_t i = 0; i < n; i++) {
            int g = gt[i * a + j] != 0, p = probs[i * a + j] > 0.5f;
            P += g;
            N += !g;
            TP += g && p;
            TN += !g && !p;
        }
        double l = ((double)TP / (P + eps) + (double)TN / (N + eps)) / 2;
        if (label_mA) label_mA[j] = l;
        mA += l;
    }
    double acc = 0, prec = 0, rec = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t inter = 0, uni = 0, np = 0, ng = 0;
        for (int j = 0; j < a; j++) {
            int g = gt[i * a + j] != 0, p = probs[i * a + j] > 0.5f;
            inter += g && p;
            uni += g || p;
            np += p;
            ng += g;
        }
        acc += uni ? (double)inter / uni : 0;
        prec += np ? (double)inter / np : 0;
        rec += ng ? (double)inter / ng : 0;
    }
    out->mA = mA / a;
    out->acc = acc / n;
    out->prec = prec / n;
    out->rec = rec / n;
    out->f1 = out->prec + out->rec > 0 ? 2 * out->prec * out->rec / (out->prec + out->rec) : 0;
    return VSSM_OK;
}
