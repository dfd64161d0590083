/* kernels/cpu/scan_simd.h - pieces shared by the 2D (scan.c) and 1D (scan1d.c) selective
 * scans: a block of CB channels as one SIMD value, and the on-the-fly dt projection. */
#ifndef VSSM_CPU_SCAN_SIMD_H
#define VSSM_CPU_SCAN_SIMD_H

#include <stdint.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include "kernels/ops.h"
#include "kernels/cpu/vmath.h"

#define CB 16 /* channels per task: one AVX-512 vector of floats */
#define TC \
    32 /* tokens per chunk: the transcendental work of a chunk is independent
                 * across tokens (throughput-bound); only the short FMA recurrence is serial */

/* CB floats as one value (GCC vector extension): a zmm register with AVX-512, two ymm
 * with AVX2. Used where a value must stay in registers across a loop (the dt sum over
 * R, the state h over a chunk); elementwise transcendental loops use omp simd instead. */
typedef float vf __attribute__((vector_size(CB * sizeof(float)), aligned(64), may_alias));
typedef float vfu __attribute__((vector_size(CB * sizeof(float)), aligned(4), may_alias));

static inline vf load_part(const float *p, int cw) { /* first cw lanes, rest 0 */
    vf v = {0};
    for (int j = 0; j < cw; j++) v[j] = p[j];
    return v;
}
static inline vf load_v(const float *p, int cw) { return cw == CB ? (vf) * (const vfu *)p : load_part(p, cw); }

/* dt[i] = bias + sum_r xr[i][r] dtw[r * ldw + 0..cw) for the T tokens of a chunk: a
 * (T x R) . (R x CB) product in registers, DT_TB tokens at a time so each dt_w row is loaded
 * once per DT_TB tokens and DT_TB independent FMA chains cover the FMA latency (4 chains
 * left half of AVX-512's two FMA ports idle: R = 48 at VMamba-T's stage 4). Each dt[i] is
 * one chain in r order whatever DT_TB is: the same bits for every instruction set. */
#ifdef __AVX512F__
#define DT_TB 8
#else
#define DT_TB 4 /* an AVX2 vf is two ymm: 8 accumulators would spill */
#endif
static inline void scan_dt_chunk(const float *const *xr, int T, const float *dtw, int64_t ldw, int R, vf bias, int cw,
                                 vf *dt) {
    int i = 0;
    if (cw == CB)
        for (; i + DT_TB <= T; i += DT_TB) {
            vf s[DT_TB];
            for (int q = 0; q < DT_TB; q++) s[q] = bias;
            for (int r = 0; r < R; r++) {
                const vf wr = *(const vfu *)(dtw + (size_t)r * ldw);
                for (int q = 0; q < DT_TB; q++) s[q] += xr[i + q][r] * wr;
            }
            for (int q = 0; q < DT_TB; q++) dt[i + q] = s[q];
        }
    for (; i < T; i++) {
        vf s0 = bias;
        for (int r = 0; r < R; r++) s0 += xr[i][r] * load_v(dtw + (size_t)r * ldw, cw);
        dt[i] = s0;
    }
}

/* ---- the forward recurrence of one channel block, shared by scan.c and scan1d.c ----
 *
 * Per chunk of T tokens: dt (above), delta = softplus(dt) and delta u for all tokens at once
 * (throughput-bound), then the states in groups of SG: first exp(delta A) of every (token,
 * state) of the group (independent: throughput-bound, as 2^(delta A log2 e), vmath.h's
 * vm_exp2_mul), then the serial recurrence token by token with the group's SG states in
 * registers, so SG independent FMA chains hide each other's latency (one state at a time,
 * as before, left each token waiting on one chain). acc[i] still receives D u, then C_n h_n
 * for n = 0, 1, ... N-1 in order, whatever SG is: the bits do not depend on it (nor on the
 * instruction set: AVX2 and AVX-512 run the same operations). */
#ifdef __AVX512F__
#define SG 8 /* states per group: 8 h + 8 A in zmm registers */
#else
#define SG 4 /* an AVX2 vf is two ymm: 16 registers in all */
#endif
#define LOG2E_F 1.44269504088896341f

typedef struct {
    vf A2[VSSM_SCAN_MAX_STATE]; /* A log2(e) per state */
    vf h[VSSM_SCAN_MAX_STATE];  /* the states */
    vf bias, dsk;               /* dt bias, D */
    float a2max;                /* largest |A2| of the block: bounds delta A2 from delta */
    const float *dtw;           /* dt_proj (R, ldw) at the block's first channel */
    int64_t ldw;
    int R, N, cw;
} scan_state;

/* A: (N, lda) at the block's first channel; dtb, Ds at the block's first channel */
static inline void scan_state_init(scan_state *s, const float *A, int64_t lda, const float *dtw, int64_t ldw,
                                   const float *dtb, const float *Ds, int R, int N, int cw) {
    s->a2max = 0.0f;
    for (int n = 0; n < N; n++) {
        s->h[n] = (vf){0};
        s->A2[n] = load_v(A + (size_t)n * lda, cw) * LOG2E_F;
        for (int j = 0; j < CB; j++) {
            const float m = s->A2[n][j] < 0 ? -s->A2[n][j] : s->A2[n][j];
            s->a2max = m > s->a2max ? m : s->a2max;
        }
    }
    s->bias = load_v(dtb, cw), s->dsk = load_v(Ds, cw);
    s->dtw = dtw, s->ldw = ldw, s->R = R, s->N = N, s->cw = cw;
}

