/* eval/track_metrics.c - single-object tracking metrics, exactly as pytracking's
 * analysis/extract_results.py (calc_seq_err_robust, extract_results) and plot_results.py
 * (get_auc_curve, get_prec_curve), and the got10k toolkit's ExperimentGOT10k.report
 * (rect_iou with bound, _evaluate). The rules are listed in vssm/track.h. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vssm/track.h"

/* torch.arange(0.0, 1.05, 0.05, dtype=torch.float64) exactly (its values 13 and 15 are one
 * ulp above 13 * 0.05 and 15 * 0.05) */
static const double OVERLAP_THR[VSSM_TRACK_N_OVERLAP] = {0.0,
                                                         0.05,
                                                         0.1,
                                                         0.15000000000000002,
                                                         0.2,
                                                         0.25,
                                                         0.30000000000000004,
                                                         0.35000000000000003,
                                                         0.4,
                                                         0.45,
                                                         0.5,
                                                         0.55,
                                                         0.6000000000000001,
                                                         0.6500000000000001,
                                                         0.7000000000000001,
                                                         0.7500000000000001,
                                                         0.8,
                                                         0.8500000000000001,
                                                         0.9,
                                                         0.9500000000000001,
                                                         1.0};

double vssm_track_overlap_threshold(int i) { return i >= 0 && i < VSSM_TRACK_N_OVERLAP ? OVERLAP_THR[i] : NAN; }

static int has_nan(const vssm_box *b) { return isnan(b->x) || isnan(b->y) || isnan(b->w) || isnan(b->h); }
static int all_finite(const vssm_box *b) {
    return isfinite(b->x) && isfinite(b->y) && isfinite(b->w) && isfinite(b->h);
}

int vssm_track_gt_check(const vssm_box *gt, int n_gt, vssm_err *err) {
    for (int i = 0; i < n_gt; i++)
        if (!all_finite(&gt[i])) {
            vssm_err_set(err, VSSM_ERR_FORMAT, "ground-truth box %d (%g, %g, %g, %g) is not finite", i + 1, gt[i].x,
                         gt[i].y, gt[i].w, gt[i].h);
            return i;
        }
    return -1;
}

/* pytracking's checks, in its order: NaN or a negative size anywhere ('Error: Invalid
 * results'); then, over the frames scored (after the zero-size repeat and the truncation),
 * a NaN overlap with a valid GT frame ('Nans in calculated overlap'). torch.min/max
 * propagate NaN where C's fmin/fmax drop it, so the one NaN the overlap can get from
 * finite GT and NaN-free, non-negative predictions - x + w = -inf + inf - is found here. */
static int pyt_check(const vssm_box *pred, int n_pred, const vssm_box *gt, const uint8_t *visible, int n_gt,
                     vssm_err *err) {
    for (int i = 0; i < n_pred; i++)
        if (has_nan(&pred[i]) || pred[i].w < 0 || pred[i].h < 0) {
            vssm_err_set(err, VSSM_ERR_FORMAT,
                         "box %d (%g, %g, %g, %g) has NaN or a negative size (pytracking: 'Invalid results')", i + 1,
                         pred[i].x, pred[i].y, pred[i].w, pred[i].h);
            return i;
        }
    const int m = n_pred < n_gt ? n_pred : n_gt;
    int src = 0; /* the box frame i is scored with (a zero-size box repeats the previous) */
    for (int i = 1; i < m; i++) {
        if (!(pred[i].w == 0.0 || pred[i].h == 0.0)) src = i;
        const vssm_box *p = &pred[src], *a = &gt[i];
        int valid = a->w > 0.0 && a->h > 0.0 && (!visible || visible[i]);
        if (valid && (isnan(p->x + p->w) || isnan(p->y + p->h))) {
            vssm_err_set(
                err, VSSM_ERR_FORMAT,
                "box %d (%g, %g, %g, %g): its overlap is NaN (-inf + inf; pytracking: 'Nans in calculated overlap')",
                src + 1, p->x, p->y, p->w, p->h);
            return src;
        }
    }
    return -1;
}

static int got10k_check(const vssm_box *pred, int n_pred, vssm_err *err) {
    for (int i = 0; i < n_pred; i++)
        if (has_nan(&pred[i])) {
            vssm_err_set(err, VSSM_ERR_FORMAT, "box %d (%g, %g, %g, %g) has NaN (the got10k toolkit's AO would be NaN)",
                         i + 1, pred[i].x, pred[i].y, pred[i].w, pred[i].h);
            return i;
        }
    return -1;
}

