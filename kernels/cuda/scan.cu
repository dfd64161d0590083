/* kernels/cuda/scan.cu - the fused 2D cross-scan selective scan on the GPU.
 *
 *   1. x_proj: one cuBLAS GEMM over the token grid into the workspace,
 *      xdbl (B*L, K*(R+2N)) = u (B*L, D) . x_proj (K*(R+2N), D)^T   (as the CPU does).
 *   2. the chunked scan of scan_chunked.cuh (the same code the host test runs):
 *      pass 1 (B*K*D*nc threads) chunk-local end states and delta sums,
 *      pass 2 (B*K*N*D*G threads) prefix over chunks in G segments -> incoming states,
 *      pass 3 (B*D*nc threads, launched for pair 0 then pair 1) reruns each chunk from
 *             its incoming state and merges y deterministically.
 *   The four scan orders are read straight from the token grid (no copies); delta =
 *   softplus(dt_r . dt_w + bias) is recomputed on the fly; the state sits in registers
 *   (the passes are compiled for a state capacity NS in {1, 4, 16, 64}).
 *
 * Thread layout of passes 1 and 3: threadIdx.x = 32 consecutive channels (coalesced u,
 * y, hc; the per-token dt_r, B, C loads are warp-uniform broadcasts), threadIdx.y =
 * chunks. The chunk length is picked per call so that there are about four waves of
 * threads on the device; when one chunk covers the sequence, passes 1 and 2 are skipped. */
#include "kernels/cuda/cuda_internal.cuh"
#include "kernels/cuda/scan_chunked.cuh"

#define SCAN_CH 32 /* channels per block (threadIdx.x) */
#define SCAN_CK 4  /* chunks per block (threadIdx.y) */

static size_t align_floats(size_t n) { return (n + 63) & ~(size_t)63; } /* 256-byte pieces */

/* most chunks the backend ever uses for L tokens: chunks are at least SC_TMIN long */
static int max_chunks(int64_t L) { return sc_chunks(L, L < SC_TMIN ? (int)L : SC_TMIN); }

size_t vssm_cuda_scan_workspace(int B, int H, int W, int D, int R, int N) {
    const int64_t L = (int64_t)H * W;
    const size_t nc = (size_t)max_chunks(L);
    const size_t xdbl = align_floats((size_t)B * L * SC_K * (R + 2 * N));
    const size_t hc = align_floats((size_t)B * SC_K * nc * N * D), sd = align_floats((size_t)B * SC_K * nc * D);
    return (xdbl + hc + sd) * sizeof(float);
}

template <int NS>
static __global__ void __launch_bounds__(SCAN_CH *SCAN_CK) k_scan_pass1(const __grid_constant__ sc_args a) {
    const int c = blockIdx.x * SCAN_CH + threadIdx.x, j = blockIdx.y * SCAN_CK + threadIdx.y;
    if (c >= a.D || j >= a.nc) return;
    sc_pass1(&a, NS, (int)blockIdx.z / SC_K, (int)blockIdx.z % SC_K, c, j);
}

/* block (32 channels, G segments), one block per (b, k, n, 32 channels): each thread
 * composes its segment's chunks, the fold over earlier segments comes from shared memory,
 * then it writes its chunks' incoming states (scan_chunked.cuh, pass 2) */
static __global__ void __launch_bounds__(32 * 32) k_scan_pass2(const __grid_constant__ sc_args a) {
    __shared__ float sdec[32][32], sloc[32][32];
    const int cb = (a.D + 31) / 32;
    const int64_t blk = blockIdx.x;
    const int c = (int)(blk % cb) * 32 + threadIdx.x, g = threadIdx.y, G = blockDim.y;
    const int64_t r = blk / cb;
    const int n = (int)(r % a.N), bk = (int)(r / a.N), b = bk / SC_K, k = bk % SC_K;
    const int active = c < a.D;
    int i0, i1;
    sc_p2_range(a.nc, G, g, &i0, &i1);
    float d = 1.0f, l = 0.0f;
    if (active) sc_pass2_reduce(&a, b, k, n, c, i0, i1, &d, &l);
    sdec[g][threadIdx.x] = d;
    sloc[g][threadIdx.x] = l;
    __syncthreads();
    if (!active || i0 >= i1) return;
    float h = 0.0f;
    for (int q = 0; q < g; q++) h = sdec[q][threadIdx.x] * h + sloc[q][threadIdx.x];
    sc_pass2_apply(&a, b, k, n, c, i0, i1, h);
}