/* dA[i*G + q] = exp(delta_i A_{n0+q}); safe: some delta A may lie below -124. simdlen: one
 * zmm per (token, state) with AVX-512 (GCC would pick ymm by default) */
static inline __attribute__((always_inline)) void scan_decays(vf *dA, const vf *dl, const vf *A2, int T, const int G,
                                                              const int safe) {
#ifdef __AVX512F__
    /* vm_exp2_mul with VSCALEFPS for the final p 2^n (one operation instead of a shift and a
     * product): the same bits, since p 2^n is a normal float on the fast path's range */
    if (!safe) {
        const __m512 m = _mm512_set1_ps(VM_EXP2_MAGIC);
        for (int i = 0; i < T; i++)
            for (int q = 0; q < G; q++) {
                const __m512 d = (__m512)dl[i], a = (__m512)A2[q];
                const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(d, a, m), m), f = _mm512_fmsub_ps(d, a, n);
                __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(VM_EXP2_C5), f, _mm512_set1_ps(VM_EXP2_C4));
                p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(VM_EXP2_C3));
                p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(VM_EXP2_C2));
                p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(VM_EXP2_C1));
                p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(VM_EXP2_C0));
                dA[i * G + q] = (vf)_mm512_scalef_ps(p, n);
            }
        return;
    }
#endif
    for (int i = 0; i < T; i++)
        for (int q = 0; q < G; q++) {
            float *o = (float *)&dA[i * G + q];
            const float *d = (const float *)&dl[i], *a = (const float *)&A2[q];
            if (safe) {
#pragma omp simd simdlen(CB)
                for (int j = 0; j < CB; j++) o[j] = vm_exp2_mul_safe(d[j], a[j]);
            } else {
#pragma omp simd simdlen(CB)
                for (int j = 0; j < CB; j++) o[j] = vm_exp2_mul(d[j], a[j]);
            }
        }
}

/* states n0 .. n0+G-1 over the chunk (G constant after inlining: the group in registers) */
static inline __attribute__((always_inline)) void scan_states(scan_state *s, const float *const *xr, int T,
                                                              const vf *dl, const vf *du, vf *acc, int n0, const int G,
                                                              int safe) {
    vf dA[TC * SG], hv[SG];
    if (safe)
        scan_decays(dA, dl, s->A2 + n0, T, G, 1);
    else
        scan_decays(dA, dl, s->A2 + n0, T, G, 0);
    for (int q = 0; q < G; q++) hv[q] = s->h[n0 + q];
    const int bo = s->R + n0, co = s->R + s->N + n0; /* B_n, C_n in a token's x_proj row */
    for (int i = 0; i < T; i++) {
        const float *xb = xr[i] + bo, *xc = xr[i] + co;
        /* an empty asm: the two row pointers stay two registers, so B_q and C_q are
         * broadcast from [reg + 4q]; without it GCC keeps 2G index registers and reloads
         * them from the stack every token (v0-T 3-4%, Vim-T ~6% of the scan, bench_scans) */
        __asm__("" : "+r"(xb), "+r"(xc));
        const vf d = du[i];
        vf a = acc[i];
        for (int q = 0; q < G; q++) {
            hv[q] = dA[i * G + q] * hv[q] + d * xb[q];
            a += xc[q] * hv[q];
        }
        acc[i] = a;
    }
    for (int q = 0; q < G; q++) s->h[n0 + q] = hv[q];
}

/* One chunk of T <= TC tokens: xr[i] is token i's x_proj row [dt_r; B; C], uu[i] its input.
 * Out: acc[i] = C_i . h_i + D u_i; the states advance in s. */
static inline void scan_chunk(scan_state *s, const float *const *xr, int T, const vf *uu, vf *acc) {
    vf dl[TC], du[TC];
    scan_dt_chunk(xr, T, s->dtw, s->ldw, s->R, s->bias, s->cw, dl);
    float *dlf = (float *)dl, *duf = (float *)du, dmax = 0.0f;
    const float *uuf = (const float *)uu;
#pragma omp simd simdlen(32) reduction(max : dmax)
    for (int e = 0; e < T * CB; e++) {
        const float d = vm_softplusf(dlf[e]);
        dlf[e] = d;
        duf[e] = d * uuf[e];
        dmax = d > dmax ? d : dmax;
    }
    for (int i = 0; i < T; i++) acc[i] = s->dsk * uu[i];
    /* delta A2 >= -dmax a2max: the fast exp holds unless that passes -124 (or is NaN) */
    const int safe = !(dmax * s->a2max <= 124.0f), N = s->N;
    int n0 = 0;
    for (; n0 + SG <= N; n0 += SG) scan_states(s, xr, T, dl, du, acc, n0, SG, safe);
#if SG > 4
    if (n0 + 4 <= N) scan_states(s, xr, T, dl, du, acc, n0, 4, safe), n0 += 4;
#endif
    if (n0 + 2 <= N) scan_states(s, xr, T, dl, du, acc, n0, 2, safe), n0 += 2;
    if (n0 < N) scan_states(s, xr, T, dl, du, acc, n0, 1, safe);
}

#endif
