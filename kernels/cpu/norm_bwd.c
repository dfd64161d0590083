/* kernels/cpu/norm_bwd.c - backward of LayerNorm (+ fused GELU), RMSNorm and average
 * pooling, and the softmax cross-entropy loss with label smoothing.
 *
 * The norms work in fixed blocks of BWD_RB rows: a task takes a block, writes dx for its
 * rows and its block's partial parameter gradients; the partials are then added in block
 * order (vssm_cpu_bwd_reduce). Mean and rstd are recomputed per row, as the forward
 * computes them (norm.c, conv1d.c: the same sums, so the same bits), rather than stored.
 * The norms are compiled once per instruction set (norm_bwd_avx2.c, norm_bwd_avx512.c;
 * cpu_ops.h), their sums over a row in rowsum.h's one order; pooling and the loss once, at
 * the baseline. */
#if defined(__AVX512F__) && !defined(__clang__) /* clang: -mprefer-vector-width=512 (CMakeLists.txt) */
/* one zmm per 16 floats in the omp simd loops (same operations per lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_bwd.h"
#include "kernels/cpu/rowsum.h"

/* the first n (< RS_W) of p, the other lanes 0 */
static inline rs_vec rs_part(const float *p, int n) {
    rs_vec v = {0};
    for (int j = 0; j < n; j++) v[j] = p[j];
    return v;
}

/* sum of a[c] b[c], in rowsum.h's order */
static inline float rs_dot(const float *a, const float *b, int C) {
    rs_vec s = {0};
    int c = 0;
    for (; c + RS_W <= C; c += RS_W) s += *(const rs_vecu *)(a + c) * *(const rs_vecu *)(b + c);
    if (c < C) s += rs_part(a + c, C - c) * rs_part(b + c, C - c);
    return rs_hsum(s);
}

/* sum of (a[c] b[c]) m[c], in rowsum.h's order. The tail is the loop's expression on
 * zero-padded vectors: a branch between two expressions there left the product unfused in
 * one variant (the compiler contracts a b m + s into an FMA only where it sees the sum) */
static inline float rs_dot3(const float *a, const float *b, const float *m, int C) {
    rs_vec s = {0};
    int c = 0;
    for (; c + RS_W <= C; c += RS_W)
        s += *(const rs_vecu *)(a + c) * *(const rs_vecu *)(b + c) * *(const rs_vecu *)(m + c);
    if (c < C) s += rs_part(a + c, C - c) * rs_part(b + c, C - c) * rs_part(m + c, C - c);
    return rs_hsum(s);
}

/* the forward's row statistics (norm.c): the mean relative to x0 (dm = mean - x0) and rstd */
static inline void ln_stats(const float *r, int C, float eps, float *x0, float *dm, float *inv) {
    const float a = r[0];
    const float d = rs_sum_dev(r, C, a) / (float)C;
    *x0 = a, *dm = d, *inv = 1.0f / sqrtf(rs_sum_sq_dev(r, C, a, d) / (float)C + eps);
}

/* one row: t = xhat g + b, dt = dy act'(t), dxhat = dt g,
 * dx += rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)); pg += dt xhat, pb += dt.
 * tmp: 2C floats (xhat, dt) */
static void ln_row(const float *r, const float *dyr, int C, const float *g, const float *b, float eps, vssm_act act,
                   float *dxr, float *pg, float *pb, float *tmp) {
    float x0, dm, inv;
    ln_stats(r, C, eps, &x0, &dm, &inv);
    float *xh = tmp, *dt = tmp + C;
#pragma omp simd
    for (int c = 0; c < C; c++) xh[c] = ((r[c] - x0) - dm) * inv;
    if (act == VSSM_ACT_NONE)
        dt = (float *)dyr;
    else if (act == VSSM_ACT_GELU) {
#pragma omp simd
        for (int c = 0; c < C; c++) dt[c] = dyr[c] * bwd_act_grad(xh[c] * g[c] + b[c], VSSM_ACT_GELU);
    } else {
#pragma omp simd
        for (int c = 0; c < C; c++) dt[c] = dyr[c] * bwd_act_grad(xh[c] * g[c] + b[c], act);
    }
    float s1 = rs_dot(dt, g, C), s2 = rs_dot3(dt, g, xh, C); /* sums of dxhat, dxhat xhat */
    if (pg) {
#pragma omp simd
        for (int c = 0; c < C; c++) pg[c] += dt[c] * xh[c];
    }
    if (pb) {
#pragma omp simd
        for (int c = 0; c < C; c++) pb[c] += dt[c];
    }
    if (!dxr) return;
    s1 /= (float)C, s2 /= (float)C;
#pragma omp simd
    for (int c = 0; c < C; c++) dxr[c] += inv * (dt[c] * g[c] - s1 - xh[c] * s2);
}

