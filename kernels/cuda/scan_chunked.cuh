/* kernels/cuda/scan_chunked.cuh - the chunked decomposition of the fused cross-scan
 * selective scan, written once and compiled twice: as __host__ __device__ code by nvcc
 * (kernels/cuda/scan.cu wraps each pass in a kernel) and as plain C11 by the host test
 * tests/test_chunked_scan.c, which runs the very same passes against the CPU op. So the
 * algorithm is covered in CI on machines without a GPU.
 *
 * The recurrence of one (batch b, direction k, channel c) sequence,
 *     h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,   y_t = C_t . h_t + D u_t,
 * is linear in h, so a chunk of steps maps an incoming state h_in to
 *     h_out = exp(A * sum_t delta_t) * h_in + h_loc
 * where h_loc is the chunk's end state started from 0. Three passes:
 *   pass 1  every chunk in parallel: h_loc (N values) and S = sum of delta over the chunk
 *           (the chunk's decay product prod_t exp(delta_t A) is exp(A S): one float per
 *           chunk and channel instead of N, and one rounding instead of T).
 *   pass 2  per (b, k, n, c), a prefix over the chunks in direction k's order (in
 *           segments, composed) turns h_loc into each chunk's incoming state (in place).
 *   pass 3  every chunk in parallel reruns its steps from the incoming state and writes y.
 *
 * Chunks partition the FORWARD walk of a direction pair: q in [jT, jT + T) of the
 * row-major order (k0, k2) or of the column-major order (k1, k3). k0 and k1 walk their
 * chunks j = 0, 1, ... ascending; k2 and k3 walk the same chunks backwards (j = nc-1 down
 * to 0, each chunk descending; the reversed walk's first chunk is the partial one). Hence
 * chunk j of k0 and of k2 cover the same tokens, and one pass-3 thread owns them both:
 * pass 3 runs twice, pair 0 (k0 stores y, k2 adds) and then pair 1 (k1 adds, k3 adds).
 * Every y element is written by exactly one thread per launch, in a fixed order:
 * y = ((y0 + y2) + y1) + y3, deterministic with no atomics.
 *
 * Memory: xdbl (B, L, K*(R+2N)) is the x_proj GEMM of the token grid (as on the CPU),
 * hc (B, K, nc, N, D) the chunk states, sd (B, K, nc, D) the delta sums. Channel is the
 * fastest index everywhere: consecutive threads (channels) touch consecutive floats. */
#ifndef VSSM_SCAN_CHUNKED_CUH
#define VSSM_SCAN_CHUNKED_CUH

#include <math.h>
#include <stdint.h>
#include "kernels/ops.h"

#ifdef __CUDACC__
#define SC_FN static __host__ __device__ __forceinline__
#ifdef __CUDA_ARCH__
#define SC_UNROLL _Pragma("unroll")    /* device pass: the state arrays become registers */
#define SC_UNROLL4 _Pragma("unroll 4") /* step loops: next tokens' loads issue early */
#else
#define SC_UNROLL
#define SC_UNROLL4
#endif
#else
#define SC_FN static inline
#define SC_UNROLL
#define SC_UNROLL4
#endif

#define SC_K VSSM_SCAN_K
#define SC_NMAX VSSM_SCAN_MAX_STATE
#define SC_TMIN 8 /* shortest chunk the CUDA backend picks: bounds the carry workspace */

typedef struct sc_args {
    int B, H, W, D, R, N;
    int T, nc; /* chunk length (steps) and count: nc = ceil(L / T) */
    int64_t L; /* H * W */
    const float *u, *xdbl, *dt_w, *dt_b, *A, *Ds;
    float *y;
    float *hc; /* (B, K, nc, N, D): pass 1 writes h_loc, pass 2 replaces it by h_in */
    float *sd; /* (B, K, nc, D): sum of delta over the chunk */
} sc_args;

/* chunk count for chunk length T */
SC_FN int sc_chunks(int64_t L, int T) { return (int)((L + T - 1) / T); }

/* Walk over the token grid in direction k's order, one step at a time, without a
 * division per step. q is the index in the forward order (row-major for even k,
 * column-major for odd k) of the first token visited. */
typedef struct sc_walk {
    int k, H, W, h, w;
} sc_walk;

SC_FN void sc_walk_init(sc_walk *it, int k, int H, int W, int64_t q) {
    it->k = k;
    it->H = H;
    it->W = W;
    if (k & 1) {
        it->w = (int)(q / H);
        it->h = (int)(q - (int64_t)it->w * H);
    } /* q = w*H + h */
    else {
        it->h = (int)(q / W);
        it->w = (int)(q - (int64_t)it->h * W);
    } /* q = h*W + w */
}

