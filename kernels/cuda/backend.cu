/* kernels/cuda/backend.cu - the CUDA op table: device setup, memory, cuBLAS linear layers,
 * cuDNN (or direct) stride-2 convolutions, and own kernels for the depthwise conv,
 * LayerNorm, activations and pooling. The scan lives in scan.cu.
 *
 * All work is queued on one stream per context; the only host waits are download() and
 * sync() (and free(), outside a forward). NHWC throughout, as kernels/ops.h says. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cuda/cuda_internal.cuh"

#define EW_BLOCK 256
#define EW_MAX_BLOCKS (1 << 20) /* grid-stride beyond this */

static unsigned ew_blocks(int64_t n) {
    unsigned g = cuda_blocks(n, EW_BLOCK);
    return g > EW_MAX_BLOCKS ? EW_MAX_BLOCKS : g;
}

/* ======================================================================= errors */

void vssm_cuda_fail(cuda_state *s, const char *file, int line, const char *what, const char *why) {
    if (!s || s->failed) return;
    s->failed = 1;
    const char *base = strrchr(file, '/');
    snprintf(s->err, sizeof s->err, "%s:%d: %s: %s", base ? base + 1 : file, line, what, why ? why : "?");
}

extern "C" const char *vssm_cuda_last_error(const vssm_ctx *ctx) {
    const cuda_state *s = (const cuda_state *)ctx->impl;
    return s ? s->err : "";
}

/* Every entry point makes the context's device current (a process may hold contexts on
 * several GPUs) and returns the state. */
static cuda_state *enter(vssm_ctx *ctx) {
    cuda_state *s = cuda_st(ctx);
    CUDA_CHECK(s, cudaSetDevice(s->device));
    return s;
}

/* ======================================================================= memory */

static void *cu_alloc(vssm_ctx *ctx, size_t bytes) {
    cuda_state *s = enter(ctx);
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        (void)cudaGetLastError(); /* out of memory is the caller's to handle (NULL), not a sticky error */
        return NULL;
    }
    (void)s;
    return p;
}

static void cu_free(vssm_ctx *ctx, void *p) {
    cuda_state *s = enter(ctx);
    if (p) CUDA_CHECK(s, cudaFree(p));
}

static int cu_upload(vssm_ctx *ctx, void *dst, const void *src, size_t bytes) {
    cuda_state *s = enter(ctx);
    if (!bytes) return s->failed;
    /* pageable source: returns once the bytes are staged, so the caller may reuse src */
    CUDA_CHECK(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s->stream));
    return s->failed;
}

static int cu_download(vssm_ctx *ctx, void *dst, const void *src, size_t bytes) {
    cuda_state *s = enter(ctx);
    if (bytes) CUDA_CHECK(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s->stream));
    CUDA_CHECK(s, cudaStreamSynchronize(s->stream));
    return s->failed;
}

static int cu_copy(vssm_ctx *ctx, void *dst, const void *src, size_t bytes) {
    cuda_state *s = enter(ctx);
    if (bytes) CUDA_CHECK(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s->stream));
    return s->failed;
}

static int cu_sync(vssm_ctx *ctx) {
    cuda_state *s = enter(ctx);
    CUDA_CHECK(s, cudaStreamSynchronize(s->stream));
    CUDA_CHECK_LAUNCH(s, "an earlier kernel launch");
    return s->failed;
}

/* ======================================================================= activations */

__device__ __forceinline__ float act_apply(float v, int act) {
    if (act == VSSM_ACT_GELU) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); /* exact erf form */
    if (act == VSSM_ACT_SILU) return v / (1.0f + expf(-v));
    return v;
}

/* y (M, N) = act(y + b) in place; b may be NULL */
static __global__ void k_bias_act(float *y, int64_t M, int N, const float *b, int act) {
    const int64_t total = M * N;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        float v = y[i];
        if (b) v += b[i % N];
        y[i] = act_apply(v, act);
    }
}

