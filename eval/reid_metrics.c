/* eval/reid_metrics.c - re-identification metrics (vssm/reid.h): distances with GEMM,
 * torchreid's eval_market1501 (+ fast-reid's mINP), and torchreid's k-reciprocal
 * re-ranking, written for memory: blocks of queries without re-ranking, a sparse V with. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "vssm/reid.h"

/* ================================================================ small helpers */

int vssm_reid_metric_from_name(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "euclidean")) return VSSM_REID_METRIC_EUCLIDEAN;
    if (!strcmp(name, "cosine")) return VSSM_REID_METRIC_COSINE;
    return -1;
}

const char *vssm_reid_metric_name(vssm_reid_metric m) {
    return m == VSSM_REID_METRIC_COSINE ? "cosine" : m == VSSM_REID_METRIC_EUCLIDEAN ? "euclidean" : "?";
}

vssm_reid_eval_opts vssm_reid_eval_default_opts(void) {
    vssm_reid_eval_opts o = {VSSM_REID_METRIC_EUCLIDEAN, 0, 20, 6, 0.3, 50};
    return o;
}

void vssm_reid_result_free(vssm_reid_result *r) {
    if (!r) return;
    free(r->cmc);
    memset(r, 0, sizeof *r);
}

/* first non-finite value of a (rows, cols) matrix, or -1 */
static int64_t find_nonfinite(const float *x, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

static vssm_status check_finite(const float *x, int64_t rows, int64_t cols, const char *what, vssm_err *err) {
    int64_t bad = find_nonfinite(x, rows, cols);
    if (bad < 0) return VSSM_OK;
    return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                        "%s: row %lld, column %lld is %g (features and distances must be finite)", what,
                        (long long)(bad / cols), (long long)(bad % cols), (double)x[bad]);
}

static vssm_status check_labels(const vssm_reid_labels *l, int64_t rows, const char *what, vssm_err *err) {
    if (!l || (l->n > 0 && (!l->pid || !l->camid)))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: no pid / camid arrays", what);
    if (l->n != rows)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: %lld feature rows but %lld pid/camid entries", what,
                            (long long)rows, (long long)l->n);
    if (rows < 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s set is empty", what);
    return VSSM_OK;
}

/* ================================================================ distances */

/* F.normalize(x, p=2, dim=1): x / max(||x||, 1e-12), into dst */
static void rows_normalize(const float *x, int64_t m, int64_t d, float *dst) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m; i++) {
        double s = 0;
        for (int64_t k = 0; k < d; k++) s += (double)x[i * d + k] * x[i * d + k];
        float nrm = (float)sqrt(s);
        if (nrm < 1e-12f) nrm = 1e-12f;
        for (int64_t k = 0; k < d; k++) dst[i * d + k] = x[i * d + k] / nrm;
    }
}

static void rows_sqnorm(const float *x, int64_t m, int64_t d, float *dst) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m; i++) {
        double s = 0;
        for (int64_t k = 0; k < d; k++) s += (double)x[i * d + k] * x[i * d + k];
        dst[i] = (float)s;
    }
}

/* out (m, n): a (m, d) against b (n, d); bn: b's squared norms (euclidean) or NULL;
 * a, b already normalised for cosine */
static void dist_block(const float *a, int64_t m, const float *b, const float *bn, int64_t n, int64_t d,
                       vssm_reid_metric metric, float *out) {
    if (metric == VSSM_REID_METRIC_EUCLIDEAN) {
        for (int64_t i = 0; i < m; i++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) s += (double)a[i * d + k] * a[i * d + k];
            float an = (float)s;
            for (int64_t j = 0; j < n; j++) out[i * n + j] = an + bn[j];
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)d, -2.0f, a, (int)d, b, (int)d, 1.0f,
                    out, (int)n);
    } else {
        for (int64_t i = 0; i < m * n; i++) out[i] = 1.0f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)d, -1.0f, a, (int)d, b, (int)d, 1.0f,
                    out, (int)n);
    }
}

/* prepared right-hand side: b normalised (cosine) or its squared norms (euclidean) */
typedef struct {
    const float *b;
    float *owned, *norms;
} rhs;

