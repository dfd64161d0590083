/* kernels/cpu/scan_simd.h - pieces shared by the 2D (scan.c) and 1D (scan1d.c) selective
 * scans: a block of CB channels as one SIMD value, and the on-the-fly dt projection. */
#ifndef VSSM_CPU_SCAN_SIMD_H
#define VSSM_CPU_SCAN_SIMD_H

#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#define SCAN_AVX2 1 /* the AVX2 unit (scan_avx2.c ...): explicit ymm forms where GCC's were poor */
typedef float v8f __attribute__((vector_size(8 * sizeof(float))));
typedef float v8fu __attribute__((vector_size(8 * sizeof(float)), aligned(4), may_alias));
#endif
#include "kernels/cpu/cpu_ops.h"
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
typedef int32_t vi __attribute__((vector_size(CB * sizeof(int32_t)), aligned(64)));

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
#ifdef SCAN_AVX2
    /* the same FMAs on explicit ymm halves: GCC kept the vector-extension accumulators of the
     * loop below on the stack and moved them through general registers every step (VMamba-T's
     * AVX2 scan ~4x the AVX-512 one) */
    if (cw == CB)
        for (; i + DT_TB <= T; i += DT_TB) {
            const __m256 b0 = _mm256_loadu_ps((const float *)&bias), b1 = _mm256_loadu_ps((const float *)&bias + 8);
            __m256 s0[DT_TB], s1[DT_TB];
            for (int q = 0; q < DT_TB; q++) s0[q] = b0, s1[q] = b1;
            for (int r = 0; r < R; r++) {
                const __m256 w0 = _mm256_loadu_ps(dtw + (size_t)r * ldw),
                             w1 = _mm256_loadu_ps(dtw + (size_t)r * ldw + 8);
                for (int q = 0; q < DT_TB; q++) {
                    const __m256 x = _mm256_broadcast_ss(xr[i + q] + r);
                    s0[q] = _mm256_fmadd_ps(x, w0, s0[q]), s1[q] = _mm256_fmadd_ps(x, w1, s1[q]);
                }
            }
            for (int q = 0; q < DT_TB; q++) {
                _mm256_storeu_ps((float *)&dt[i + q], s0[q]);
                _mm256_storeu_ps((float *)&dt[i + q] + 8, s1[q]);
            }
        }
