/* kernels/cpu/scan_simd.h - pieces shared by the 2D (scan.c) and 1D (scan1d.c) selective
 * scans: a block of CB channels as one SIMD value, and the on-the-fly dt projection. */
#ifndef VSSM_CPU_SCAN_SIMD_H
#define VSSM_CPU_SCAN_SIMD_H

#include <stdint.h>

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
 * (T x R) . (R x CB) product in registers, four tokens at a time so each dt_w row is
 * loaded once per four tokens and four independent FMA chains hide the FMA latency
 * (R = 48 at VMamba-T's stage 4). */
static inline void scan_dt_chunk(const float *const *xr, int T, const float *dtw, int64_t ldw, int R, vf bias, int cw,
                                 vf *dt) {
    int i = 0;
    if (cw == CB)
        for (; i + 4 <= T; i += 4) {
            const float *x0 = xr[i], *x1 = xr[i + 1], *x2 = xr[i + 2], *x3 = xr[i + 3];
            vf s0 = bias, s1 = bias, s2 = bias, s3 = bias;
            for (int r = 0; r < R; r++) {
                const vf wr = *(const vfu *)(dtw + (size_t)r * ldw);
                s0 += x0[r] * wr;
                s1 += x1[r] * wr;
                s2 += x2[r] * wr;
                s3 += x3[r] * wr;
            }
            dt[i] = s0;
            dt[i + 1] = s1;
            dt[i + 2] = s2;
            dt[i + 3] = s3;
        }
    for (; i < T; i++) {
        vf s0 = bias;
        for (int r = 0; r < R; r++) s0 += xr[i][r] * load_v(dtw + (size_t)r * ldw, cw);
        dt[i] = s0;
    }
}

#endif
