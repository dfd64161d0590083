/* eval/reid_rerank.c - k-reciprocal re-ranking (Zhong et al., CVPR 2017), step for step
 * as torchreid utils/rerank.py re_ranking(), in float32 like its numpy code.
 *
 * torchreid builds four dense (q+g)^2 arrays (original_dist, V, V_qe, initial_rank). Only
 * the first k1+1 columns of initial_rank are ever read, and V has at most a few hundred
 * non-zeros per row, so here: original_dist is never stored (it is read from the caller's
 * three matrices on the fly), initial_rank keeps K = max(k1+1, k2) columns, and V, V_qe
 * are sparse rows plus an inverted (column) index. The arithmetic and its order are
 * numpy's: sums of V rows row by row, np.sum's pairwise blocks, torchreid's min/Jaccard
 * accumulation in ascending column order. Ties in the initial ranking (undefined order in
 * numpy's introsort) are broken by index. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "vssm/reid.h"

typedef struct {
    const float *qg, *qq, *gg;
    int64_t nq, ng, N;
    float *colmax; /* [N]: max over rows j of D(j, i)^2 */
} dmat;

/* D = [[qq, qg], [qg^T, gg]] (the np.concatenate in re_ranking) */
static inline float d_at(const dmat *m, int64_t j, int64_t i) {
    if (j < m->nq) return i < m->nq ? m->qq[j * m->nq + i] : m->qg[j * m->ng + (i - m->nq)];
    return i < m->nq ? m->qg[i * m->ng + (j - m->nq)] : m->gg[(j - m->nq) * m->ng + (i - m->nq)];
}

/* original_dist after np.power(., 2), / np.max(axis=0) and np.transpose: od[i][j] */
static inline float od_at(const dmat *m, int64_t i, int64_t j) {
    float d = d_at(m, j, i);
    float sq = d * d;
    return sq / m->colmax[i];
}

/* numpy's pairwise summation of float32 (np.sum of a contiguous 1-D array) */
static float np_pairwise_sum(const float *a, int64_t n) {
    if (n < 8) {
        float res = 0.f;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        float r[8];
        for (int k = 0; k < 8; k++) r[k] = a[k];
        int64_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int k = 0; k < 8; k++) r[k] += a[i + k];
        float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return np_pairwise_sum(a, n2) + np_pairwise_sum(a + n2, n - n2);
}