void VSSM_ISA_FN(vssm_cpu_layernorm_bwd)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *gamma,
                                         const float *beta, float eps, vssm_act act, const float *dy, float *dx,
                                         float *dgamma, float *dbeta) {
    if (rows <= 0) return;
    const int64_t nblk = (rows + BWD_RB - 1) / BWD_RB;
    float *part = NULL;
    if (dgamma || dbeta) {
        part = vssm_cpu_bwd_alloc(ctx, "layernorm_bwd", (size_t)nblk * 2 * C);
        if (!part) return;
        memset(part, 0, (size_t)nblk * 2 * C * sizeof(float));
    }
    /* a block without its scratch is reported after the region (no critical section: clang's
     * OpenMP makes a global lock symbol of one, which the library would export) */
    int oom = 0;
#pragma omp parallel for num_threads(ctx->threads_now) schedule(static)
    for (int64_t bk = 0; bk < nblk; bk++) {
        const int64_t r1 = rows - bk * BWD_RB < BWD_RB ? rows : (bk + 1) * BWD_RB;
        float *pg = part && dgamma ? part + (size_t)bk * 2 * C : NULL;
        float *pb = part && dbeta ? part + (size_t)bk * 2 * C + C : NULL;
        float *tmp = malloc((size_t)2 * C * sizeof(float));
        if (!tmp) {
#pragma omp atomic write
            oom = 1;
            continue;
        }
        for (int64_t i = bk * BWD_RB; i < r1; i++)
            ln_row(x + i * C, dy + i * C, C, gamma, beta, eps, act, dx ? dx + i * C : NULL, pg, pb, tmp);
        free(tmp);
    }
    if (oom) vssm_cpu_bwd_fail(ctx, "op layernorm_bwd: out of memory");
    if (part) {
        /* dgamma and dbeta: one (2C) reduction */
        float *tot = vssm_cpu_bwd_alloc(ctx, "layernorm_bwd", (size_t)2 * C);
        if (tot) {
            memset(tot, 0, (size_t)2 * C * sizeof(float));
            vssm_cpu_bwd_reduce(ctx, part, nblk, 2 * (int64_t)C, tot);
            for (int c = 0; c < C; c++) {
                if (dgamma) dgamma[c] += tot[c];
                if (dbeta) dbeta[c] += tot[C + c];
            }
            free(tot);
        }
        free(part);
    }
}

/* y = x r w, r = (mean(x^2) + eps)^-1/2: dx = r (dy w - x r^2 mean(dy w x)), dw += dy x r */
void VSSM_ISA_FN(vssm_cpu_rmsnorm_bwd)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *w, float eps,
                                       const float *dy, float *dx, float *dw) {
    if (rows <= 0) return;
    const int64_t nblk = (rows + BWD_RB - 1) / BWD_RB;
    float *part = NULL;
    if (dw) {
        part = vssm_cpu_bwd_alloc(ctx, "rmsnorm_bwd", (size_t)nblk * C);
        if (!part) return;
        memset(part, 0, (size_t)nblk * C * sizeof(float));
    }
#pragma omp parallel for num_threads(ctx->threads_now) schedule(static)
    for (int64_t bk = 0; bk < nblk; bk++) {
        const int64_t r1 = rows - bk * BWD_RB < BWD_RB ? rows : (bk + 1) * BWD_RB;
        float *pw = part ? part + (size_t)bk * C : NULL;
        for (int64_t i = bk * BWD_RB; i < r1; i++) {
            const float *r = x + i * C, *g = dy + i * C;
            const float inv = 1.0f / sqrtf(rs_sum_sq(r, C) / (float)C + eps); /* the forward's (conv1d.c) */
            const float p = rs_dot3(g, w, r, C);
            if (pw) {
#pragma omp simd
                for (int c = 0; c < C; c++) pw[c] += g[c] * r[c] * inv;
            }
            if (!dx) continue;
            const float k = inv * inv * p / (float)C;
            float *o = dx + i * C;
#pragma omp simd
            for (int c = 0; c < C; c++) o[c] += inv * (g[c] * w[c] - r[c] * k);
        }
    }
    if (part) {
        vssm_cpu_bwd_reduce(ctx, part, nblk, C, dw);
        free(part);
    }
}

#ifdef VSSM_ISA_BASE
void vssm_cpu_avgpool_bwd(vssm_ctx *ctx, int B, int64_t L, int C, const float *dy, float *dx) {
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(static)
    for (int b = 0; b < B; b++)
        for (int64_t l = 0; l < L; l++) {
            const float *g = dy + (size_t)b * C;
            float *o = dx + ((size_t)b * L + l) * C;
#pragma omp simd
            for (int c = 0; c < C; c++) o[c] += g[c] / (float)L;
        }
}

/* Per sample, in double: lse = log sum exp(z), logp = z - lse, loss = -(1 - s) logp[y] -
 * (s / n) sum logp; gradient (softmax - target) / B. The batch mean is summed in order. */
void vssm_cpu_softmax_xent(vssm_ctx *ctx, const float *logits, int B, int ncls, const int32_t *labels, float smoothing,
                           float *loss, float *dlogits) {
    for (int b = 0; b < B; b++)
        if (labels[b] < 0 || labels[b] >= ncls) {
            vssm_cpu_bwd_fail(ctx, "op softmax_xent: label %d of sample %d is outside [0, %d)", (int)labels[b], b,
                              ncls);
            *loss = NAN;
            return;
        }
    double *per = malloc((size_t)B * sizeof(double));
    if (!per) {
        vssm_cpu_bwd_fail(ctx, "op softmax_xent: out of memory");
        return;
    }
    const double s = smoothing, on = 1.0 - s, off = s / ncls;
#pragma omp parallel for num_threads(ctx->threads_now) schedule(static)
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * ncls;
        double m = z[0];
        for (int j = 1; j < ncls; j++) m = z[j] > m ? z[j] : m;
        double se = 0, sz = 0;
        for (int j = 0; j < ncls; j++) se += exp(z[j] - m), sz += z[j];
        const double lse = m + log(se);
        per[b] = -on * (z[labels[b]] - lse) - off * (sz - ncls * lse);
        if (!dlogits) continue;
        float *d = dlogits + (size_t)b * ncls;
        for (int j = 0; j < ncls; j++) {
            const double t = off + (j == labels[b] ? on : 0.0);
            d[j] += (float)((exp(z[j] - lse) - t) / B);
        }
    }
    double tot = 0;
    for (int b = 0; b < B; b++) tot += per[b];
    *loss = (float)(tot / B);
    free(per);
}
#endif