static void bias_act(cuda_state *s, float *y, int64_t M, int N, const float *b, vssm_act act) {
    if ((!b && act == VSSM_ACT_NONE) || M <= 0 || N <= 0) return;
    k_bias_act<<<ew_blocks(M * N), EW_BLOCK, 0, s->stream>>>(y, M, N, b, (int)act);
    CUDA_CHECK_LAUNCH(s, "k_bias_act");
}

/* ======================================================================= linear */

/* cuBLAS is column-major: a row-major (M, N) y is a column-major (N, M) y^T, and
 * y^T = w x^T with w (N, K) row-major = (K, N) column-major, transposed. */
void vssm_cuda_linear(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, const float *b, int N,
                      vssm_act act, int accumulate, float *y) {
    cuda_state *s = enter(ctx);
    if (M <= 0 || N <= 0) return;
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    const int64_t wide = K > N ? K : N;
    const int64_t step = INT_MAX / (wide > 0 ? wide : 1); /* rows per call: int sizes and offsets */
    const int ld = K > 0 ? K : 1; /* cuBLAS refuses lda = 0 even when K = 0 reads nothing (y = bias) */
    for (int64_t m0 = 0; m0 < M; m0 += step) {
        const int mm = (int)(M - m0 < step ? M - m0 : step);
        CUBLAS_CHECK(s, cublasSgemm(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, mm, K, &one, w, ld, x + m0 * K, ld, &beta,
                                    y + m0 * N, N));
    }
    bias_act(s, y, M, N, b, act);
}

/* ======================================================================= conv 3x3 s2 */

static inline int out_size(int n) { return (n + 1) / 2; }

/* The planner allocates this once; it is the im2col size (as on the CPU), an upper
 * bound for the cuDNN algorithm chosen (one needing more is skipped). */
static size_t cu_conv_workspace(int B, int H, int W, int Cin) {
    return (size_t)B * out_size(H) * out_size(W) * 9 * Cin * sizeof(float);
}

/* Direct convolution, one thread per output (channel fastest: the threads of a warp
 * share the input pixel, the weights come through L1). The fallback without cuDNN. */
static __global__ void k_conv3x3s2(const float *__restrict__ x, int B, int H, int W, int Cin,
                                   const float *__restrict__ w, int Cout, int Ho, int Wo, float *__restrict__ y) {
    const int64_t total = (int64_t)B * Ho * Wo * Cout;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int o = (int)(i % Cout);
        const int64_t pix = i / Cout;
        const int ow = (int)(pix % Wo);
        const int64_t t = pix / Wo;
        const int oh = (int)(t % Ho), bi = (int)(t / Ho);
        float acc = 0.0f;
        for (int kh = 0; kh < 3; kh++) {
            const int ih = 2 * oh - 1 + kh;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < 3; kw++) {
                const int iw = 2 * ow - 1 + kw;
                if (iw < 0 || iw >= W) continue;
                const float *xs = x + (((int64_t)bi * H + ih) * W + iw) * Cin;
                const float *ws = w + ((int64_t)o * 9 + kh * 3 + kw) * Cin;
                for (int c = 0; c < Cin; c++) acc += xs[c] * ws[c];
            }
        }
        y[i] = acc;
    }
}

#ifdef VSSM_HAVE_CUDNN
static void plan_destroy(cuda_conv_plan *p) {
    if (!p->used) return;
    cudnnDestroyTensorDescriptor(p->xd);
    cudnnDestroyTensorDescriptor(p->yd);
    cudnnDestroyFilterDescriptor(p->wd);
    cudnnDestroyConvolutionDescriptor(p->cd);
    memset(p, 0, sizeof *p);
}

/* The cached cuDNN setup for this shape, made on first use: NHWC tensors, the filter
 * as KRSC = (Cout, 3, 3, Cin) (our layout), the algorithm from cuDNN's heuristics (no
 * timing runs, no host sync): the first one that fits the workspace and, unless TF32
 * is allowed, uses plain FMA math. NULL when cuDNN refuses: the caller falls back. */
