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

enum { DW_FIRST, DW_ZERO, DW_OUT }; /* where a sum starts without a bias */

/* o[c] = start + sum over t of src[t][c] wk[t][c], t = 0 .. nt-1 in order, where start is
 * bias[c] (bias given), else by `from`: nothing (DW_FIRST: the first product stands alone),
 * 0 (DW_ZERO) or o[c] (DW_OUT: a sum continued from an earlier call, for more taps than fit
 * one call). Every channel's sum is that order's chain of FMAs (-ffp-contract=fast,
 * as the scalar form `o += s * k` compiled to), so the bits do not depend on how the channels
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
                a[j] += *(const dw_vf *)(src[t] + c + DW_W * j) * *(const dw_vf *)(wk[t] + c + DW_W * j);
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
        for (; t < nt; t++) a += *(const dw_vf *)(src[t] + c) * *(const dw_vf *)(wk[t] + c);
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

#endif