int vssm_track_results_check(const vssm_box *pred, int n_pred, const vssm_box *gt, const uint8_t *visible, int n_gt,
                             vssm_seq_format fmt, vssm_err *err) {
    if (!pred || n_pred < 1) return -1;
    if (fmt == VSSM_SEQ_FORMAT_GOT10K) return got10k_check(pred, n_pred, err);
    if (!gt || n_gt < 1) return -1;
    return pyt_check(pred, n_pred, gt, visible, n_gt, err);
}

/* pytracking calc_iou_overlap: tl = max, br = min(xy + wh - 1), sz = clamp(br - tl + 1, 0) */
static double iou_pyt(const vssm_box *p, const vssm_box *a) {
    double tlx = fmax(p->x, a->x), tly = fmax(p->y, a->y);
    double brx = fmin(p->x + p->w - 1.0, a->x + a->w - 1.0), bry = fmin(p->y + p->h - 1.0, a->y + a->h - 1.0);
    double sx = fmax(brx - tlx + 1.0, 0.0), sy = fmax(bry - tly + 1.0, 0.0);
    double inter = sx * sy;
    return inter / (p->w * p->h + a->w * a->h - inter);
}

vssm_status vssm_track_seq_eval(const vssm_box *pred_in, int n_pred, const vssm_box *gt, const uint8_t *visible,
                                int n_gt, vssm_track_protocol proto, vssm_track_seq_metrics *out, vssm_err *err) {
    memset(out, 0, sizeof *out);
    if ((int)proto < 0 || (int)proto > (int)VSSM_TRACK_PROTOCOL_LASOT)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "unknown tracking protocol %d", (int)proto);
    if (n_gt < 1 || !gt) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "no ground-truth boxes");
    if (n_pred < 1 || !pred_in) return vssm_err_set(err, VSSM_ERR_FORMAT, "no predicted boxes");
    if (vssm_track_gt_check(gt, n_gt, err) >= 0) return VSSM_ERR_FORMAT;
    if (pyt_check(pred_in, n_pred, gt, visible, n_gt, err) >= 0) return VSSM_ERR_FORMAT;
    if (proto == VSSM_TRACK_PROTOCOL_LASOT && n_pred < n_gt)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "mismatch in tracker prediction (%d boxes) and GT (%d) lengths",
                            n_pred, n_gt);

    vssm_box *pred = calloc((size_t)n_gt, sizeof *pred); /* zero boxes pad a short result */
    double *iou = malloc((size_t)n_gt * sizeof(double)), *ec = malloc((size_t)n_gt * sizeof(double)),
           *en = malloc((size_t)n_gt * sizeof(double));
    if (!pred || !iou || !ec || !en) {
        free(pred);
        free(iou);
        free(ec);
        free(en);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    const int m = n_pred < n_gt ? n_pred : n_gt;
    memcpy(pred, pred_in, (size_t)m * sizeof *pred);
    /* a zero-size prediction repeats the previous frame's (before padding, as pytracking) */
    for (int i = 1; i < m; i++)
        if (pred[i].w == 0.0 || pred[i].h == 0.0) pred[i] = pred[i - 1];
    pred[0] = gt[0];

    int n_valid = 0;
    double sum_iou = 0;
    for (int i = 0; i < n_gt; i++) {
        const vssm_box *p = &pred[i], *a = &gt[i];
        int vis = visible ? visible[i] != 0 : 1;
        int valid = a->w > 0.0 && a->h > 0.0 && vis;
        if (valid) {
            double pcx = p->x + 0.5 * (p->w - 1.0), pcy = p->y + 0.5 * (p->h - 1.0);
            double acx = a->x + 0.5 * (a->w - 1.0), acy = a->y + 0.5 * (a->h - 1.0);
            ec[i] = sqrt((pcx - acx) * (pcx - acx) + (pcy - acy) * (pcy - acy));
            double dx = pcx / a->w - acx / a->w, dy = pcy / a->h - acy / a->h;
            en[i] = sqrt(dx * dx + dy * dy);
            iou[i] = iou_pyt(p, a);
            n_valid++;
            sum_iou += iou[i];
        } else {
            ec[i] = INFINITY;
            en[i] = -1.0;
            iou[i] = -1.0;
        }
        if (proto == VSSM_TRACK_PROTOCOL_LASOT && !vis) {
            en[i] = INFINITY;
            ec[i] = INFINITY;
        }
    }
    const int den = proto == VSSM_TRACK_PROTOCOL_LASOT ? n_gt : n_valid;
    vssm_status st = VSSM_OK;
    if (den <= 0) {
        st = vssm_err_set(err, VSSM_ERR_FORMAT, "no valid ground-truth frame (sequence length zero)");
    } else {
        for (int t = 0; t < VSSM_TRACK_N_OVERLAP; t++) {
            double thr = vssm_track_overlap_threshold(t);
            int c = 0;
            for (int i = 0; i < n_gt; i++) c += iou[i] > thr;
            out->success[t] = (double)c / den;
        }
        for (int t = 0; t < VSSM_TRACK_N_CENTER; t++) {
            double thr = (double)t, thn = (double)t / 100.0;
            int c = 0, cn = 0;
            for (int i = 0; i < n_gt; i++) {
                c += ec[i] <= thr;
                cn += en[i] <= thn;
            }
            out->precision[t] = (double)c / den;
            out->norm_precision[t] = (double)cn / den;
        }
        out->avg_overlap = n_valid ? sum_iou / n_valid : 0.0;
        out->n_frames = n_gt;
        out->n_valid = n_valid;
    }
    free(pred);
    free(iou);
    free(ec);
    free(en);
    return st;
}