static cuda_conv_plan *conv_plan(vssm_ctx *ctx, cuda_state *s, int B, int H, int W, int Cin, int Cout) {
    for (int i = 0; i < CUDA_CONV_PLANS; i++) {
        cuda_conv_plan *p = &s->plans[i];
        if (p->used && p->B == B && p->H == H && p->W == W && p->Cin == Cin && p->Cout == Cout) return p;
    }
    int slot = -1;
    for (int i = 0; i < CUDA_CONV_PLANS && slot < 0; i++)
        if (!s->plans[i].used) slot = i;
    if (slot < 0) {
        slot = s->plan_next;
        s->plan_next = (s->plan_next + 1) % CUDA_CONV_PLANS;
    }
    cuda_conv_plan *p = &s->plans[slot];
    plan_destroy(p);

    const int Ho = out_size(H), Wo = out_size(W), tf32 = ctx->opts.allow_tf32;
    const cudnnMathType_t math = tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
    int made = 0;
    cudnnStatus_t st = cudnnCreateTensorDescriptor(&p->xd);
    if (st == CUDNN_STATUS_SUCCESS) {
        made |= 1;
        st = cudnnCreateTensorDescriptor(&p->yd);
    }
    if (st == CUDNN_STATUS_SUCCESS) {
        made |= 2;
        st = cudnnCreateFilterDescriptor(&p->wd);
    }
    if (st == CUDNN_STATUS_SUCCESS) {
        made |= 4;
        st = cudnnCreateConvolutionDescriptor(&p->cd);
    }
    if (st == CUDNN_STATUS_SUCCESS) made |= 8;
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnSetTensor4dDescriptor(p->xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, B, Cin, H, W);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnSetTensor4dDescriptor(p->yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, B, Cout, Ho, Wo);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnSetFilter4dDescriptor(p->wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, Cout, Cin, 3, 3);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnSetConvolution2dDescriptor(p->cd, 1, 1, 2, 2, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnSetConvolutionMathType(p->cd, math);
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnGetConvolutionForwardAlgorithm_v7(s->dnn, p->xd, p->wd, p->cd, p->yd,
                                                    CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf);
    const size_t cap = cu_conv_workspace(B, H, W, Cin);
    /* without TF32: an FMA-math algorithm, else one cuDNN reports as default math (the
     * descriptor stays FMA_MATH, which forbids tensor-core TF32 either way) */
    int pick = -1;
    for (int pass = 0; pass < 2 && pick < 0; pass++)
        for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < got && pick < 0; i++) {
            const cudnnMathType_t mt = perf[i].mathType;
            const int math_ok = tf32 || (pass == 0 ? mt == CUDNN_FMA_MATH : mt == CUDNN_DEFAULT_MATH);
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= cap && math_ok) pick = i;
        }
    if (st == CUDNN_STATUS_SUCCESS) {
        if (pick >= 0) {
            p->algo = perf[pick].algo;
            if (tf32) st = cudnnSetConvolutionMathType(p->cd, perf[pick].mathType);
        } else {
            p->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM; /* no workspace, FMA math */
        }
    }
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnGetConvolutionForwardWorkspaceSize(s->dnn, p->xd, p->wd, p->cd, p->yd, p->algo, &p->ws_bytes);
    if (st == CUDNN_STATUS_SUCCESS && p->ws_bytes > cap) st = CUDNN_STATUS_NOT_SUPPORTED;
    if (st != CUDNN_STATUS_SUCCESS) {
        if (made & 1) cudnnDestroyTensorDescriptor(p->xd);
        if (made & 2) cudnnDestroyTensorDescriptor(p->yd);
        if (made & 4) cudnnDestroyFilterDescriptor(p->wd);
        if (made & 8) cudnnDestroyConvolutionDescriptor(p->cd);
        memset(p, 0, sizeof *p);
        return NULL;
    }
    p->B = B;
    p->H = H;
    p->W = W;
    p->Cin = Cin;
    p->Cout = Cout;
    p->used = 1;
    return p;
}
#endif