/* row-major position of the current token; then step */
SC_FN int64_t sc_walk_next(sc_walk *it) {
    int64_t p = (int64_t)it->h * it->W + it->w;
    if (it->k == 0) {
        if (++it->w == it->W) {
            it->w = 0;
            it->h++;
        }
    } else if (it->k == 2) {
        if (--it->w < 0) {
            it->w = it->W - 1;
            it->h--;
        }
    } else if (it->k == 1) {
        if (++it->h == it->H) {
            it->h = 0;
            it->w++;
        }
    } else {
        if (--it->h < 0) {
            it->h = it->H - 1;
            it->w--;
        }
    }
    return p;
}

/* chunk j of direction k: number of steps, and the walk positioned at its first token */
SC_FN int sc_chunk_begin(const sc_args *a, int k, int j, sc_walk *it) {
    const int64_t q0 = (int64_t)j * a->T, rest = a->L - q0;
    const int n = rest < a->T ? (int)rest : a->T;
    sc_walk_init(it, k, a->H, a->W, k < 2 ? q0 : q0 + n - 1);
    return n;
}

/* softplus as torch (threshold 20) */
SC_FN float sc_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

/* delta of one token: softplus(dt_r . dt_w[k][:, c] + dt_b[k][c]); dtw points at
 * dt_w[k][0][c] (stride D between r) */
SC_FN float sc_delta(const float *xd, const float *dtw, int R, int D, float bias) {
    float dt = bias;
    for (int r = 0; r < R; r++) dt += xd[r] * dtw[(int64_t)r * D];
    return sc_softplus(dt);
}

SC_FN int64_t sc_hc_index(const sc_args *a, int b, int k, int j, int n, int c) {
    return (((int64_t)(b * SC_K + k) * a->nc + j) * a->N + n) * a->D + c;
}
SC_FN int64_t sc_sd_index(const sc_args *a, int b, int k, int j, int c) {
    return ((int64_t)(b * SC_K + k) * a->nc + j) * a->D + c;
}

/* Pass 1: chunk j of (b, k, c) from h = 0: end state -> hc, sum of delta -> sd.
 * NS >= N is the state capacity the caller compiled for (a constant on the GPU, so
 * the state arrays live in registers). */
SC_FN void sc_pass1(const sc_args *a, const int NS, int b, int k, int c, int j) {
    const int D = a->D, N = a->N, R = a->R, C2 = R + 2 * N, KC2 = SC_K * C2;
    const int64_t L = a->L;
    const float *dtw = a->dt_w + (int64_t)k * R * D + c;
    const float bias = a->dt_b[k * D + c];
    const float *u = a->u + (int64_t)b * L * D + c;
    const float *xd0 = a->xdbl + (int64_t)b * L * KC2 + k * C2;
    float A[SC_NMAX], h[SC_NMAX];
    SC_UNROLL
    for (int n = 0; n < NS; n++)
        if (n < N) {
            A[n] = a->A[((int64_t)k * N + n) * D + c];
            h[n] = 0.0f;
        }
    sc_walk it;
    const int steps = sc_chunk_begin(a, k, j, &it);
    float dsum = 0.0f;
    SC_UNROLL4
    for (int i = 0; i < steps; i++) {
        const int64_t p = sc_walk_next(&it);
        const float *xd = xd0 + p * KC2;
        const float delta = sc_delta(xd, dtw, R, D, bias);
        const float du = delta * u[p * D];
        dsum += delta;
        SC_UNROLL
        for (int n = 0; n < NS; n++)
            if (n < N) h[n] = expf(delta * A[n]) * h[n] + du * xd[R + n];
    }
    SC_UNROLL
    for (int n = 0; n < NS; n++)
        if (n < N) a->hc[sc_hc_index(a, b, k, j, n, c)] = h[n];
    a->sd[sc_sd_index(a, b, k, j, c)] = dsum;
}

/* Pass 2: prefix over the chunks of (b, k, n, c) in direction k's chunk order; hc[j]
 * becomes the state entering chunk j. A chunk maps its incoming state h to
 * decay * h + loc (decay = exp(A S)); these affine maps compose, so the chain of nc
 * chunks is cut into G segments (sc_p2_segs): 2a each segment composes its chunks'
 * maps (sc_pass2_reduce), 2b a fold over the segments before it gives its incoming
 * state, 2c it walks its chunks again writing each one's incoming state (sc_pass2_apply).
 * The serial chain is 2 nc / G + G steps instead of nc (on the GPU one thread per
 * segment: at batch 1, 196 chunks took 100 us in one chain, the longest kernel). */
SC_FN int sc_p2_segs(int nc) { /* about sqrt(2 nc), 1..32 */
    int g = 1;
    while (g < 32 && (g + 1) * (g + 1) <= 2 * nc) g++;
    return g;
}
SC_FN int sc_p2_chunk(const sc_args *a, int k, int i) { return k < 2 ? i : a->nc - 1 - i; } /* i-th in k's order */