#endif
    if (cw == CB)
        for (; i + DT_TB <= T; i += DT_TB) {
            vf s[DT_TB];
            for (int q = 0; q < DT_TB; q++) s[q] = bias;
            for (int r = 0; r < R; r++) {
                const vf wr = *(const vfu *)(dtw + (size_t)r * ldw);
#ifdef __AVX512F__ /* the FMA explicit, as the AVX2 form's (so both units fuse it whatever the build) */
                for (int q = 0; q < DT_TB; q++)
                    s[q] = (vf)_mm512_fmadd_ps(_mm512_set1_ps(xr[i + q][r]), (__m512)wr, (__m512)s[q]);
#else
                for (int q = 0; q < DT_TB; q++) s[q] += xr[i + q][r] * wr;
#endif
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
    const uint32_t *dtw2;       /* NULL, or dt_proj as bf16 pairs (ceil(R/2), ldw) there (scan_bf16.c):
                                 * then each token's x_proj row starts with its dt_r as such pairs */
    int64_t ldw;
    int R, N, cw;
} scan_state;

/* A: (N, lda) at the block's first channel; dtb, Ds at the block's first channel */
static inline void scan_state_init(scan_state *s, const float *A, int64_t lda, const float *dtw, int64_t ldw,
                                   const float *dtb, const float *Ds, int R, int N, int cw) {
    vi mx = {0}; /* |A2| lane by lane over the states, then across the lanes (exact either way:
                   * the bits of non-negative floats order as the floats; vector ops, where a
                   * scalar loop cost ~1000 cycles per (block, direction): 20 per token at
                   * VMamba-v0-T's stage 4, 49 tokens) */
    for (int n = 0; n < N; n++) {
        s->h[n] = (vf){0};
        s->A2[n] = load_v(A + (size_t)n * lda, cw) * LOG2E_F;
        const vi m = (vi)s->A2[n] & 0x7fffffff;
        const vi gt = mx > m; /* all ones where mx is larger */
        mx = (mx & gt) | (m & ~gt);
    }
    int32_t mb = 0;
    for (int j = 0; j < CB; j++) mb = mx[j] > mb ? mx[j] : mb;
    s->a2max = vm_bits_to_float(mb);
    s->bias = load_v(dtb, cw), s->dsk = load_v(Ds, cw);
    s->dtw = dtw, s->dtw2 = NULL, s->ldw = ldw, s->R = R, s->N = N, s->cw = cw;
}

/* The decay 2^(a b) (a b = delta A log2 e) in 8 operations where vm_exp2_mul takes 9 (10
 * without VSCALEFPS): the product enters unrounded, v = a b + magic rounds it to n, a
 * multiple of 1/32, whose low 5 mantissa bits j = 32 (n - floor n) pick 2^(j/32) from a
 * table (one VPERMT2PS: two zmm of 16), f = a b - n (|f| <= 1/64) needs only a degree-2
 * polynomial, 2^(a b) = 2^floor(n) (T + T f (C1 + C2 f)). Error <= 3 ulp of 2^(the exact
 * product) (tests/test_vmath.c; polynomial 0.45 ulp, table and last rounding 1 ulp). 16 of
 * these per token-channel-direction at d_state 16 are ~60% of the scan's arithmetic, so the
 * saved operation is ~6% of the scan. The portable form below gives the same bits as the
 * AVX-512 one (the table read, then r 2^floor(n) from the exponent bits: exact for a
 * normal result, as VSCALEFPS). Valid for a b in [-124, 0]; scan_exp2_mul_safe clamps as
 * vm_exp2_mul_safe does and equals scan_exp2_mul bit for bit there. */
#define SCAN_EXP2_MAGIC 393216.0f       /* 1.5 2^18: v's last mantissa bit is 1/32 */
#define SCAN_EXP2_MAGIC_BITS 0x48c00000 /* its bits */
#define SCAN_EXP2_C2 0.24022676f
#define SCAN_EXP2_C1 0.6931573f
static const float scan_exp2_tab[32] __attribute__((aligned(64))) = {
    1.000000000e+00f, 1.021897197e+00f, 1.044273734e+00f, 1.067140460e+00f, 1.090507746e+00f, 1.114386797e+00f,
    1.138788581e+00f, 1.163724899e+00f, 1.189207077e+00f, 1.215247393e+00f, 1.241857767e+00f, 1.269050956e+00f,
    1.296839595e+00f, 1.325236678e+00f, 1.354255557e+00f, 1.383909941e+00f, 1.414213538e+00f, 1.445180774e+00f,
    1.476826191e+00f, 1.509164453e+00f, 1.542210817e+00f, 1.575980902e+00f, 1.610490322e+00f, 1.645755529e+00f,
    1.681792855e+00f, 1.718619347e+00f, 1.756252170e+00f, 1.794709086e+00f, 1.834008098e+00f, 1.874167681e+00f,
    1.915206552e+00f, 1.957144141e+00f};
static inline float scan_exp2_finish(float v, float f) {
    const uint32_t bv = (uint32_t)vm_float_to_bits(v);
    const float t = scan_exp2_tab[bv & 31], q = VM_FMA_(SCAN_EXP2_C2, f, SCAN_EXP2_C1) * f, r = VM_FMA_(t, q, t);
    /* bv - magic's bits = 32 n: floor(n) by an arithmetic shift, + 127 into the exponent */
    const uint32_t e = ((uint32_t)((int32_t)(bv - (uint32_t)SCAN_EXP2_MAGIC_BITS) >> 5) + 127u) << 23;
    return r * vm_bits_to_float((int32_t)e);
}
static inline float scan_exp2_mul(float a, float b) {
    const float v = VM_FMA_(a, b, SCAN_EXP2_MAGIC), n = v - SCAN_EXP2_MAGIC;
    return scan_exp2_finish(v, VM_FMA_(a, b, -n));
}
/* below -125: 2^-125 2^(-1/64) (2.3e-38), a normal float standing for 0 */
static inline float scan_exp2_mul_safe(float a, float b) {
    const float v = VM_FMA_(a, b, SCAN_EXP2_MAGIC), vc = v < SCAN_EXP2_MAGIC - 125.0f ? SCAN_EXP2_MAGIC - 125.0f : v;
    const float f = VM_FMA_(a, b, SCAN_EXP2_MAGIC - vc); /* magic - vc = -n exactly */
    return scan_exp2_finish(vc, f < -0.015625f ? -0.015625f : f);
}

#ifdef __AVX512F__
/* scan_exp2_mul with VPERMT2PS for the table and VSCALEFPS for r 2^floor(n): the same bits */
typedef struct {
    __m512 m, c2, c1, tlo, thi;
} scan_exp2_k;
static inline scan_exp2_k scan_exp2_consts(void) {
    return (scan_exp2_k){_mm512_set1_ps(SCAN_EXP2_MAGIC), _mm512_set1_ps(SCAN_EXP2_C2), _mm512_set1_ps(SCAN_EXP2_C1),
                         _mm512_load_ps(scan_exp2_tab), _mm512_load_ps(scan_exp2_tab + 16)};
}
/* scan_exp2_finish: 2^n (T + T f (C1 + C2 f)) from v (n = v - magic) and f */
static inline __attribute__((always_inline)) __m512 scan_exp2_finish512(const scan_exp2_k *c, __m512 v, __m512 n,
                                                                        __m512 f) {
    const __m512 t = _mm512_permutex2var_ps(c->tlo, _mm512_castps_si512(v), c->thi);
    const __m512 p = _mm512_mul_ps(_mm512_fmadd_ps(c->c2, f, c->c1), f);
    return _mm512_scalef_ps(_mm512_fmadd_ps(t, p, t), n);
}
static inline __attribute__((always_inline)) vf scan_exp2_mul512(const scan_exp2_k *c, vf dv, vf av) {
    const __m512 d = (__m512)dv, a = (__m512)av;
    const __m512 v = _mm512_fmadd_ps(d, a, c->m), n = _mm512_sub_ps(v, c->m);
    return (vf)scan_exp2_finish512(c, v, n, _mm512_fmsub_ps(d, a, n));
}
#endif

/* delta = softplus(dt) = max(dt, 0) + log1p(exp(-|dt|)) as vm_softplusf, with exp(-|dt|) by the
 * decays' table form above, 2^(-|dt| log2 e) (9 operations where vm_expf_neg takes 14; the
 * softplus was ~38% of VMamba-T's recurrence, whose d_state is 1): log2 e in two parts, the
 * second's product added to f, so the product is exact to ~2^-48 (one float for log2 e was 5e-7
 * off at dt = -40); |dt| clamped to 85 so the product stays above -124 (exp(-85) is below half
 * an ulp of the result's max(dt, 0) part; for dt < -85 the result is a tiny normal float, as
 * vm_softplusf's). Then log1p on [0, 1] as e P(e) (vm_log1p_unit's polynomial), max(dt, 0)
 * added by the last FMA. NaN in, NaN out (the max keeps dt where it is NaN). The AVX-512 form
 * gives the same bits. Error <= 2.5e-7 relative (tests/test_vmath.c). Without FMA (the
 * baseline build) the product would round: vm_softplusf there. */
#define SCAN_SP_CLAMP 85.0f
#define SCAN_SP_L2E_HI 1.44269502162933349609375f /* log2 e = HI + LO */
#define SCAN_SP_L2E_LO 1.925963033e-8f
static inline float scan_softplus(float x) {
#ifdef __FMA__
    const float ax = x < 0.0f ? -x : x, a = ax < SCAN_SP_CLAMP ? ax : SCAN_SP_CLAMP;
    const float v = VM_FMA_(a, -SCAN_SP_L2E_HI, SCAN_EXP2_MAGIC), n = v - SCAN_EXP2_MAGIC;
    const float e = scan_exp2_finish(v, VM_FMA_(a, -SCAN_SP_L2E_LO, VM_FMA_(a, -SCAN_SP_L2E_HI, -n)));
    float p = vm_log1p_poly[0];
    for (int i = 1; i < VM_LOG1P_TERMS; i++) p = VM_FMA_(p, e, vm_log1p_poly[i]);
    return VM_FMA_(e, p, 0.0f > x ? 0.0f : x);
#else
    return vm_softplusf(x);
#endif
}
#ifdef __AVX512F__
/* scan_softplus on 16 lanes for two tokens at once, their operations interleaved one by one
 * (the same operations on each, so the same bits; scan_softplus512 below: one token). One
 * softplus is a chain of ~20 dependent operations (the exp, then the 10-term Horner sum); a
 * loop of them one token after another kept the scheduler full of waiting operations:
 * scan_delta_chunk alone (micro-benchmark, 32 tokens in L1) 13.8 -> 10.9 TSC cycles per 16
 * channels with pairs; fours, 11.5 (the constants and four chains overflow the 32 registers) */
static inline __attribute__((always_inline)) void scan_softplus512x2(const scan_exp2_k *c, __m512 x0, __m512 x1,
                                                                     __m512 *d0, __m512 *d1) {
    const __m512 nh = _mm512_set1_ps(-SCAN_SP_L2E_HI), nl = _mm512_set1_ps(-SCAN_SP_L2E_LO),
                 cl = _mm512_set1_ps(SCAN_SP_CLAMP);
    const __m512 a0 = _mm512_min_ps(_mm512_abs_ps(x0), cl), a1 = _mm512_min_ps(_mm512_abs_ps(x1), cl);
    const __m512 v0 = _mm512_fmadd_ps(a0, nh, c->m), v1 = _mm512_fmadd_ps(a1, nh, c->m);
    const __m512 n0 = _mm512_sub_ps(v0, c->m), n1 = _mm512_sub_ps(v1, c->m);
    const __m512 f0 = _mm512_fmadd_ps(a0, nl, _mm512_fmsub_ps(a0, nh, n0)),
                 f1 = _mm512_fmadd_ps(a1, nl, _mm512_fmsub_ps(a1, nh, n1));
    const __m512 e0 = scan_exp2_finish512(c, v0, n0, f0), e1 = scan_exp2_finish512(c, v1, n1, f1);
    __m512 p0 = _mm512_set1_ps(vm_log1p_poly[0]), p1 = p0;
    for (int i = 1; i < VM_LOG1P_TERMS; i++) {
        const __m512 k = _mm512_set1_ps(vm_log1p_poly[i]);
        p0 = _mm512_fmadd_ps(p0, e0, k), p1 = _mm512_fmadd_ps(p1, e1, k);
    }
    *d0 = _mm512_fmadd_ps(e0, p0, _mm512_max_ps(_mm512_setzero_ps(), x0));
    *d1 = _mm512_fmadd_ps(e1, p1, _mm512_max_ps(_mm512_setzero_ps(), x1));
}
/* one token's: the pair's form on the token twice (GCC merges the identical operations) */
static inline __attribute__((always_inline)) vf scan_softplus512(const scan_exp2_k *c, vf xv) {
    __m512 d, d2;
    scan_softplus512x2(c, (__m512)xv, (__m512)xv, &d, &d2);
    return (vf)d;
}
#endif

#ifdef SCAN_AVX2
/* scan_exp2_finish on 8 lanes with AVX2: the table read by four VPERMPS and three blends (the
 * portable form's lookup is a gather: VMamba-T's AVX2 scan took 1.6x its time with it in the
 * softplus, and the decays' gathers made it 4.6x the AVX-512 scan); the same operations
 * otherwise, so the same bits */
static inline __attribute__((always_inline)) __m256 scan_exp2_finish256(__m256 v, __m256 f) {
    const __m256i bv = _mm256_castps_si256(v);
    const __m256 b3 = _mm256_castsi256_ps(_mm256_slli_epi32(bv, 28)),
                 b4 = _mm256_castsi256_ps(_mm256_slli_epi32(bv, 27));
    const __m256 t01 = _mm256_blendv_ps(_mm256_permutevar8x32_ps(_mm256_load_ps(scan_exp2_tab), bv),
                                        _mm256_permutevar8x32_ps(_mm256_load_ps(scan_exp2_tab + 8), bv), b3);
    const __m256 t23 = _mm256_blendv_ps(_mm256_permutevar8x32_ps(_mm256_load_ps(scan_exp2_tab + 16), bv),
                                        _mm256_permutevar8x32_ps(_mm256_load_ps(scan_exp2_tab + 24), bv), b3);
    const __m256 t = _mm256_blendv_ps(t01, t23, b4);
    const __m256 q = _mm256_mul_ps(_mm256_fmadd_ps(_mm256_set1_ps(SCAN_EXP2_C2), f, _mm256_set1_ps(SCAN_EXP2_C1)), f);
    /* r 2^floor(n): floor(n) = (v's bits - magic's) >> 5, + 127 into the exponent */
    const __m256i ex = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_srai_epi32(_mm256_sub_epi32(bv, _mm256_set1_epi32(SCAN_EXP2_MAGIC_BITS)), 5),
                         _mm256_set1_epi32(127)),
        23);
    return _mm256_mul_ps(_mm256_fmadd_ps(t, q, t), _mm256_castsi256_ps(ex));
}
/* scan_exp2_mul (safe: scan_exp2_mul_safe) on 8 lanes; the max operands in the order that
 * keeps a NaN v or f, as the portable selects do */