static void cu_conv3x3s2(vssm_ctx *ctx, const float *x, int B, int H, int W, int Cin, const float *w, const float *b,
                         int Cout, float *y, void *ws) {
    cuda_state *s = enter(ctx);
    const int Ho = out_size(H), Wo = out_size(W);
    const int64_t M = (int64_t)B * Ho * Wo;
    if (M <= 0 || Cout <= 0) return;
#ifdef VSSM_HAVE_CUDNN
    cuda_conv_plan *p = s->dnn ? conv_plan(ctx, s, B, H, W, Cin, Cout) : NULL;
    if (p && !p->direct) {
        const float one = 1.0f, zero = 0.0f;
        if (cudnnConvolutionForward(s->dnn, &one, p->xd, x, p->wd, w, p->cd, p->algo, ws, p->ws_bytes, &zero, p->yd,
                                    y) == CUDNN_STATUS_SUCCESS) {
            bias_act(s, y, M, Cout, b, VSSM_ACT_NONE);
            return;
        }
        /* refused (e.g. the algorithm under FMA math): this shape uses the direct kernel
         * from now on. A real device fault resurfaces at the launch below. */
        p->direct = 1;
    }
#endif
    k_conv3x3s2<<<ew_blocks(M * Cout), EW_BLOCK, 0, s->stream>>>(x, B, H, W, Cin, w, Cout, Ho, Wo, y);
    CUDA_CHECK_LAUNCH(s, "k_conv3x3s2");
    bias_act(s, y, M, Cout, b, VSSM_ACT_NONE);
}

/* ======================================================================= depthwise 3x3 */

/* the strided, biased conv of v0_ops.cu with ldx = C and no bias */
static void cu_dwconv3x3(vssm_ctx *ctx, const float *x, int B, int H, int W, int C, const float *w, vssm_act act,
                         float *y) {
    vssm_cuda_dwconv3x3_bias(ctx, x, C, B, H, W, C, w, NULL, act, y);
}

/* ======================================================================= layernorm */

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

#define LN_WARPS 8

/* One warp per row. Two passes like the CPU: the mean summed relative to the row's
 * first value (no cancellation when |mean| >> std), then the centred variance. y may
 * be x: each lane reads its own elements before writing them, and x0 is read by all
 * lanes before the first reduction. */
static __global__ void k_layernorm(const float *x, int64_t rows, int C, const float *__restrict__ g,
                                   const float *__restrict__ b, float eps, int act, const float *__restrict__ z,
                                   int64_t ldz, float *y) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * LN_WARPS + (threadIdx.x >> 5);
    if (row >= rows) return; /* whole warps leave together */
    const float *r = x + row * C;
    float *o = y + row * C;
    const float x0 = r[0];
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += r[c] - x0;
    const float dm = warp_sum(s) / (float)C; /* mean - x0 */
    float v = 0.0f;
    for (int c = lane; c < C; c += 32) {
        const float d = (r[c] - x0) - dm;
        v += d * d;
    }
    const float inv = 1.0f / sqrtf(warp_sum(v) / (float)C + eps);
    if (z) /* v0's output gate: times SiLU(z), z's row at z + row * ldz */
        for (int c = lane; c < C; c += 32)
            o[c] = (((r[c] - x0) - dm) * inv * g[c] + b[c]) * act_apply(z[row * ldz + c], VSSM_ACT_SILU);
    else
        for (int c = lane; c < C; c += 32) o[c] = act_apply(((r[c] - x0) - dm) * inv * g[c] + b[c], act);
}

