/* kernels/cpu/transpose.h - a block transpose, out[c * ldo + r] = a[r * lda + c] for r < rows,
 * c < cols, in 4 x 4 tiles of SSE registers (every x86-64 build has SSE2; AVX units encode
 * the same with VEX): the weights' packing (sgemm.c, each training step) and the backward's
 * transposed weight (linear_bwd.c) moved one float per scalar load and store. Pure data
 * movement: the same bits as the scalar loops. Meant for blocks that stay in L1. */
#ifndef VSSM_CPU_TRANSPOSE_H
#define VSSM_CPU_TRANSPOSE_H

#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline void vssm_transpose_block(const float *a, int64_t lda, int rows, int cols, float *out, int64_t ldo) {
    int r = 0;
#ifdef __SSE2__
    for (; r + 4 <= rows; r += 4) {
        const float *a0 = a + (int64_t)r * lda;
        int c = 0;
        for (; c + 4 <= cols; c += 4) {
            __m128 x0 = _mm_loadu_ps(a0 + c), x1 = _mm_loadu_ps(a0 + lda + c), x2 = _mm_loadu_ps(a0 + 2 * lda + c),
                   x3 = _mm_loadu_ps(a0 + 3 * lda + c);
            _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
            float *o = out + (int64_t)c * ldo + r;
            _mm_storeu_ps(o, x0), _mm_storeu_ps(o + ldo, x1), _mm_storeu_ps(o + 2 * ldo, x2);
            _mm_storeu_ps(o + 3 * ldo, x3);
        }
        for (; c < cols; c++)
            for (int i = 0; i < 4; i++) out[(int64_t)c * ldo + r + i] = a0[i * lda + c];
    }
#endif
    for (; r < rows; r++)
        for (int c = 0; c < cols; c++) out[(int64_t)c * ldo + r] = a[(int64_t)r * lda + c];
}

#endif