static inline __attribute__((always_inline)) __m256 scan_exp2_mul256(__m256 a, __m256 b, int safe) {
    const __m256 mg = _mm256_set1_ps(SCAN_EXP2_MAGIC), v = _mm256_fmadd_ps(a, b, mg);
    if (safe) {
        const __m256 vc = _mm256_max_ps(_mm256_set1_ps(SCAN_EXP2_MAGIC - 125.0f), v);
        const __m256 f = _mm256_fmadd_ps(a, b, _mm256_sub_ps(mg, vc));
        return scan_exp2_finish256(vc, _mm256_max_ps(_mm256_set1_ps(-0.015625f), f));
    }
    return scan_exp2_finish256(v, _mm256_fmsub_ps(a, b, _mm256_sub_ps(v, mg)));
}
static inline __attribute__((always_inline)) __m256 scan_softplus256(__m256 x) {
    const __m256 mg = _mm256_set1_ps(SCAN_EXP2_MAGIC), nh = _mm256_set1_ps(-SCAN_SP_L2E_HI);
    const __m256 a = _mm256_min_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(SCAN_SP_CLAMP));
    const __m256 v = _mm256_fmadd_ps(a, nh, mg), n = _mm256_sub_ps(v, mg);
    const __m256 e = scan_exp2_finish256(
        v, _mm256_fmadd_ps(a, _mm256_set1_ps(-SCAN_SP_L2E_LO), _mm256_fmsub_ps(a, nh, n)));
    __m256 p = _mm256_set1_ps(vm_log1p_poly[0]);
    for (int i = 1; i < VM_LOG1P_TERMS; i++) p = _mm256_fmadd_ps(p, e, _mm256_set1_ps(vm_log1p_poly[i]));
    return _mm256_fmadd_ps(e, p, _mm256_max_ps(_mm256_setzero_ps(), x));
}
#endif

