/* kernels/cuda/cuda_internal.cuh - what the CUDA backend's .cu files share: the backend
 * state behind ctx->impl, the check macros, and the ops each file defines.
 *
 * Errors: ops return void, so every CUDA/cuBLAS/cuDNN return code is checked by a macro
 * that records the FIRST failure ("file:line: call: reason") in the backend state; the
 * next sync() (and download()) then returns nonzero. The error is sticky: a context
 * that saw one keeps failing (its buffers may hold garbage). Nothing prints or exits. */
#ifndef VSSM_CUDA_INTERNAL_CUH
#define VSSM_CUDA_INTERNAL_CUH

#include <cuda_runtime.h>
#include <cublas_v2.h>
#ifdef VSSM_HAVE_CUDNN
#include <cudnn.h>
#endif

extern "C" {
#include "kernels/ctx_internal.h"
}

#define CUDA_ERR_MAX 256

#ifdef VSSM_HAVE_CUDNN
/* one cached cuDNN convolution setup per input shape */
typedef struct cuda_conv_plan {
    int B, H, W, Cin, Cout, used;
    int direct; /* cuDNN refused to run it: use the direct kernel */
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    cudnnConvolutionFwdAlgo_t algo;
    size_t ws_bytes;
} cuda_conv_plan;
#define CUDA_CONV_PLANS 32
#endif

typedef struct cuda_state {
    int device, sm_count;
    cudaStream_t stream;
    cublasHandle_t blas;
#ifdef VSSM_HAVE_CUDNN
    cudnnHandle_t dnn; /* NULL: cuDNN unusable at run time; the direct kernel is used */
    cuda_conv_plan plans[CUDA_CONV_PLANS];
    int plan_next; /* round-robin slot to replace when all are used */
#endif
    int failed; /* an error was recorded */
    char err[CUDA_ERR_MAX];
} cuda_state;

static inline cuda_state *cuda_st(vssm_ctx *ctx) { return (cuda_state *)ctx->impl; }

/* records the first failure; defined in backend.cu */
void vssm_cuda_fail(cuda_state *s, const char *file, int line, const char *what, const char *why);

#define CUDA_CHECK(s, call)                                                                            \
    do {                                                                                               \
        cudaError_t e_ = (call);                                                                       \
        if (e_ != cudaSuccess) vssm_cuda_fail((s), __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
    } while (0)
#define CUDA_CHECK_LAUNCH(s, what)                                                                    \
    do {                                                                                              \
        cudaError_t e_ = cudaGetLastError();                                                          \
        if (e_ != cudaSuccess) vssm_cuda_fail((s), __FILE__, __LINE__, what, cudaGetErrorString(e_)); \
    } while (0)
#define CUBLAS_CHECK(s, call)                                                                                       \
    do {                                                                                                            \
        cublasStatus_t e_ = (call);                                                                                 \
        if (e_ != CUBLAS_STATUS_SUCCESS) vssm_cuda_fail((s), __FILE__, __LINE__, #call, cublasGetStatusString(e_)); \
    } while (0)
#ifdef VSSM_HAVE_CUDNN
#define CUDNN_CHECK(s, call)                                                                                     \
    do {                                                                                                         \
        cudnnStatus_t e_ = (call);                                                                               \
        if (e_ != CUDNN_STATUS_SUCCESS) vssm_cuda_fail((s), __FILE__, __LINE__, #call, cudnnGetErrorString(e_)); \
    } while (0)
#endif

/* grid size for n elements at bs threads per block (n > 0) */
static inline unsigned cuda_blocks(int64_t n, int bs) { return (unsigned)((n + bs - 1) / bs); }

/* act(v) as the CPU applies it (exact erf GELU; SiLU v / (1 + e^-v)) */
__device__ __forceinline__ float cuda_act(float v, int act) {
    if (act == VSSM_ACT_GELU) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    if (act == VSSM_ACT_SILU) return v / (1.0f + expf(-v));
    return v;
}

/* backend.cu */
void vssm_cuda_linear(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, const float *b, int N,
                      vssm_act act, int accumulate, float *y);
/* scan.cu */
size_t vssm_cuda_scan_workspace(int B, int H, int W, int D, int R, int N);
void vssm_cuda_ss2d_scan(vssm_ctx *ctx, const vssm_scan_args *a, void *workspace);
/* scan1d.cu (Vision Mamba) */
void vssm_cuda_scan1d(vssm_ctx *ctx, const vssm_scan1d_args *a);
void vssm_cuda_conv1d(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int64_t L, int C, const float *w,
                      const float *bias, int K, int reverse, vssm_act act, float *y);
void vssm_cuda_rmsnorm(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *w, float eps, float *y);
void vssm_cuda_patchify(vssm_ctx *ctx, const vssm_patch_args *a);
void vssm_cuda_rows_add(vssm_ctx *ctx, float *x, int B, int64_t L, int C, const float *add, int64_t row,
                        const float *rowval);
/* v0_ops.cu (the first VMamba release) */
void vssm_cuda_dwconv3x3_bias(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C, const float *w,
                              const float *bias, vssm_act act, float *y);
void vssm_cuda_mul_silu(vssm_ctx *ctx, float *y, int64_t rows, int C, const float *z, int64_t ldz);
void vssm_cuda_patch_merge(vssm_ctx *ctx, const float *x, int B, int H, int W, int C, float *y);

/* The first error this context recorded ("" when none): for callers that got a nonzero
 * sync() and want the reason. */
extern "C" const char *vssm_cuda_last_error(const vssm_ctx *ctx);

#endif