static void cu_layernorm(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g, const float *b, float eps,
                         vssm_act act, float *y) {
    cuda_state *s = enter(ctx);
    if (rows <= 0 || C <= 0) return;
    k_layernorm<<<cuda_blocks(rows, LN_WARPS), LN_WARPS * 32, 0, s->stream>>>(x, rows, C, g, b, eps, (int)act, NULL, 0,
                                                                              y);
    CUDA_CHECK_LAUNCH(s, "k_layernorm");
}

static void cu_layernorm_gate(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g, const float *b,
                              float eps, const float *z, int64_t ldz, float *y) {
    cuda_state *s = enter(ctx);
    if (rows <= 0 || C <= 0) return;
    k_layernorm<<<cuda_blocks(rows, LN_WARPS), LN_WARPS * 32, 0, s->stream>>>(x, rows, C, g, b, eps, VSSM_ACT_NONE, z,
                                                                              ldz, y);
    CUDA_CHECK_LAUNCH(s, "k_layernorm");
}

/* ======================================================================= avgpool */

/* one thread per (b, c), summing over L in order then dividing, as the CPU */
static __global__ void k_avgpool(const float *__restrict__ x, int B, int64_t L, int C, float *__restrict__ y) {
    const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i >= (int64_t)B * C) return;
    const int c = (int)(i % C), bi = (int)(i / C);
    const float *p = x + (int64_t)bi * L * C + c;
    float s = 0.0f;
    for (int64_t l = 0; l < L; l++) s += p[l * C];
    y[i] = s / (float)L;
}

static void cu_avgpool(vssm_ctx *ctx, const float *x, int B, int64_t L, int C, float *y) {
    cuda_state *s = enter(ctx);
    const int64_t n = (int64_t)B * C;
    if (n <= 0) return;
    k_avgpool<<<cuda_blocks(n, EW_BLOCK), EW_BLOCK, 0, s->stream>>>(x, B, L, C, y);
    CUDA_CHECK_LAUNCH(s, "k_avgpool");
}

/* ======================================================================= setup */

static void state_destroy(cuda_state *s) {
    if (!s) return;
#ifdef VSSM_HAVE_CUDNN
    for (int i = 0; i < CUDA_CONV_PLANS; i++) plan_destroy(&s->plans[i]);
    if (s->dnn) cudnnDestroy(s->dnn);
#endif
    if (s->blas) cublasDestroy(s->blas);
    if (s->stream) cudaStreamDestroy(s->stream);
    free(s);
}

typedef struct cuda_backend { /* what ctx->impl points at: the state, then its op table */
    cuda_state st;
    vssm_ops ops;
} cuda_backend;

static void fill_ops(vssm_ops *o) {
    memset(o, 0, sizeof *o);
    o->name = "cuda";
    o->alloc = cu_alloc;
    o->free = cu_free;
    o->upload = cu_upload;
    o->download = cu_download;
    o->copy = cu_copy;
    o->sync = cu_sync;
    o->linear = vssm_cuda_linear;
    o->conv3x3s2_workspace = cu_conv_workspace;
    o->conv3x3s2 = cu_conv3x3s2;
    o->dwconv3x3 = cu_dwconv3x3;
    o->layernorm = cu_layernorm;
    o->layernorm_gate = cu_layernorm_gate;
    o->scan_workspace = vssm_cuda_scan_workspace;
    o->ss2d_scan = vssm_cuda_ss2d_scan;
    o->avgpool = cu_avgpool;
    o->rmsnorm = vssm_cuda_rmsnorm; /* scan1d.cu: the Vision Mamba ops */
    o->conv1d = vssm_cuda_conv1d;
    o->scan1d = vssm_cuda_scan1d;
    o->patchify = vssm_cuda_patchify;
    o->rows_add = vssm_cuda_rows_add;
    o->dwconv3x3_bias = vssm_cuda_dwconv3x3_bias; /* v0_ops.cu: the first VMamba release's ops */
    o->mul_silu = vssm_cuda_mul_silu;
    o->patch_merge = vssm_cuda_patch_merge;
}

