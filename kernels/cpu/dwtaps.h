/* kernels/cpu/dwtaps.h - one output row of a depthwise conv: C channels summed over its taps,
 * shared by the 3x3 depthwise conv (v0_ops.c: dwconv3x3_bias, and dwconv3x3 through it) and
 * the token conv1d of Vim (conv1d.c). Included per instruction set by those files. */
#ifndef VSSM_CPU_DWTAPS_H
#define VSSM_CPU_DWTAPS_H

#include "kernels/cpu/vmath.h"

/* DW_W floats as one value (GCC vector extension): 16, one zmm, with AVX-512; 8, one ymm, with
 * AVX2 (16 there, two ymm a value, went through the stack: 3x3 conv 24-29 ns per 16 outputs
 * against AVX-512's 11-12); 16 otherwise. DW_NV of them per step: 64 channels in registers. */
#if defined(__AVX2__) && !defined(__AVX512F__)
#define DW_W 8
#else
#define DW_W 16
#endif
typedef float dw_vf __attribute__((vector_size(DW_W * sizeof(float)), aligned(4), may_alias));
#define DW_NV (64 / DW_W)

/* a FMA b + c on one dw_vf, explicit where the unit has FMA (so every build fuses it: see
 * rowsum.h on gcc contracting generic vector code differently per vector width under -O2) */