/* the composed map of the chunks at positions [i0, i1) of direction k's order */
SC_FN void sc_pass2_reduce(const sc_args *a, int b, int k, int n, int c, int i0, int i1, float *dec, float *loc) {
    const float Akn = a->A[((int64_t)k * a->N + n) * a->D + c];
    float d = 1.0f, h = 0.0f;
    SC_UNROLL4
    for (int i = i0; i < i1; i++) {
        const int j = sc_p2_chunk(a, k, i);
        const float e = expf(Akn * a->sd[sc_sd_index(a, b, k, j, c)]);
        h = e * h + a->hc[sc_hc_index(a, b, k, j, n, c)];
        d *= e;
    }
    *dec = d;
    *loc = h;
}

/* from state h entering position i0: every chunk's incoming state into hc */
SC_FN void sc_pass2_apply(const sc_args *a, int b, int k, int n, int c, int i0, int i1, float h) {
    const float Akn = a->A[((int64_t)k * a->N + n) * a->D + c];
    SC_UNROLL4
    for (int i = i0; i < i1; i++) {
        const int j = sc_p2_chunk(a, k, i);
        const int64_t at = sc_hc_index(a, b, k, j, n, c);
        const float e = expf(Akn * a->sd[sc_sd_index(a, b, k, j, c)]), loc = a->hc[at];
        a->hc[at] = h;
        h = e * h + loc;
    }
}

/* segment g of G: chunk positions [i0, i1) (empty past the end) */
SC_FN void sc_p2_range(int nc, int G, int g, int *i0, int *i1) {
    const int span = (nc + G - 1) / G;
    *i0 = g * span < nc ? g * span : nc;
    *i1 = *i0 + span < nc ? *i0 + span : nc;
}

/* the whole of pass 2 for one (b, k, n, c), segment by segment (the host test's order) */
SC_FN void sc_pass2(const sc_args *a, int b, int k, int n, int c) {
    const int G = sc_p2_segs(a->nc);
    float dec[32], loc[32];
    for (int g = 0; g < G; g++) {
        int i0, i1;
        sc_p2_range(a->nc, G, g, &i0, &i1);
        sc_pass2_reduce(a, b, k, n, c, i0, i1, &dec[g], &loc[g]);
    }
    float h = 0.0f;
    for (int g = 0; g < G; g++) {
        int i0, i1;
        sc_p2_range(a->nc, G, g, &i0, &i1);
        sc_pass2_apply(a, b, k, n, c, i0, i1, h);
        h = dec[g] * h + loc[g];
    }
}

/* Pass 3: chunk j of (b, c) for directions pair and pair + 2, from the incoming states
 * (carry = 0: there is one chunk, which starts from 0), merged into y: pair 0 stores
 * (k0) then adds (k2); pair 1 adds both. */
SC_FN void sc_pass3(const sc_args *a, const int NS, int b, int pair, int c, int j, int carry) {
    const int D = a->D, N = a->N, R = a->R, C2 = R + 2 * N, KC2 = SC_K * C2;
    const int64_t L = a->L;
    const float *u = a->u + (int64_t)b * L * D + c;
    float *y = a->y + (int64_t)b * L * D + c;
    for (int d = 0; d < 2; d++) {
        const int k = pair + 2 * d, store = pair == 0 && d == 0;
        const float *dtw = a->dt_w + (int64_t)k * R * D + c;
        const float bias = a->dt_b[k * D + c], dsk = a->Ds[k * D + c];
        const float *xd0 = a->xdbl + (int64_t)b * L * KC2 + k * C2;
        float A[SC_NMAX], h[SC_NMAX];
        SC_UNROLL
        for (int n = 0; n < NS; n++)
            if (n < N) {
                A[n] = a->A[((int64_t)k * N + n) * D + c];
                h[n] = carry ? a->hc[sc_hc_index(a, b, k, j, n, c)] : 0.0f;
            }
        sc_walk it;
        const int steps = sc_chunk_begin(a, k, j, &it);
        SC_UNROLL4
        for (int i = 0; i < steps; i++) {
            const int64_t p = sc_walk_next(&it);
            const float *xd = xd0 + p * KC2;
            const float delta = sc_delta(xd, dtw, R, D, bias);
            const float uu = u[p * D], du = delta * uu;
            float yv = dsk * uu;
            SC_UNROLL
            for (int n = 0; n < NS; n++)
                if (n < N) {
                    h[n] = expf(delta * A[n]) * h[n] + du * xd[R + n];
                    yv += xd[R + N + n] * h[n];
                }
            if (store)
                y[p * D] = yv;
            else
                y[p * D] += yv;
        }
    }
}

#endif