vssm_status vssm_cuda_backend_init(vssm_ctx *ctx, vssm_err *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return vssm_err_set(err, VSSM_ERR_DEVICE, "no CUDA device: %s", cudaGetErrorString(e));
    }
    if (n <= 0) return vssm_err_set(err, VSSM_ERR_DEVICE, "no CUDA device: none found");
    const int idx = ctx->opts.device_index;
    if (idx < 0 || idx >= n)
        return vssm_err_set(err, VSSM_ERR_DEVICE, "no CUDA device %d (%d device%s found)", idx, n, n == 1 ? "" : "s");
    if ((e = cudaSetDevice(idx)) != cudaSuccess) {
        (void)cudaGetLastError();
        return vssm_err_set(err, VSSM_ERR_DEVICE, "cannot use CUDA device %d: %s", idx, cudaGetErrorString(e));
    }
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, idx)) != cudaSuccess) {
        (void)cudaGetLastError();
        return vssm_err_set(err, VSSM_ERR_DEVICE, "cannot query CUDA device %d: %s", idx, cudaGetErrorString(e));
    }

    cuda_backend *be = (cuda_backend *)calloc(1, sizeof *be);
    if (!be) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory creating the CUDA backend");
    cuda_state *s = &be->st;
    s->device = idx;
    s->sm_count = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
    const char *what = NULL, *why = NULL;
    if ((e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        s->stream = NULL;
        what = "cudaStreamCreate";
        why = cudaGetErrorString(e);
    }
    cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
    if (!what && (bs = cublasCreate(&s->blas)) != CUBLAS_STATUS_SUCCESS) {
        s->blas = NULL;
        what = "cublasCreate";
    }
    if (!what && (bs = cublasSetStream(s->blas, s->stream)) != CUBLAS_STATUS_SUCCESS) what = "cublasSetStream";
    if (!what && (bs = cublasSetMathMode(s->blas, ctx->opts.allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                       : CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS)
        what = "cublasSetMathMode";
    if (what && !why) why = cublasGetStatusString(bs);
    const char *conv = "direct conv";
#ifdef VSSM_HAVE_CUDNN
    /* cuDNN is an accelerator, not a requirement: if it cannot start (e.g. its engine
     * libraries are missing at run time) the direct kernel does the convolutions. */
    if (!what) {
        if (cudnnCreate(&s->dnn) != CUDNN_STATUS_SUCCESS)
            s->dnn = NULL;
        else if (cudnnSetStream(s->dnn, s->stream) != CUDNN_STATUS_SUCCESS) {
            cudnnDestroy(s->dnn);
            s->dnn = NULL;
        }
        if (s->dnn) conv = "cuDNN";
    }
#endif
    if (what) {
        (void)cudaGetLastError();
        vssm_status r = vssm_err_set(err, VSSM_ERR_DEVICE, "CUDA device %d (%.80s): %s failed: %s", idx, prop.name,
                                     what, why);
        fill_ops(&be->ops); /* unused; keeps the struct whole */
        state_destroy(s);   /* s is be's first member: frees be */
        return r;
    }
    fill_ops(&be->ops);
    ctx->impl = be;
    ctx->ops = &be->ops;
    snprintf(ctx->desc, sizeof ctx->desc, "cuda:%d %.80s (sm_%d%d, %d SMs, %s%s)", idx, prop.name, prop.major,
             prop.minor, s->sm_count, conv, ctx->opts.allow_tf32 ? ", TF32" : "");
    return VSSM_OK;
}

void vssm_cuda_backend_free(vssm_ctx *ctx) {
    cuda_backend *be = (cuda_backend *)ctx->impl;
    if (!be) return;
    cudaSetDevice(be->st.device);
    if (be->st.stream) cudaStreamSynchronize(be->st.stream);
    state_destroy(&be->st); /* frees be (its first member) */
    (void)cudaGetLastError();
    ctx->impl = NULL;
    ctx->ops = NULL;
}