/* a sparse row: ascending column indices and their values */
typedef struct {
    int32_t *col;
    float *val;
    int32_t n;
} srow;

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int contains(const int32_t *v, int n, int32_t x) {
    for (int i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

/* floats a*b and c*d added without fusing into an FMA (numpy rounds each product) */
static inline float lin2(float a, float b, float c, float d) {
    volatile float p = a * b, q = c * d;
    return p + q;
}

/* Marks an allocation failure inside a parallel region (any thread may; all read it after). */
static void set_fail(int *fail) {
#pragma omp atomic write
    *fail = 1;
}

/* the sizes and arrays of one re-ranking */
typedef struct rr {
    dmat m;
    int64_t N, nq, ng;
    int64_t nf, nh, nk2, K;       /* k1+1, round(k1/2)+1, k2 (each at most N), max(nf, nk2) */
    int32_t *rank;                /* (N, K) initial_rank's first K columns */
    srow *V, *Vq;                 /* (N) sparse rows */
    int32_t *inv_start, *inv_row; /* V_qe's column index: rows of column c at inv_start[c] .. [c + 1] */
    float *inv_val;
} rr;

static vssm_status check_inputs(const float *qg, const float *qq, const float *gg, int64_t nq, int64_t ng, int k1,
                                int k2, double lambda, const float *out, vssm_err *err) {
    if (!qg || !qq || !gg || !out) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ranking: NULL matrix");
    if (nq < 1 || ng < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ranking: empty %s set", nq < 1 ? "query" : "gallery");
    if (nq + ng > 0x7fffffff)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ranking: too many items (%lld)", (long long)(nq + ng));
    if (k1 < 1 || k2 < 1 || k1 > 100000 || k2 > 100000)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ranking: k1 and k2 must be >= 1 (got %d, %d)", k1, k2);
    if (!(lambda >= 0 && lambda <= 1))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ranking: lambda must be in [0, 1] (got %g)", lambda);
    const float *mats[3] = {qg, qq, gg};
    const int64_t rows[3] = {nq, nq, ng}, cols[3] = {ng, nq, ng};
    const char *names[3] = {"query-gallery", "query-query", "gallery-gallery"};
    for (int t = 0; t < 3; t++)
        for (int64_t i = 0; i < rows[t] * cols[t]; i++)
            if (!isfinite(mats[t][i]))
                return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ranking: %s distance (%lld, %lld) is %g", names[t],
                                    (long long)(i / cols[t]), (long long)(i % cols[t]), (double)mats[t][i]);
    return VSSM_OK;
}

/* column maxima of D^2 (np.max(original_dist, axis=0)) */
static vssm_status column_maxima(dmat *m, vssm_err *err) {
    for (int64_t j = 0; j < m->N; j++)
        for (int64_t i = 0; i < m->N; i++) {
            float d = d_at(m, j, i), sq = d * d;
            if (sq > m->colmax[i]) m->colmax[i] = sq;
        }
    for (int64_t i = 0; i < m->N; i++)
        if (!(m->colmax[i] > 0) || !isfinite(m->colmax[i]))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ranking: the squared distances to item %lld are %s",
                                (long long)i,
                                m->colmax[i] > 0 ? "too large for float32" : "all zero (cannot normalise)");
    return VSSM_OK;
}

/* initial_rank = np.argsort(original_dist), first K columns, ties by index; 0 or out of memory */
static int initial_rank(rr *r) {
    const int64_t N = r->N, K = r->K;
    int fail = 0;
#pragma omp parallel
    {
        float *best = malloc((size_t)K * sizeof(float));
        if (!best) set_fail(&fail);
#pragma omp for schedule(dynamic, 16)
        for (int64_t i = 0; i < N; i++) {
            if (!best) continue;
            int32_t *row = r->rank + i * K;
            int64_t cnt = 0;
            for (int64_t j = 0; j < N; j++) {
                float v = od_at(&r->m, i, j);
                if (cnt == K && !(v < best[K - 1])) continue;
                int64_t p = cnt < K ? cnt++ : K - 1;
                while (p > 0 && v < best[p - 1]) { /* equal values stay before: stable */
                    best[p] = best[p - 1];
                    row[p] = row[p - 1];
                    p--;
                }
                best[p] = v;
                row[p] = (int32_t)j;
            }
        }
        free(best);
    }
    return fail;
}

/* item i's k-reciprocal neighbours with expansion, np.unique'd into exp_idx; returns their count */
static int expanded_neighbours(const rr *r, int64_t i, int32_t *krec, int32_t *cand, int32_t *exp_idx) {
    const int64_t K = r->K, nf = r->nf, nh = r->nh;
    const int32_t *fwd = r->rank + i * K;
    int nk = 0;
    for (int64_t q = 0; q < nf; q++)
        if (contains(r->rank + (int64_t)fwd[q] * K, (int)nf, (int32_t)i)) krec[nk++] = fwd[q];
    int ne = 0;
    for (int t = 0; t < nk; t++) exp_idx[ne++] = krec[t];
    for (int t = 0; t < nk; t++) {
        const int32_t c = krec[t];
        const int32_t *cf = r->rank + (int64_t)c * K;
        int nc = 0;
        for (int64_t q = 0; q < nh; q++)
            if (contains(r->rank + (int64_t)cf[q] * K, (int)nh, c)) cand[nc++] = cf[q];
        int inter = 0;
        for (int u = 0; u < nc; u++) inter += contains(krec, nk, cand[u]);
        if ((double)inter > 2. / 3 * (double)nc)
            for (int u = 0; u < nc; u++) exp_idx[ne++] = cand[u];
    }
    qsort(exp_idx, (size_t)ne, sizeof(int32_t), cmp_i32); /* np.unique */
    int nu = 0;
    for (int t = 0; t < ne; t++)
        if (nu == 0 || exp_idx[t] != exp_idx[nu - 1]) exp_idx[nu++] = exp_idx[t];
    return nu;
}

/* V: k-reciprocal neighbours with expansion, weights exp(-d) normalised; 0 or out of memory */
static int build_v(rr *r) {
    const int64_t nf = r->nf, nh = r->nh;
    int fail = 0;
#pragma omp parallel
    {
        int32_t *krec = malloc((size_t)nf * sizeof(int32_t)), *cand = malloc((size_t)nh * sizeof(int32_t));
        int32_t *exp_idx = malloc((size_t)(nf + nf * nh) * sizeof(int32_t));
        float *w = malloc((size_t)(nf + nf * nh) * sizeof(float));
        if (!krec || !cand || !exp_idx || !w) set_fail(&fail);
#pragma omp for schedule(dynamic, 16)
        for (int64_t i = 0; i < r->N; i++) {
            if (!krec || !cand || !exp_idx || !w) continue;
            const int nu = expanded_neighbours(r, i, krec, cand, exp_idx);
            for (int t = 0; t < nu; t++) w[t] = expf(-od_at(&r->m, i, exp_idx[t]));
            float sum = np_pairwise_sum(w, nu);
            srow *v = &r->V[i];
            v->col = malloc((size_t)(nu ? nu : 1) * sizeof(int32_t));
            v->val = malloc((size_t)(nu ? nu : 1) * sizeof(float));
            if (!v->col || !v->val) {
                set_fail(&fail);
                continue;
            }
            v->n = nu;
            for (int t = 0; t < nu; t++) {
                v->col[t] = exp_idx[t];
                v->val[t] = 1.f * w[t] / sum;
            }
        }
        free(krec);
        free(cand);
        free(exp_idx);
        free(w);
    }
    return fail;
}

/* query expansion: V_qe[i] = np.mean(V[initial_rank[i, :k2]], axis=0) (row by row sums) */
static int query_expand(rr *r) {
    const int64_t N = r->N, nk2 = r->nk2;
    int fail = 0;
#pragma omp parallel
    {
        float *acc = calloc((size_t)N, sizeof(float));
        int32_t *touched = malloc((size_t)N * sizeof(int32_t));
        char *seen = calloc((size_t)N, 1);
        if (!acc || !touched || !seen) set_fail(&fail);
#pragma omp for schedule(dynamic, 16)
        for (int64_t i = 0; i < N; i++) {
            if (!acc || !touched || !seen) continue;
            int nt = 0;
            for (int64_t q = 0; q < nk2; q++) {
                const srow *v = &r->V[r->rank[i * r->K + q]];
                for (int t = 0; t < v->n; t++) {
                    int32_t c = v->col[t];
                    acc[c] += v->val[t];
                    if (!seen[c]) {
                        seen[c] = 1;
                        touched[nt++] = c;
                    }
                }
            }
            qsort(touched, (size_t)nt, sizeof(int32_t), cmp_i32);
            srow *o = &r->Vq[i];
            o->col = malloc((size_t)(nt ? nt : 1) * sizeof(int32_t));
            o->val = malloc((size_t)(nt ? nt : 1) * sizeof(float));
            if (!o->col || !o->val) set_fail(&fail);
            int nz = 0;
            for (int t = 0; t < nt; t++) {
                int32_t c = touched[t];
                float mean = acc[c] / (float)nk2;
                if (o->col && o->val && mean != 0.f) {
                    o->col[nz] = c;
                    o->val[nz] = mean;
                    nz++;
                }
                acc[c] = 0.f;
                seen[c] = 0;
            }
            o->n = nz;
        }
        free(acc);
        free(touched);
        free(seen);
    }
    return fail;
}

/* invIndex: for each column, the rows (ascending) where V_qe is non-zero, with values */
static vssm_status inverted_index(rr *r, vssm_err *err) {
    const int64_t N = r->N;
    int64_t nnz = 0;
    if (!(r->inv_start = calloc((size_t)N + 1, sizeof(int32_t))))
        return vssm_err_set(err, VSSM_ERR_NOMEM, "re-ranking: out of memory");
    for (int64_t i = 0; i < N; i++) {
        nnz += r->Vq[i].n;
        for (int t = 0; t < r->Vq[i].n; t++) r->inv_start[r->Vq[i].col[t] + 1]++;
    }
    if (nnz > 0x7fffffff) return vssm_err_set(err, VSSM_ERR_NOMEM, "re-ranking: V too dense");
    for (int64_t c = 0; c < N; c++) r->inv_start[c + 1] += r->inv_start[c];
    r->inv_row = malloc((size_t)(nnz ? nnz : 1) * sizeof(int32_t));
    r->inv_val = malloc((size_t)(nnz ? nnz : 1) * sizeof(float));
    int32_t *fill = calloc((size_t)N, sizeof(int32_t));
    if (!r->inv_row || !r->inv_val || !fill) {
        free(fill);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "re-ranking: out of memory");
    }
    for (int64_t i = 0; i < N; i++)
        for (int t = 0; t < r->Vq[i].n; t++) {
            int32_t c = r->Vq[i].col[t];
            int64_t p = r->inv_start[c] + fill[c]++;
            r->inv_row[p] = (int32_t)i;
            r->inv_val[p] = r->Vq[i].val[t];
        }
    free(fill);
    return VSSM_OK;
}