static vssm_status rhs_init(rhs *r, const float *b, int64_t n, int64_t d, vssm_reid_metric metric, vssm_err *err) {
    memset(r, 0, sizeof *r);
    r->b = b;
    if (metric == VSSM_REID_METRIC_COSINE) {
        if (!(r->owned = malloc((size_t)(n * d) * sizeof(float))))
            return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory normalising %lld x %lld features", (long long)n,
                                (long long)d);
        rows_normalize(b, n, d, r->owned);
        r->b = r->owned;
    } else {
        if (!(r->norms = malloc((size_t)n * sizeof(float)))) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        rows_sqnorm(b, n, d, r->norms);
    }
    return VSSM_OK;
}

static void rhs_free(rhs *r) {
    free(r->owned);
    free(r->norms);
}

/* the left-hand rows [i0, i0+m) ready for dist_block (normalised copy for cosine) */
static const float *lhs_rows(const float *a, int64_t i0, int64_t m, int64_t d, vssm_reid_metric metric,
                             float *scratch) {
    if (metric != VSSM_REID_METRIC_COSINE) return a + i0 * d;
    rows_normalize(a + i0 * d, m, d, scratch);
    return scratch;
}

vssm_status vssm_reid_distance(const float *a, int64_t m, const float *b, int64_t n, int64_t d, vssm_reid_metric metric,
                               float *out, vssm_err *err) {
    if (!a || !b || !out || m < 1 || n < 1 || d < 1 || d > 0x7fffffff || m > 0x7fffffff || n > 0x7fffffff)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "distance: bad sizes (%lld x %lld against %lld x %lld)",
                            (long long)m, (long long)d, (long long)n, (long long)d);
    if (metric != VSSM_REID_METRIC_EUCLIDEAN && metric != VSSM_REID_METRIC_COSINE)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "distance: unknown metric %d", (int)metric);
    rhs r;
    vssm_status s = rhs_init(&r, b, n, d, metric, err);
    if (s != VSSM_OK) return s;
    float *sa = metric == VSSM_REID_METRIC_COSINE ? malloc((size_t)(m * d) * sizeof(float)) : NULL;
    if (metric == VSSM_REID_METRIC_COSINE && !sa) {
        rhs_free(&r);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    dist_block(lhs_rows(a, 0, m, d, metric, sa), m, r.b, r.norms, n, d, metric, out);
    free(sa);
    rhs_free(&r);
    return VSSM_OK;
}

/* ================================================================ ranking */

/* per query: position of the first match in the kept list (-1: no match, skipped), AP, INP */
typedef struct {
    int64_t first;
    double ap, inp;
} query_score;