#if defined(__AVX512F__)
#include <immintrin.h>
static inline dw_vf dw_fma(dw_vf a, dw_vf b, dw_vf c) {
    return (dw_vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
}
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
static inline dw_vf dw_fma(dw_vf a, dw_vf b, dw_vf c) {
    return (dw_vf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
}
#else
static inline dw_vf dw_fma(dw_vf a, dw_vf b, dw_vf c) { return a * b + c; }
#endif

enum { DW_FIRST, DW_ZERO, DW_OUT }; /* where a sum starts without a bias */

/* o[c] = start + sum over t of src[t][c] wk[t][c], t = 0 .. nt-1 in order, where start is
 * bias[c] (bias given), else by `from`: nothing (DW_FIRST: the first product stands alone),
 * 0 (DW_ZERO) or o[c] (DW_OUT: a sum continued from an earlier call, for more taps than fit
 * one call). Every channel's sum is that order's chain of FMAs (dw_fma; the scalar form `o +=
 * s * k` compiled to the same), so the bits do not depend on how the channels
 * are blocked: the same as the one-pass-per-tap loops these replaced, which loaded and stored
 * o once per tap (3x3 conv at VMamba-v0-T's shapes: 37 -> 31 cycles per 16 outputs with SiLU,
 * 23-18 without). DW_NV vectors stay in registers across the taps. nt >= 1 for DW_FIRST. */
static inline void dw_taps(const float *const *src, const float *const *wk, int nt, const float *bias, int from, int C,
                           float *o) {
    int c = 0;
    for (; c + DW_W * DW_NV <= C; c += DW_W * DW_NV) {
        dw_vf a[DW_NV];
        int t = 0;
        if (bias)
            for (int j = 0; j < DW_NV; j++) a[j] = *(const dw_vf *)(bias + c + DW_W * j);
        else if (from != DW_FIRST)
            for (int j = 0; j < DW_NV; j++) a[j] = from == DW_ZERO ? (dw_vf){0} : *(const dw_vf *)(o + c + DW_W * j);
        else {
            for (int j = 0; j < DW_NV; j++)
                a[j] = *(const dw_vf *)(src[0] + c + DW_W * j) * *(const dw_vf *)(wk[0] + c + DW_W * j);
            t = 1;
        }
        for (; t < nt; t++)
            for (int j = 0; j < DW_NV; j++)
                a[j] = dw_fma(*(const dw_vf *)(src[t] + c + DW_W * j), *(const dw_vf *)(wk[t] + c + DW_W * j), a[j]);
        for (int j = 0; j < DW_NV; j++) *(dw_vf *)(o + c + DW_W * j) = a[j];
    }
    for (; c + DW_W <= C; c += DW_W) {
        dw_vf a;
        int t = 0;
        if (bias)
            a = *(const dw_vf *)(bias + c);
        else if (from != DW_FIRST)
            a = from == DW_ZERO ? (dw_vf){0} : *(const dw_vf *)(o + c);
        else
            a = *(const dw_vf *)(src[0] + c) * *(const dw_vf *)(wk[0] + c), t = 1;
        for (; t < nt; t++) a = dw_fma(*(const dw_vf *)(src[t] + c), *(const dw_vf *)(wk[t] + c), a);
        *(dw_vf *)(o + c) = a;
    }
    for (; c < C; c++) {
        float a;
        int t = 0;
        if (bias)
            a = bias[c];
        else if (from != DW_FIRST)
            a = from == DW_ZERO ? 0.0f : o[c];
        else
            a = src[0][c] * wk[0][c], t = 1;
        /* explicitly fused: GCC vectorised this loop in some builds (contracted) and not in
         * others (mul + add), and AVX2 and AVX-512 then differed in the last bit */
        for (; t < nt; t++) a = VM_FMA_(src[t][c], wk[t][c], a);
        o[c] = a;
    }
}


/* The 3x3 depthwise conv (stride 1, pad 1) of interior pixels w0 .. w1-1 (1 <= w0, w1 <= W-1)
 * of one output row, one DW_W-channel vector c at a time: the vector's NR x 3 weights stay in
 * registers and each input row's three pixels slide along w, so an output costs NR loads and
 * 3 NR FMAs where dw_taps loads an input and a weight per FMA (VMamba-T's stage 1, 1 thread,
 * without the activation: ~38 -> ~16 cycles per 16 outputs). rows[r]: the input row of tap row
 * kh[r] (NR of them, the ones inside the image, kh increasing), pixel w at rows[r] + w ldx; wt:
 * the (3, 3, C) weights; o: the output row, pixel w at o + w C. The sum per output is
 * dw_taps': bias (or, without, the first product alone), then the taps' FMAs in (kh, kw)
 * order: the same bits as dw_taps for these pixels. c runs over the whole vectors of C only. */
static inline __attribute__((always_inline)) void dw3_interior_nr(const float *const *rows, const int *kh, const int NR,
                                                                  int64_t ldx, const float *wt, const float *bias,
                                                                  int w0, int w1, int C, float *o) {
    for (int c = 0; c + DW_W <= C; c += DW_W) {
        dw_vf k[3][3], xm[3], x0[3];
        for (int r = 0; r < NR; r++)
            for (int kw = 0; kw < 3; kw++) k[r][kw] = *(const dw_vf *)(wt + (kh[r] * 3 + kw) * (int64_t)C + c);
        const dw_vf b = bias ? *(const dw_vf *)(bias + c) : (dw_vf){0};
        for (int r = 0; r < NR; r++)
            xm[r] = *(const dw_vf *)(rows[r] + (w0 - 1) * ldx + c), x0[r] = *(const dw_vf *)(rows[r] + w0 * ldx + c);
        for (int w = w0; w < w1; w++) {
            dw_vf xp[3], a;
            for (int r = 0; r < NR; r++) xp[r] = *(const dw_vf *)(rows[r] + (w + 1) * ldx + c);
            if (bias)
                a = dw_fma(xm[0], k[0][0], b);
            else
                a = xm[0] * k[0][0];
            a = dw_fma(x0[0], k[0][1], a);
            a = dw_fma(xp[0], k[0][2], a);
            for (int r = 1; r < NR; r++) {
                a = dw_fma(xm[r], k[r][0], a);
                a = dw_fma(x0[r], k[r][1], a);
                a = dw_fma(xp[r], k[r][2], a);
            }
            *(dw_vf *)(o + (int64_t)w * C + c) = a;
            for (int r = 0; r < NR; r++) xm[r] = x0[r], x0[r] = xp[r];
        }
    }
}
static inline void dw3_interior(const float *const *rows, const int *kh, int nr, int64_t ldx, const float *wt,
                                const float *bias, int w0, int w1, int C, float *o) {
    if (nr == 3)
        dw3_interior_nr(rows, kh, 3, ldx, wt, bias, w0, w1, C, o);
    else if (nr == 2)
        dw3_interior_nr(rows, kh, 2, ldx, wt, bias, w0, w1, C, o);
    else
        dw3_interior_nr(rows, kh, 1, ldx, wt, bias, w0, w1, C, o);
}

#endif