/* delta = softplus(dt) in place and du = delta u over a chunk (the forward and the backward's
 * recomputation: the same bits); returns the largest delta (NaN passed over) */
static inline float scan_delta_chunk(vf *dl, vf *du, const vf *uu, int T) {
#if defined(__AVX512F__)
    const scan_exp2_k c = scan_exp2_consts();
    __m512 mx = _mm512_setzero_ps();
    int i = 0;
    for (; i + 2 <= T; i += 2) {
        __m512 d0, d1;
        scan_softplus512x2(&c, (__m512)dl[i], (__m512)dl[i + 1], &d0, &d1);
        dl[i] = (vf)d0, du[i] = (vf)_mm512_mul_ps(d0, (__m512)uu[i]);
        dl[i + 1] = (vf)d1, du[i + 1] = (vf)_mm512_mul_ps(d1, (__m512)uu[i + 1]);
        mx = _mm512_max_ps(d0, mx);
        mx = _mm512_max_ps(d1, mx);
    }
    for (; i < T; i++) {
        const __m512 d = (__m512)scan_softplus512(&c, dl[i]);
        dl[i] = (vf)d, du[i] = (vf)_mm512_mul_ps(d, (__m512)uu[i]);
        mx = _mm512_max_ps(d, mx); /* d > mx ? d : mx, as the portable loop's reduction */
    }
    return _mm512_reduce_max_ps(mx);
#elif defined(SCAN_AVX2)
    __m256 mx = _mm256_setzero_ps();
    for (int i = 0; i < T; i++)
        for (int hf = 0; hf < CB; hf += 8) {
            float *dp = (float *)&dl[i] + hf;
            const __m256 d = scan_softplus256(_mm256_loadu_ps(dp));
            _mm256_storeu_ps(dp, d);
            _mm256_storeu_ps((float *)&du[i] + hf, _mm256_mul_ps(d, _mm256_loadu_ps((const float *)&uu[i] + hf)));
            mx = _mm256_max_ps(d, mx);
        }
    float m[8], dmax = 0.0f;
    _mm256_storeu_ps(m, mx);
    for (int j = 0; j < 8; j++) dmax = m[j] > dmax ? m[j] : dmax;
    return dmax;
#else
    float *dlf = (float *)dl, *duf = (float *)du, dmax = 0.0f;
    const float *uuf = (const float *)uu;
#pragma omp simd simdlen(VM_SIMDLEN32) reduction(max : dmax)
    for (int e = 0; e < T * CB; e++) {
        const float d = scan_softplus(dlf[e]);
        dlf[e] = d;
        duf[e] = d * uuf[e];
        dmax = d > dmax ? d : dmax;
    }
    return dmax;
#endif
}