/* a float -> u32 whose unsigned order is the float order (-0 == +0) */
static inline uint32_t float_key(float f) {
    if (f == 0.0f) f = 0.0f;
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One query's row of distances (ng) -> its score. keys: scratch of ng. */
static query_score score_query(const float *row, int64_t qpid, int64_t qcam, const vssm_reid_labels *g,
                               uint64_t *keys) {
    const int64_t ng = g->n;
    /* ascending distance, equal distances in gallery order (stable) */
    for (int64_t j = 0; j < ng; j++) keys[j] = ((uint64_t)float_key(row[j]) << 32) | (uint64_t)j;
    qsort(keys, (size_t)ng, sizeof *keys, cmp_u64);
    query_score s = {-1, 0, 0};
    int64_t kept = 0, hits = 0, last = -1;
    double prec_sum = 0;
    for (int64_t r = 0; r < ng; r++) {
        int64_t j = (int64_t)(keys[r] & 0xffffffffu);
        int same_pid = g->pid[j] == qpid;
        if (same_pid && g->camid[j] == qcam) continue; /* same person, same camera: removed */
        if (same_pid) {
            hits++;
            if (s.first < 0) s.first = kept;
            prec_sum += (double)hits / (double)(kept + 1);
            last = kept;
        }
        kept++;
    }
    if (hits) {
        s.ap = prec_sum / (double)hits;
        s.inp = (double)hits / (double)(last + 1);
    }
    return s;
}

static vssm_status score_rows(const float *dist, int64_t i0, int64_t m, const vssm_reid_labels *q,
                              const vssm_reid_labels *g, query_score *out, vssm_err *err) {
    const int64_t ng = g->n;
    int nomem = 0;
#pragma omp parallel
    {
        uint64_t *keys = malloc((size_t)ng * sizeof *keys);
        if (!keys) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (int64_t i = 0; i < m; i++)
            if (keys) out[i0 + i] = score_query(dist + i * ng, q->pid[i0 + i], q->camid[i0 + i], g, keys);
        free(keys);
    }
    if (nomem) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory ranking %lld gallery items", (long long)ng);
    return VSSM_OK;
}

static vssm_status summarise(const query_score *sc, int64_t nq, int64_t ng, int max_rank, vssm_reid_result *out,
                             vssm_err *err) {
    int mr = (int64_t)max_rank > ng ? (int)ng : max_rank;
    int64_t valid = 0;
    for (int64_t i = 0; i < nq; i++) valid += sc[i].first >= 0;
    if (valid == 0)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "no query has a match in the gallery (after removing same-camera "
                            "images of the same identity): nothing to evaluate");
    int64_t *hist = calloc((size_t)mr + 1, sizeof *hist); /* hist[k]: first match at rank k+1 (k < mr) */
    double *cmc = calloc((size_t)mr, sizeof *cmc);
    if (!hist || !cmc) {
        free(hist);
        free(cmc);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    double ap = 0, inp = 0;
    int64_t at1 = 0, at5 = 0, at10 = 0;
    for (int64_t i = 0; i < nq; i++) {
        if (sc[i].first < 0) continue;
        ap += sc[i].ap;
        inp += sc[i].inp;
        if (sc[i].first < mr) hist[sc[i].first]++;
        at1 += sc[i].first < 1;
        at5 += sc[i].first < 5;
        at10 += sc[i].first < 10;
    }
    int64_t cum = 0;
    for (int k = 0; k < mr; k++) cmc[k] = (double)(cum += hist[k]) / (double)valid;
    free(hist);
    memset(out, 0, sizeof *out);
    out->max_rank = mr;
    out->cmc = cmc;
    out->rank1 = (double)at1 / valid;
    out->rank5 = (double)at5 / valid;
    out->rank10 = (double)at10 / valid;
    out->mAP = ap / valid;
    out->mINP = inp / valid;
    out->n_query = nq;
    out->n_valid = valid;
    return VSSM_OK;
}

vssm_status vssm_reid_evaluate(const float *distmat, const vssm_reid_labels *q, const vssm_reid_labels *g, int max_rank,
                               vssm_reid_result *out, vssm_err *err) {
    vssm_status s;
    memset(out, 0, sizeof *out);
    if (!distmat || !q || !g) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "evaluate: NULL argument");
    if ((s = check_labels(q, q->n, "query", err)) != VSSM_OK || (s = check_labels(g, g->n, "gallery", err)) != VSSM_OK)
        return s;
    if (max_rank < 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "max_rank must be >= 1 (got %d)", max_rank);
    if (g->n > 0xffffffffLL) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "gallery too large");
    if ((s = check_finite(distmat, q->n, g->n, "distance matrix", err)) != VSSM_OK) return s;
    query_score *sc = malloc((size_t)q->n * sizeof *sc);
    if (!sc) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    if ((s = score_rows(distmat, 0, q->n, q, g, sc, err)) == VSSM_OK) s = summarise(sc, q->n, g->n, max_rank, out, err);
    free(sc);
    return s;
}

/* ================================================================ features -> metrics */

