/* kernels/cpu/scan_bf16.c - the selective scans' dt projection in bf16 contexts (--precision
 * bf16 on a CPU with AVX512_BF16): dt = dt_proj(dt_r) is a product like the others, so its
 * inputs are rounded to bf16 and VDPBF16PS sums two products per lane and instruction into
 * fp32 (softplus, the decays and the recurrence stay fp32). At VMamba-T's d_state 1 the fp32
 * dt projection (R FMAs per token, channel block and direction; R = 6 .. 48) was the largest
 * part of the recurrence after the softplus.
 *
 * The weights' second layout (vssm_op_dt_pack, kept after the (G, R, D) fp32 ones):
 * (G, ceil(R/2), D) 32-bit pairs, dt_w[g][2j][d] rounded to bf16 in the low half,
 * dt_w[g][2j+1][d] in the high half (0 past R): one 16-channel row of pairs is one zmm
 * operand. A token's dt_r is rounded into the same pairs by scan.c's copy of x_proj's
 * output. Compiled with the AVX512_BF16 flags where the compiler has them (CMakeLists.txt);
 * only bf16 contexts reach it. */
#include <stdint.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vmath.h"
#if defined(__x86_64__) && defined(__AVX512BF16__)
#include <immintrin.h>
#include "kernels/cpu/bf16_bcast.h"
#endif

size_t vssm_cpu_dt_pack_numel(vssm_ctx *ctx, int G, int R, int D) {
    return ctx->cpu_bf16 ? (size_t)G * ((R + 1) / 2) * D : 0;
}

void vssm_cpu_dt_pack(vssm_ctx *ctx, const float *dtw, int G, int R, int D, float *out) {
    const int R2 = (R + 1) / 2;
    uint32_t *o = (uint32_t *)out;
    for (int g = 0; g < G; g++)
        for (int j = 0; j < R2; j++)
            for (int d = 0; d < D; d++) {
                const float *w = dtw + ((size_t)g * R + 2 * j) * D + d;
                const uint32_t lo = vm_bf16_round(w[0]), hi = 2 * j + 1 < R ? vm_bf16_round(w[D]) : 0;
                o[((size_t)g * R2 + j) * D + d] = lo | hi << 16;
            }
}

#if defined(__x86_64__) && defined(__AVX512BF16__)
#define DTB 8 /* tokens at a time: 8 independent VDPBF16PS chains */
void vssm_cpu_bf16_dt_chunk(const float *const *xr, int T, const uint32_t *w, int64_t ldw, int R2, const float *bias,
                            int cw, float *dt) {
    const __mmask16 m = cw >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cw) - 1);
    const __m512 b = _mm512_loadu_ps(bias);
    int i = 0;
    for (; i + DTB <= T; i += DTB) {
        __m512 s[DTB];
        for (int q = 0; q < DTB; q++) s[q] = b;
        for (int r = 0; r < R2; r++) {
            const __m512bh wr = (__m512bh)_mm512_maskz_loadu_epi32(m, w + (size_t)r * ldw);
            for (int q = 0; q < DTB; q++)
                s[q] = _mm512_dpbf16_ps(s[q], vm_bf16_pair_bcast(((const int32_t *)xr[i + q])[r]), wr);
        }
        for (int q = 0; q < DTB; q++) _mm512_storeu_ps(dt + (size_t)(i + q) * 16, s[q]);
    }
    for (; i < T; i++) {
        __m512 s = b;
        for (int r = 0; r < R2; r++)
            s = _mm512_dpbf16_ps(s, vm_bf16_pair_bcast(((const int32_t *)xr[i])[r]),
                                 (__m512bh)_mm512_maskz_loadu_epi32(m, w + (size_t)r * ldw));
        _mm512_storeu_ps(dt + (size_t)i * 16, s);
    }
}

void vssm_cpu_bf16_xk_token(const float *src, int R, int N, float *const *dst) {
    const int to = (R + 1) / 2 * 2;
    for (int k = 0; k < VSSM_SCAN_K; k++) {
        const float *sk = src + (size_t)k * (R + 2 * N);
        vm_bf16_round_row(sk, R, to, (uint16_t *)dst[k]); /* a padded pair's upper half 0 */
        for (int j = R; j < R + 2 * N; j++) dst[k][j] = sk[j];
    }
}
#else
void vssm_cpu_bf16_xk_token(const float *src, int R, int N, float *const *dst) {}
void vssm_cpu_bf16_dt_chunk(const float *const *xr, int T, const uint32_t *w, int64_t ldw, int R2, const float *bias,
                            int cw, float *dt) {}
#endif
