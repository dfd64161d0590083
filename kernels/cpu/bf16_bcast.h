/* kernels/cpu/bf16_bcast.h - one bf16 pair (32 bits) in every lane, as VDPBF16PS's a operand
 * (sgemm_bf16.c, scan_bf16.c). Include with avx512_bf16 enabled.
 * Clang 16's VectorCombine pass recurses until the compiler's stack overflows (a silent
 * SIGSEGV of clang itself) on _mm512_set1_epi32 cast to __m512bh and fed to
 * _mm512_dpbf16_ps; an empty asm between the broadcast and the cast hides the pair from that
 * pass and costs nothing (the same VBROADCASTSS from memory, then VDPBF16PS). */
#ifndef VSSM_CPU_BF16_BCAST_H
#define VSSM_CPU_BF16_BCAST_H

#include <immintrin.h>
#include <stdint.h>

static inline __m512bh vm_bf16_pair_bcast(int32_t pair) {
    __m512i b = _mm512_set1_epi32(pair);
#ifdef __clang__
    __asm__("" : "+v"(b));
#endif
    return (__m512bh)b;
}

#endif