/* Jaccard distance of each query to everything, then the blend with original_dist; 0 or out of memory */
static int jaccard_blend(const rr *r, double lambda, float *out) {
    const int64_t N = r->N, nq = r->nq, ng = r->ng;
    const float l_orig = (float)lambda, l_jac = (float)(1. - lambda);
    int fail = 0;
#pragma omp parallel
    {
        float *tm = malloc((size_t)N * sizeof(float));
        if (!tm) set_fail(&fail);
#pragma omp for schedule(dynamic, 4)
        for (int64_t i = 0; i < nq; i++) {
            if (!tm) continue;
            memset(tm, 0, (size_t)N * sizeof(float));
            const srow *v = &r->Vq[i];
            for (int t = 0; t < v->n; t++) {
                const int32_t c = v->col[t];
                const float vi = v->val[t];
                for (int64_t p = r->inv_start[c]; p < r->inv_start[c + 1]; p++) {
                    const float vk = r->inv_val[p];
                    tm[r->inv_row[p]] += vi < vk ? vi : vk; /* np.minimum */
                }
            }
            for (int64_t g = 0; g < ng; g++) {
                const float t = tm[nq + g];
                const float jac = 1.f - t / (2.f - t);
                out[i * ng + g] = lin2(jac, l_jac, od_at(&r->m, i, nq + g), l_orig);
            }
        }
        free(tm);
    }
    return fail;
}