vssm_status vssm_reid_evaluate_features(const float *qf, const vssm_reid_labels *q, const float *gf,
                                        const vssm_reid_labels *g, int64_t d, const vssm_reid_eval_opts *opts,
                                        vssm_reid_result *out, vssm_err *err) {
    vssm_reid_eval_opts o = opts ? *opts : vssm_reid_eval_default_opts();
    vssm_status s;
    memset(out, 0, sizeof *out);
    if (!qf || !gf || !q || !g) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "evaluate: NULL argument");
    if ((s = check_labels(q, q->n, "query", err)) != VSSM_OK || (s = check_labels(g, g->n, "gallery", err)) != VSSM_OK)
        return s;
    if (d < 1 || d > 0x7fffffff)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "feature dimension %lld out of range", (long long)d);
    if (o.max_rank < 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "max_rank must be >= 1 (got %d)", o.max_rank);
    if (o.metric != VSSM_REID_METRIC_EUCLIDEAN && o.metric != VSSM_REID_METRIC_COSINE)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "unknown metric %d", (int)o.metric);
    if (q->n > 0x7fffffff || g->n > 0x7fffffff) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "too many features");
    if ((s = check_finite(qf, q->n, d, "query features", err)) != VSSM_OK ||
        (s = check_finite(gf, g->n, d, "gallery features", err)) != VSSM_OK)
        return s;
    const int64_t nq = q->n, ng = g->n;

    if (o.rerank) {
        size_t nn, bytes; /* (q+g)^2 floats: checked, not wrapped (q, g < 2^31 each) */
        if (__builtin_mul_overflow((size_t)(nq + ng), (size_t)(nq + ng), &nn) ||
            __builtin_mul_overflow(nn, sizeof(float), &bytes))
            return vssm_err_set(err, VSSM_ERR_NOMEM,
                                "re-ranking %lld queries and %lld gallery images needs more memory than "
                                "can be addressed",
                                (long long)nq, (long long)ng);
        float *qg = malloc((size_t)(nq * ng) * sizeof(float)), *qq = malloc((size_t)(nq * nq) * sizeof(float)),
              *gg = malloc((size_t)(ng * ng) * sizeof(float));
        if (!qg || !qq || !gg) {
            s = vssm_err_set(err, VSSM_ERR_NOMEM, "re-ranking needs %.2f GB for the (q+g)^2 distance matrices",
                             4.0 * (double)((nq + ng) * (nq + ng)) / 1e9);
        } else if ((s = vssm_reid_distance(qf, nq, gf, ng, d, o.metric, qg, err)) == VSSM_OK &&
                   (s = vssm_reid_distance(qf, nq, qf, nq, d, o.metric, qq, err)) == VSSM_OK &&
                   (s = vssm_reid_distance(gf, ng, gf, ng, d, o.metric, gg, err)) == VSSM_OK) {
            float *rr = malloc((size_t)(nq * ng) * sizeof(float));
            if (!rr)
                s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
            else if ((s = vssm_reid_rerank(qg, qq, gg, nq, ng, o.k1, o.k2, o.lambda, rr, err)) == VSSM_OK)
                s = vssm_reid_evaluate(rr, q, g, o.max_rank, out, err);
            free(rr);
        }
        free(qg);
        free(qq);
        free(gg);
        return s;
    }

    /* blocks of queries: block x ng distances at a time (about 64 MB) */
    int64_t block = (16LL << 20) / ng;
    if (block < 1) block = 1;
    if (block > nq) block = nq;
    rhs r;
    if ((s = rhs_init(&r, gf, ng, d, o.metric, err)) != VSSM_OK) return s;
    float *dist = malloc((size_t)(block * ng) * sizeof(float));
    float *sa = o.metric == VSSM_REID_METRIC_COSINE ? malloc((size_t)(block * d) * sizeof(float)) : NULL;
    query_score *sc = malloc((size_t)nq * sizeof *sc);
    if (!dist || !sc || (o.metric == VSSM_REID_METRIC_COSINE && !sa))
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    for (int64_t i0 = 0; s == VSSM_OK && i0 < nq; i0 += block) {
        int64_t m = nq - i0 < block ? nq - i0 : block;
        dist_block(lhs_rows(qf, i0, m, d, o.metric, sa), m, r.b, r.norms, ng, d, o.metric, dist);
        s = score_rows(dist, i0, m, q, g, sc, err);
    }
    if (s == VSSM_OK) s = summarise(sc, nq, ng, o.max_rank, out, err);
    free(sc);
    free(sa);
    free(dist);
    rhs_free(&r);
    return s;
}