/* dA[i*G + q] = exp(delta_i A_{n0+q}) for the two-pass form below (AVX2, or some delta A
 * below -124: safe). simdlen: one zmm per (token, state) with AVX-512 (GCC would pick ymm) */
static inline __attribute__((always_inline)) void scan_decays(vf *dA, const vf *dl, const vf *A2, int T, const int G,
                                                              const int safe) {
    for (int i = 0; i < T; i++)
        for (int q = 0; q < G; q++) {
            float *o = (float *)&dA[i * G + q];
            const float *d = (const float *)&dl[i], *a = (const float *)&A2[q];
#ifdef SCAN_AVX2
            for (int hf = 0; hf < CB; hf += 8)
                _mm256_storeu_ps(o + hf, scan_exp2_mul256(_mm256_loadu_ps(d + hf), _mm256_loadu_ps(a + hf), safe));
            continue;
#endif
            if (safe) {
#pragma omp simd simdlen(CB)
                for (int j = 0; j < CB; j++) o[j] = scan_exp2_mul_safe(d[j], a[j]);
            } else {
#pragma omp simd simdlen(CB)
                for (int j = 0; j < CB; j++) o[j] = scan_exp2_mul(d[j], a[j]);
            }
        }
}

/* states n0 .. n0+G-1 over the chunk (G constant after inlining: the group in registers).
 * With AVX-512 and no delta A below -124, each token's G decays are computed in the token's
 * step (8 operations each, independent of the states: out-of-order execution overlaps them
 * with the serial FMAs) instead of in a pass of their own through a 16 KB array (micro-
 * benchmark at VMamba-v0-T's shapes, one channel block: 2.8-3.1 -> 2.6-3.0 ns per token-
 * channel-direction; the same operations, so the same bits). */