static void rr_free(rr *r) {
    for (int64_t i = 0; r->V && i < r->N; i++) free(r->V[i].col), free(r->V[i].val);
    for (int64_t i = 0; r->Vq && i < r->N; i++) free(r->Vq[i].col), free(r->Vq[i].val);
    free(r->V);
    free(r->Vq);
    free(r->rank);
    free(r->m.colmax);
    free(r->inv_start);
    free(r->inv_row);
    free(r->inv_val);
}

vssm_status vssm_reid_rerank(const float *qg, const float *qq, const float *gg, int64_t nq, int64_t ng, int k1, int k2,
                             double lambda, float *out, vssm_err *err) {
    vssm_status s = check_inputs(qg, qq, gg, nq, ng, k1, k2, lambda, out, err);
    if (s != VSSM_OK) return s;
    const int64_t N = nq + ng;
    rr r;
    memset(&r, 0, sizeof r);
    r.m = (dmat){qg, qq, gg, nq, ng, N, calloc((size_t)N, sizeof(float))};
    r.N = N, r.nq = nq, r.ng = ng;
    r.nf = k1 + 1 < N ? k1 + 1 : N;                                                     /* initial_rank[i, :k1+1] */
    r.nh = (int64_t)nearbyint(k1 / 2.0) + 1 < N ? (int64_t)nearbyint(k1 / 2.0) + 1 : N; /* np.around: half to even */
    r.nk2 = k2 < N ? k2 : N;
    r.K = r.nf > r.nk2 ? r.nf : r.nk2;
    r.rank = malloc((size_t)(N * r.K) * sizeof(int32_t));
    r.V = calloc((size_t)N, sizeof(srow));
    r.Vq = calloc((size_t)N, sizeof(srow));
    if (!r.m.colmax || !r.rank || !r.V || !r.Vq) s = vssm_err_set(err, VSSM_ERR_NOMEM, "re-ranking: out of memory");
    if (s == VSSM_OK) s = column_maxima(&r.m, err);
    if (s == VSSM_OK && (initial_rank(&r) || build_v(&r) || query_expand(&r)))
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "re-ranking: out of memory");
    if (s == VSSM_OK) s = inverted_index(&r, err);
    if (s == VSSM_OK && jaccard_blend(&r, lambda, out))
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "re-ranking: out of memory");
    rr_free(&r);
    return s;
}
