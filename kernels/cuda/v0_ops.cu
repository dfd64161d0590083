/* kernels/cuda/v0_ops.cu - the ops the first VMamba release (v0) brought, on CUDA: the
 * depthwise 3x3 conv reading a strided input with a bias (dwconv3x3 is the same with ldx = C
 * and no bias), SS2D's SiLU(z) gate and PatchMerging2D's 2x2 gather. Each is held to its CPU
 * twin (kernels/cpu/v0_ops.c) by `test_ops cuda`; one thread per output element, channel
 * fastest (coalesced). */
#include "kernels/cuda/cuda_internal.cuh"

#define V0_BLOCK 256

static unsigned v0_grid(int64_t n) {
    unsigned g = cuda_blocks(n, V0_BLOCK);
    return g > (1u << 20) ? (1u << 20) : g;
}

/* the taps in the CPU's order, out-of-range taps skipped */
static __global__ void k_dwconv3x3_bias(const float *__restrict__ x, int64_t ldx, int B, int H, int W, int C,
                                        const float *__restrict__ w, const float *__restrict__ bias, int act,
                                        float *__restrict__ y) {
    const int64_t total = (int64_t)B * H * W * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int c = (int)(i % C);
        const int64_t pix = i / C;
        const int wc = (int)(pix % W);
        const int64_t t = pix / W;
        const int h = (int)(t % H), bi = (int)(t / H);
        float acc = bias ? bias[c] : 0.0f;
        for (int kh = 0; kh < 3; kh++) {
            const int ih = h - 1 + kh;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < 3; kw++) {
                const int iw = wc - 1 + kw;
                if (iw < 0 || iw >= W) continue;
                acc += x[(((int64_t)bi * H + ih) * W + iw) * ldx + c] * w[(kh * 3 + kw) * C + c];
            }
        }
        y[i] = cuda_act(acc, act);
    }
}

void vssm_cuda_dwconv3x3_bias(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C, const float *w,
                              const float *bias, vssm_act act, float *y) {
    cuda_state *s = cuda_st(ctx);
    CUDA_CHECK(s, cudaSetDevice(s->device));
    const int64_t n = (int64_t)B * H * W * C;
    if (n <= 0) return;
    k_dwconv3x3_bias<<<v0_grid(n), V0_BLOCK, 0, s->stream>>>(x, ldx, B, H, W, C, w, bias, (int)act, y);
    CUDA_CHECK_LAUNCH(s, "k_dwconv3x3_bias");
}

static __global__ void k_mul_silu(float *__restrict__ y, int64_t rows, int C, const float *__restrict__ z,
                                  int64_t ldz) {
    const int64_t total = rows * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
        y[i] *= cuda_act(z[(i / C) * ldz + i % C], VSSM_ACT_SILU);
}

void vssm_cuda_mul_silu(vssm_ctx *ctx, float *y, int64_t rows, int C, const float *z, int64_t ldz) {
    cuda_state *s = cuda_st(ctx);
    CUDA_CHECK(s, cudaSetDevice(s->device));
    const int64_t n = rows * C;
    if (n <= 0) return;
    k_mul_silu<<<v0_grid(n), V0_BLOCK, 0, s->stream>>>(y, rows, C, z, ldz);
    CUDA_CHECK_LAUNCH(s, "k_mul_silu");
}

/* output element (b, oh, ow, q*C + c): pixel (2oh + (q & 1), 2ow + (q >> 1)), 0 past the edge */
static __global__ void k_patch_merge(const float *__restrict__ x, int B, int H, int W, int C, float *__restrict__ y) {
    const int Ho = (H + 1) / 2, Wo = (W + 1) / 2;
    const int64_t total = (int64_t)B * Ho * Wo * 4 * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int c = (int)(i % C), q = (int)(i / C % 4);
        const int64_t pix = i / (4 * (int64_t)C);
        const int ow = (int)(pix % Wo), oh = (int)(pix / Wo % Ho), b = (int)(pix / ((int64_t)Wo * Ho));
        const int ih = 2 * oh + (q & 1), iw = 2 * ow + (q >> 1);
        y[i] = ih < H && iw < W ? x[(((int64_t)b * H + ih) * W + iw) * C + c] : 0.0f;
    }
}

void vssm_cuda_patch_merge(vssm_ctx *ctx, const float *x, int B, int H, int W, int C, float *y) {
    cuda_state *s = cuda_st(ctx);
    CUDA_CHECK(s, cudaSetDevice(s->device));
    const int64_t n = (int64_t)B * ((H + 1) / 2) * ((W + 1) / 2) * 4 * C;
    if (n <= 0) return;
    k_patch_merge<<<v0_grid(n), V0_BLOCK, 0, s->stream>>>(x, B, H, W, C, y);
    CUDA_CHECK_LAUNCH(s, "k_patch_merge");
}