static inline __attribute__((always_inline)) void scan_states(scan_state *s, const float *const *xr, int T,
                                                              const vf *dl, const vf *du, vf *acc, int n0, const int G,
                                                              int safe) {
    vf hv[SG];
    for (int q = 0; q < G; q++) hv[q] = s->h[n0 + q];
    const int bo = s->R + n0, co = s->R + s->N + n0; /* B_n, C_n in a token's x_proj row */
#ifdef __AVX512F__
    if (!safe) {
        const scan_exp2_k c = scan_exp2_consts();
        vf A2[SG];
        for (int q = 0; q < G; q++) A2[q] = s->A2[n0 + q];
        for (int i = 0; i < T; i++) {
            const float *xb = xr[i] + bo, *xc = xr[i] + co;
            __asm__("" : "+r"(xb), "+r"(xc)); /* as below */
            const vf d = du[i], dd = dl[i];
            vf a = acc[i];
            for (int q = 0; q < G; q++) {
                hv[q] = scan_exp2_mul512(&c, dd, A2[q]) * hv[q] + d * xb[q];
                a += xc[q] * hv[q];
            }
            acc[i] = a;
        }
        for (int q = 0; q < G; q++) s->h[n0 + q] = hv[q];
        return;
    }
#endif
    vf dA[TC * SG];
    if (safe)
        scan_decays(dA, dl, s->A2 + n0, T, G, 1);
    else
        scan_decays(dA, dl, s->A2 + n0, T, G, 0);
#ifdef SCAN_AVX2
    /* the same expressions on 8-lane halves, one after the other (the lanes are independent):
     * on the 16-lane type GCC moved the states through the stack and general registers every
     * token */
    for (int hf = 0; hf < CB; hf += 8) {
        v8f h8[SG];
        for (int q = 0; q < G; q++) h8[q] = *(const v8fu *)((const float *)&hv[q] + hf);
        for (int i = 0; i < T; i++) {
            const float *xb = xr[i] + bo, *xc = xr[i] + co;
            __asm__("" : "+r"(xb), "+r"(xc)); /* as below */
            const v8f d = *(const v8fu *)((const float *)&du[i] + hf);
            v8f a = *(const v8fu *)((const float *)&acc[i] + hf);
            for (int q = 0; q < G; q++) {
                h8[q] = *(const v8fu *)((const float *)&dA[i * G + q] + hf) * h8[q] + d * xb[q];
                a += xc[q] * h8[q];
            }
            *(v8fu *)((float *)&acc[i] + hf) = a;
        }
        for (int q = 0; q < G; q++) *(v8fu *)((float *)&s->h[n0 + q] + hf) = h8[q];
    }
    return;
#endif
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
    if (s->dtw2)
        vssm_cpu_bf16_dt_chunk(xr, T, s->dtw2, s->ldw, (s->R + 1) / 2, (const float *)&s->bias, s->cw, (float *)dl);
    else
        scan_dt_chunk(xr, T, s->dtw, s->ldw, s->R, s->bias, s->cw, dl);
    const float dmax = scan_delta_chunk(dl, du, uu, T);
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

/* channel blocks per task: up to SCAN_GROUP_MAX, while each of nt threads keeps 2+ tasks of
 * the B * ceil(D / CB) blocks (scan_group_chunk) */
#define SCAN_GROUP_MAX 4
static inline int scan_group_size(int B, int D, int nt) {
    const int nblk = (D + CB - 1) / CB, T = nt > 1 ? nt : 1;
    for (int n = SCAN_GROUP_MAX; n > 1; n--)
        if (nblk % n == 0 && ((int64_t)B * (nblk / n)) % T == 0) return n;
    const int64_t n = (int64_t)B * nblk / (2 * T);
    return n < 1 ? 1 : n > SCAN_GROUP_MAX ? SCAN_GROUP_MAX : (int)n;
}

/* Task t of the scans' (image, channel group) order (groups of gc channels, D in all; scan.c,
 * scan1d.c): its image, first channel, channels, channel blocks and the last block's width */
typedef struct {
    int b, c0, cn, nb, cw;
} scan_task;
static inline scan_task scan_task_at(int64_t t, int ngrp, int gc, int D) {
    scan_task k;
    k.b = (int)(t / ngrp), k.c0 = (int)(t % ngrp) * gc;
    k.cn = D - k.c0 < gc ? D - k.c0 : gc;
    k.nb = (k.cn + CB - 1) / CB, k.cw = k.cn - (k.nb - 1) * CB;
    return k;
}

/* One chunk of T tokens for nb consecutive channel blocks in lockstep (the 2D and 1D scans'
 * tasks, scan.c / scan1d.c): s[g] is block g's state (channels g*CB.. of u, z, y); token i's
 * input is u[upos[i] + g*CB..], its output y[ypos[i] + g*CB..] (written, or added if add),
 * gated by SiLU(z[zpos[i] + g*CB..]) when z is given. A chunk's x_proj rows xr (in L1) serve
 * all nb blocks before the next chunk is read: one block at a time streamed a direction's rows
 * once per block, and at v0-T's stage 1 the 4 directions' rows (477 KB each) evicted the
 * block's u and y strips from L2 (y's read-modify-write was 13% of that stage). Each block's
 * arithmetic is that of a lone block: the same bits for any nb. */
static inline void scan_group_chunk(scan_state *s, int nb, const float *const *xr, int T, const int64_t *upos,
                                    const float *u, const int64_t *zpos, const float *z, float *zo, int zdone, float *y,
                                    const int64_t *ypos, int add) {
    for (int g = 0; g < nb; g++) {
        const int w = s[g].cw;
        const float *ug = u + g * CB;
        float *yg = y + g * CB;
        vf uu[TC], acc[TC], zz[TC];
        for (int i = 0; i < T; i++) uu[i] = load_v(ug + upos[i], w);
        if (z) {
            for (int i = 0; i < T; i++) zz[i] = load_v(z + g * CB + zpos[i], w);
            float *zf = (float *)zz;
            if (!zdone) { /* z holds SiLU(z) already where zdone (scan1d's zs) */
#pragma omp simd simdlen(VM_SIMDLEN32)
                for (int e = 0; e < T * CB; e++) zf[e] = vm_siluf(zf[e]);
            }
            if (zo) /* kept for the other direction (scan1d's zs) */
                for (int i = 0; i < T; i++) memcpy(zo + g * CB + zpos[i], &zz[i], (size_t)w * sizeof(float));
        }
        scan_chunk(&s[g], xr, T, uu, acc);
        if (z)
            for (int i = 0; i < T; i++) acc[i] *= zz[i];
        for (int i = 0; i < T; i++) {
            float *yp = yg + ypos[i];
            if (w == CB) {
#ifdef SCAN_AVX2 /* halves: as scan_states */
                for (int hf = 0; hf < CB; hf += 8) {
                    const v8f v = *(const v8fu *)((const float *)&acc[i] + hf);
                    if (add)
                        *(v8fu *)(yp + hf) += v;
                    else
                        *(v8fu *)(yp + hf) = v;
                }
                continue;
#endif
                vfu *yv = (vfu *)yp;
                if (add)
                    *yv += acc[i];
                else
                    *yv = acc[i];
            } else {
                for (int j = 0; j < w; j++) yp[j] = add ? yp[j] + acc[i][j] : acc[i][j];
            }
        }
    }
}

/* The A and dt_w rows of nb blocks from channel c0 (A: (N, D), dt_w: (R, D) at the first
 * channel of the layer or direction): one 64-byte line each, D floats apart, so no hardware
 * prefetcher follows them, and in a model they are cold (the previous layer ran in between).
 * Prefetched a block or a direction ahead: with caches evicted before each call the v0-T
 * stage-3/4 scans (40-64 lines per block and direction) ran 12-19% slower than warm. */
static inline void scan_prefetch_rows(const float *A, const float *dtw, int64_t D, int64_t c0, int nb, int N, int R) {
    for (int g = 0; g < nb; g++) {
        for (int n = 0; n < N; n++) __builtin_prefetch(A + n * D + c0 + g * CB);
        for (int r = 0; r < R; r++) __builtin_prefetch(dtw + r * D + c0 + g * CB);
    }
}

#endif