template <int NS>
static __global__ void __launch_bounds__(SCAN_CH *SCAN_CK)
    k_scan_pass3(const __grid_constant__ sc_args a, int pair, int carry) {
    const int c = blockIdx.x * SCAN_CH + threadIdx.x, j = blockIdx.y * SCAN_CK + threadIdx.y;
    if (c >= a.D || j >= a.nc) return;
    sc_pass3(&a, NS, (int)blockIdx.z, pair, c, j, carry);
}

template <int NS> static void launch(cuda_state *s, const sc_args &a) {
    const dim3 blk(SCAN_CH, SCAN_CK);
    const unsigned gx = cuda_blocks(a.D, SCAN_CH), gy = cuda_blocks(a.nc, SCAN_CK);
    const int carry = a.nc > 1;
    if (carry) {
        k_scan_pass1<NS><<<dim3(gx, gy, (unsigned)(a.B * SC_K)), blk, 0, s->stream>>>(a);
        CUDA_CHECK_LAUNCH(s, "k_scan_pass1");
        const int64_t n2 = (int64_t)a.B * SC_K * a.N * cuda_blocks(a.D, 32);
        k_scan_pass2<<<(unsigned)n2, dim3(32, sc_p2_segs(a.nc)), 0, s->stream>>>(a);
        CUDA_CHECK_LAUNCH(s, "k_scan_pass2");
    }
    for (int pair = 0; pair < 2; pair++) {
        k_scan_pass3<NS><<<dim3(gx, gy, (unsigned)a.B), blk, 0, s->stream>>>(a, pair, carry);
        CUDA_CHECK_LAUNCH(s, "k_scan_pass3");
    }
}

/* Chunk length: aim at about four waves of resident threads (2048 per SM) for pass 1,
 * never shorter than SC_TMIN (the workspace bound); one chunk when the sequences alone
 * fill the device. H200 sweep (VMamba-T, alternated builds): SC_TMIN 16 -> 8 took batch 1
 * from 3.62-3.69 to 2.95-3.35 ms; 2 -> 4 waves batch 128 from 81.8-82.6 to 77.6-79.0 ms;
 * batch 32 the same within noise (21.4-21.9 ms). */
static int pick_chunk(const cuda_state *s, int B, int64_t L, int D) {
    const int64_t seqs = (int64_t)B * SC_K * D, want = 4LL * s->sm_count * 2048;
    int64_t nc = (want + seqs - 1) / seqs;
    const int64_t ncmax = max_chunks(L);
    if (nc > ncmax) nc = ncmax;
    if (nc < 1) nc = 1;
    return (int)((L + nc - 1) / nc);
}

void vssm_cuda_ss2d_scan(vssm_ctx *ctx, const vssm_scan_args *in, void *workspace) {
    cuda_state *s = cuda_st(ctx);
    const int B = in->B, H = in->H, W = in->W, D = in->D, R = in->R, N = in->N;
    if (!(N >= 1 && N <= SC_NMAX && R >= 1 && D >= 1 && H >= 1 && W >= 1 && B >= 1)) {
        vssm_cuda_fail(s, __FILE__, __LINE__, "ss2d_scan", "bad shape");
        return;
    }
    const int64_t L = (int64_t)H * W;
    const int KC2 = SC_K * (R + 2 * N);
    float *xdbl = (float *)workspace;
    vssm_cuda_linear(ctx, in->u, (int64_t)B * L, D, in->x_proj, NULL, KC2, VSSM_ACT_NONE, 0, xdbl);

    sc_args a;
    a.B = B;
    a.H = H;
    a.W = W;
    a.D = D;
    a.R = R;
    a.N = N;
    a.L = L;
    a.T = pick_chunk(s, B, L, D);
    a.nc = sc_chunks(L, a.T);
    a.u = in->u;
    a.xdbl = xdbl;
    a.dt_w = in->dt_w;
    a.dt_b = in->dt_b;
    a.A = in->A;
    a.Ds = in->Ds;
    a.y = in->y;
    const size_t ncmax = (size_t)max_chunks(L);
    a.hc = xdbl + align_floats((size_t)B * L * KC2);
    a.sd = a.hc + align_floats((size_t)B * SC_K * ncmax * N * D);
    if (N <= 1)
        launch<1>(s, a);
    else if (N <= 4)
        launch<4>(s, a);
    else if (N <= 16)
        launch<16>(s, a);
    else
        launch<SC_NMAX>(s, a);
}