void vssm_track_summarize(const vssm_track_seq_metrics *m, int n, vssm_track_summary *out) {
    memset(out, 0, sizeof *out);
    out->n_seq = n;
    if (n <= 0) return;
    for (int t = 0; t < VSSM_TRACK_N_OVERLAP; t++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += m[i].success[t];
        out->success[t] = 100.0 * s / n;
        out->auc += out->success[t];
    }
    out->auc /= VSSM_TRACK_N_OVERLAP;
    for (int t = 0; t < VSSM_TRACK_N_CENTER; t++) {
        double s = 0, sn = 0;
        for (int i = 0; i < n; i++) {
            s += m[i].precision[t];
            sn += m[i].norm_precision[t];
        }
        out->precision_curve[t] = 100.0 * s / n;
        out->norm_precision_curve[t] = 100.0 * sn / n;
    }
    out->precision = out->precision_curve[20];
    out->norm_precision = out->norm_precision_curve[20];
    out->op50 = out->success[10];
    out->op75 = out->success[15];
}

/* ---- got10k ---- */

static void bound_box(vssm_box *b, double bw, double bh) {
    b->x = fmin(fmax(b->x, 0.0), bw);
    b->y = fmin(fmax(b->y, 0.0), bh);
    b->w = fmin(fmax(b->w, 0.0), bw - b->x);
    b->h = fmin(fmax(b->h, 0.0), bh - b->y);
}

static double iou_got10k(vssm_box a, vssm_box b) {
    double x1 = fmax(a.x, b.x), y1 = fmax(a.y, b.y);
    double x2 = fmin(a.x + a.w, b.x + b.w), y2 = fmin(a.y + a.h, b.y + b.h);
    double inter = fmax(x2 - x1, 0.0) * fmax(y2 - y1, 0.0);
    double uni = a.w * a.h + b.w * b.h - inter;
    double v = inter / (uni + DBL_EPSILON);
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

vssm_status vssm_got10k_seq_ious(const vssm_box *pred, int n_pred, const vssm_box *gt, const int *cover, int n_gt,
                                 int res_w, int res_h, double *ious, int *n_out, vssm_err *err) {
    *n_out = 0;
    if (n_pred != n_gt)
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "%d predicted boxes for %d ground-truth boxes (got10k needs equal lengths)", n_pred, n_gt);
    if (vssm_track_gt_check(gt, n_gt, err) >= 0 || got10k_check(pred, n_pred, err) >= 0) return VSSM_ERR_FORMAT;
    const int bounded = res_w > 0 && res_h > 0;
    int k = 0;
    for (int i = 1; i < n_gt; i++) {
        if (cover && !(cover[i] > 0)) continue;
        vssm_box p = pred[i], a = gt[i];
        if (bounded) {
            bound_box(&p, res_w, res_h);
            bound_box(&a, res_w, res_h);
        } else if (!all_finite(&p) || p.w < 0 || p.h < 0) {
            ious[k++] = 0.0; /* nothing to clip it to: it overlaps nothing */
            continue;
        }
        ious[k++] = iou_got10k(p, a);
    }
    *n_out = k;
    return VSSM_OK;
}

void vssm_got10k_eval(const double *ious, int64_t n, vssm_got10k_metrics *out) {
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n <= 0) {
        out->ao = out->sr50 = out->sr75 = NAN; /* numpy's mean of nothing */
        return;
    }
    double s = 0;
    int64_t c50 = 0, c75 = 0;
    for (int64_t i = 0; i < n; i++) {
        s += ious[i];
        c50 += ious[i] > 0.5;
        c75 += ious[i] > 0.75;
    }
    out->ao = s / n;
    out->sr50 = (double)c50 / n;
    out->sr75 = (double)c75 / n;
    for (int t = 0; t < VSSM_GOT10K_N_IOU; t++) {
        double thr = t == VSSM_GOT10K_N_IOU - 1 ? 1.0 : t * 0.01; /* numpy linspace(0, 1, 101) */
        int64_t c = 0;
        for (int64_t i = 0; i < n; i++) c += ious[i] > thr;
        out->success[t] = (double)c / n;
    }
}
