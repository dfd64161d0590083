/* kernels/cpu/cpu_ops.h - the CPU implementations behind kernels/ops.h (the reference
 * every other backend is tested against). */
#ifndef VSSM_CPU_OPS_H
#define VSSM_CPU_OPS_H

#include "kernels/ctx_internal.h"

/* Runtime ISA dispatch. sgemm.c, scan.c, scan1d.c and the element-wise ops' files (conv.c,
 * conv1d.c, norm.c, v0_ops.c) are compiled once as they are (the
 * build's baseline: SSE2 without -march=native) and again, included by *_avx2.c and
 * *_avx512.c, with those units' flags (CMakeLists.txt, kernels/cpu/README.md). Each copy
 * names its entry points with its suffix (VSSM_ISA_FN); vssm_cpu_backend_init picks one
 * variant per context (isa.c) and the plain names below dispatch through ctx->cpu_isa. */
#ifndef VSSM_ISA_SFX
#define VSSM_ISA_SFX base
#define VSSM_ISA_BASE 1
#endif
#define VSSM_ISA_CAT2_(a, b) a##_##b
#define VSSM_ISA_CAT_(a, b) VSSM_ISA_CAT2_(a, b)
#define VSSM_ISA_FN(name) VSSM_ISA_CAT_(name, VSSM_ISA_SFX)
/* the element-wise ops' variants (conv.c, conv1d.c, norm.c, v0_ops.c and their *_avx2.c,
 * *_avx512.c): the same operations per element in each, the norms' sums in one order
 * (rowsum.h), so AVX2 and AVX-512 give the same bits (tests/test_cpu_isa.c) */
#define VSSM_ISA_DECLARE_ELTWISE_(sfx)                                                                                \
    void vssm_cpu_conv3x3s2_##sfx(vssm_ctx *ctx, const float *x, int B, int H, int W, int Cin, const float *w,        \
                                  const float *b, int Cout, float *y, void *ws);                                      \
    void vssm_cpu_layernorm_##sfx(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g, const float *b, \
                                  float eps, vssm_act act, float *y);                                                 \
    void vssm_cpu_layernorm_gate_##sfx(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g,            \
                                       const float *b, float eps, const float *z, int64_t ldz, float *y);             \
    void vssm_cpu_rmsnorm_##sfx(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *w, float eps,        \
                                float *y);                                                                            \
    void vssm_cpu_conv1d_##sfx(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int64_t L, int C, const float *w,   \
                               const float *bias, int K, int reverse, vssm_act act, float *y);                        \
    void vssm_cpu_layernorm_block_##sfx(const float *x, int64_t rows, int C, const float *g, const float *b,          \
                                        float eps, vssm_act act, const float *z, int64_t ldz, float *y, int64_t ldy); \
    void vssm_cpu_dwconv3x3_bias_##sfx(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C,        \
                                       const float *w, const float *bias, vssm_act act, float *y);                    \
    void vssm_cpu_mul_silu_##sfx(vssm_ctx *ctx, float *y, int64_t rows, int C, const float *z, int64_t ldz);          \
    void vssm_cpu_stem_v2_##sfx(vssm_ctx *ctx, const vssm_stem_args *a);
/* the backward ops' variants (norm_bwd.c, conv_bwd.c, v0_bwd.c, linear_bwd.c and their *_avx2.c,
 * *_avx512.c), the same rules: the same operations per element, sums in rowsum.h's order.
 * bwd_act_mul: z[i] = dy[i] act'(z[i]) for i < n (z: the pre-activations, in place) */
#define VSSM_ISA_DECLARE_BWD_(sfx)                                                                                    \
    void vssm_cpu_layernorm_bwd_##sfx(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *gamma,         \
                                      const float *beta, float eps, vssm_act act, const float *dy, float *dx,         \
                                      float *dgamma, float *dbeta);                                                   \
    void vssm_cpu_rmsnorm_bwd_##sfx(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *w, float eps,    \
                                    const float *dy, float *dx, float *dw);                                           \
    void vssm_cpu_conv1d_bwd_##sfx(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int64_t L, int C,               \
                                   const float *w, const float *bias, int K, int reverse, vssm_act act,               \
                                   const float *dy, float *dx, float *dw, float *dbias);                              \
    void vssm_cpu_dwconv3x3_bias_bwd_##sfx(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C,    \
                                           const float *w, const float *bias, vssm_act act, const float *dy,          \
                                           float *dx, float *dw, float *dbias);                                       \
    void vssm_cpu_mul_silu_bwd_##sfx(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *z, int64_t ldz, \
                                     const float *dy, float *dx, float *dz);                                          \
    void vssm_cpu_bwd_act_mul_##sfx(vssm_ctx *ctx, const float *dy, int64_t n, vssm_act act, float *z);
#define VSSM_ISA_DECLARE_(sfx)                                                                                         \
    void vssm_cpu_linear_##sfx(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, const float *b, int N, \
                               vssm_act act, int accumulate, float *y);                                                \
    void vssm_cpu_linear_packed_##sfx(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp,                \
                                      const float *b, int N, vssm_act act, int accumulate, float *y);                  \
    void vssm_cpu_ss2d_scan_##sfx(vssm_ctx *ctx, const vssm_scan_args *a, void *ws);                                   \
    void vssm_cpu_scan1d_##sfx(vssm_ctx *ctx, const vssm_scan1d_args *a);                                              \
    void vssm_cpu_gemm_epilogue_##sfx(float *yt, int rows, int nc, int64_t ldy, const float *bq, vssm_act act);        \
    void vssm_cpu_gemm_rows_##sfx(const vssm_ctx *ctx, const float *x, int rows, int K, const float *wp,               \
                                  const float *b, int N, float *y);                                                    \
    int vssm_cpu_norm_proj_##sfx(vssm_ctx *ctx, const vssm_norm_proj_args *a);                                         \
    int vssm_cpu_mlp_##sfx(vssm_ctx *ctx, const vssm_mlp_args *a);                                                     \
    VSSM_ISA_DECLARE_ELTWISE_(sfx)                                                                                     \
    VSSM_ISA_DECLARE_BWD_(sfx)                                                                                         \
    extern const char vssm_cpu_isa_name_##sfx[];
VSSM_ISA_DECLARE_(base)
VSSM_ISA_DECLARE_(avx2)
VSSM_ISA_DECLARE_(avx512)

/* one variant's entry points (isa.c holds the tables) */
typedef struct vssm_cpu_isa {
    const char *name; /* what VSSM_CPU_ISA / vssm_ctx_opts.cpu_isa call it: "avx512", "avx2", "base" */
    const char *desc; /* what its unit was compiled for: "AVX-512", "AVX2", "SSE2", ... */
    void (*linear)(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, const float *b, int N, vssm_act act,
                   int accumulate, float *y);
    void (*linear_packed)(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp, const float *b, int N,
                          vssm_act act, int accumulate, float *y);
    void (*ss2d_scan)(vssm_ctx *ctx, const vssm_scan_args *a, void *ws);
    void (*scan1d)(vssm_ctx *ctx, const vssm_scan1d_args *a);
    void (*conv3x3s2)(vssm_ctx *ctx, const float *x, int B, int H, int W, int Cin, const float *w, const float *b,
                      int Cout, float *y, void *ws);
    void (*layernorm)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g, const float *b, float eps,
                      vssm_act act, float *y);
    void (*layernorm_gate)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g, const float *b,
                           float eps, const float *z, int64_t ldz, float *y);
    void (*rmsnorm)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *w, float eps, float *y);
    void (*conv1d)(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int64_t L, int C, const float *w,
                   const float *bias, int K, int reverse, vssm_act act, float *y);
    int (*norm_proj)(vssm_ctx *ctx, const vssm_norm_proj_args *a); /* 0: not fused here (the caller runs the ops) */
    int (*mlp)(vssm_ctx *ctx, const vssm_mlp_args *a);             /* 0: not fused here (the caller runs the ops) */
    void (*dwconv3x3_bias)(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C, const float *w,
                           const float *bias, vssm_act act, float *y);
    void (*mul_silu)(vssm_ctx *ctx, float *y, int64_t rows, int C, const float *z, int64_t ldz);
    void (*layernorm_bwd)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *gamma, const float *beta,
                          float eps, vssm_act act, const float *dy, float *dx, float *dgamma, float *dbeta);
    void (*rmsnorm_bwd)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *w, float eps, const float *dy,
                        float *dx, float *dw);
    void (*conv1d_bwd)(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int64_t L, int C, const float *w,
                       const float *bias, int K, int reverse, vssm_act act, const float *dy, float *dx, float *dw,
                       float *dbias);
    void (*dwconv3x3_bias_bwd)(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C, const float *w,
                               const float *bias, vssm_act act, const float *dy, float *dx, float *dw, float *dbias);
    void (*mul_silu_bwd)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *z, int64_t ldz,
                         const float *dy, float *dx, float *dz);
    void (*bwd_act_mul)(vssm_ctx *ctx, const float *dy, int64_t n, vssm_act act, float *z);
    void (*stem_v2)(vssm_ctx *ctx, const vssm_stem_args *a);
} vssm_cpu_isa;

/* isa.c: picks the variant (opts.cpu_isa, else $VSSM_CPU_ISA, else the best this CPU runs),
 * reads the cache sizes and sets ctx->cpu_isa, ctx->gemm_kc and the CPU part of ctx->desc */
vssm_status vssm_cpu_isa_init(vssm_ctx *ctx, vssm_err *err);

void vssm_cpu_linear(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, const float *b, int N,
                     vssm_act act, int accumulate, float *y);
/* vssm_cpu_linear packs a plain weight for more rows than this, else reads it as it is */
#define VSSM_CPU_DIRECT_MAX_M 16
/* sgemm.c: every product (plain weights are packed per call); batch-invariant, see there.
 * The packed weights' layout follows the context's precision (isa.c dispatches): fp32
 * panels (sgemm.c, vssm_cpu_f32_*) or bf16 pair panels (sgemm_bf16.c, vssm_cpu_bf16_*). */
size_t vssm_cpu_linear_pack_numel(vssm_ctx *ctx, int N, int K);
void vssm_cpu_linear_pack(vssm_ctx *ctx, const float *w, int N, int K, float *out);
/* element (n, k) of a weight laid out by vssm_cpu_linear_pack (element-wise readers, off
 * the hot path) */
float vssm_cpu_linear_packed_get(const vssm_ctx *ctx, const float *wp, int N, int K, int n, int k);
void vssm_cpu_linear_packed(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp, const float *b, int N,
                            vssm_act act, int accumulate, float *y);
size_t vssm_cpu_f32_pack_numel(int N, int K);
void vssm_cpu_f32_pack(const float *w, int N, int K, float *out);
/* the same layout for the weight w^T (K, N), from w (N, K): row strips, no transposition */
void vssm_cpu_f32_pack_t(const float *w, int N, int K, float *out);
float vssm_cpu_f32_packed_get(const float *wp, int N, int K, int n, int k);
/* sgemm_bf16.c (--precision bf16): weights packed as bf16 pairs, x rounded to bf16 per
 * call, products summed in fp32 on AMX tiles or with AVX512_BF16's VDPBF16PS
 * (ctx->cpu_bf16); batch-invariant within one of the two, see there */
size_t vssm_cpu_bf16_pack_numel(int N, int K);
void vssm_cpu_bf16_pack(const float *w, int N, int K, float *out);
float vssm_cpu_bf16_packed_get(const float *wp, int N, int K, int n, int k);
void vssm_cpu_linear_packed_bf16(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp, const float *b,
                                 int N, vssm_act act, int accumulate, float *y);
/* VDPBF16PS contexts only (sgemm_bf16.c "fused"): LayerNorm + product and the MLP in one
 * pass per block of rows, 0 (nothing done) where they do not fuse; and its pieces for
 * conv.c's fused im2col: K padded (kpad), n floats rounded to bf16 then zeros up to `to`,
 * rows of rounded x (row stride kpad(K)) through every panel on the calling thread */
int vssm_cpu_norm_proj_bf16(vssm_ctx *ctx, const vssm_norm_proj_args *a);
int vssm_cpu_mlp_bf16(vssm_ctx *ctx, const vssm_mlp_args *a);
int vssm_cpu_bf16_kpad(int K);
void vssm_cpu_bf16_round(const float *x, int n, int to, uint16_t *o);
void vssm_cpu_bf16_rows(const uint16_t *xb, int rows, int K, const float *wp, const float *b, int N, vssm_act act,
                        int accumulate, float *y, int64_t ldy);
/* scan_bf16.c: the dt projections' bf16 pair layout (the op table's dt_pack entries: bf16
 * contexts only) and the scans' dt projection from it: dt[i*16 ..] = bias + token i's dt_r
 * (R2 pairs at xr[i]) . w (R2 rows of 16 pairs, row stride ldw), lanes past cw from bias */
size_t vssm_cpu_dt_pack_numel(vssm_ctx *ctx, int G, int R, int D);
void vssm_cpu_dt_pack(vssm_ctx *ctx, const float *dtw, int G, int R, int D, float *out);
void vssm_cpu_bf16_dt_chunk(const float *const *xr, int T, const uint32_t *w, int64_t ldw, int R2, const float *bias,
                            int cw, float *dt);
/* one token's x_proj row (VSSM_SCAN_K directions of [dt_r; B; C], R + 2N floats each) into
 * the directions' rows dst[k]: dt_r as ceil(R/2) bf16 pairs, then B and C at R.. as floats */
void vssm_cpu_bf16_xk_token(const float *src, int R, int N, float *const *dst);
/* the bf16 kernels this CPU and OS run: VSSM_CPU_BF16_AMX when AMX tiles are usable (the
 * process's permission asked for here), else VSSM_CPU_BF16_DP with avx512_bf16, else 0 */
enum { VSSM_CPU_BF16_NONE = 0, VSSM_CPU_BF16_DP = 1, VSSM_CPU_BF16_AMX = 2 };
int vssm_cpu_bf16_probe(int want_amx);
/* 1 when this build has the bf16 kernels (its compiler took -mavx512bf16 -mamx-tile -mamx-bf16) */
int vssm_cpu_bf16_built(void);
size_t vssm_cpu_conv3x3s2_workspace(int B, int H, int W, int Cin);
size_t vssm_cpu_stem_ring_floats(int W, int Cmid);
void vssm_cpu_conv3x3s2(vssm_ctx *ctx, const float *x, int B, int H, int W, int Cin, const float *w, const float *b,
                        int Cout, float *y, void *ws);
void vssm_cpu_dwconv3x3(vssm_ctx *ctx, const float *x, int B, int H, int W, int C, const float *w, vssm_act act,
                        float *y);
void vssm_cpu_layernorm(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g, const float *b, float eps,
                        vssm_act act, float *y);
void vssm_cpu_layernorm_gate(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g, const float *b,
                             float eps, const float *z, int64_t ldz, float *y);
size_t vssm_cpu_scan_workspace(int B, int H, int W, int D, int R, int N);
void vssm_cpu_ss2d_scan(vssm_ctx *ctx, const vssm_scan_args *a, void *ws);
void vssm_cpu_avgpool(vssm_ctx *ctx, const float *x, int B, int64_t L, int C, float *y);
/* Vision Mamba: conv1d.c (rmsnorm, conv1d, patchify, rows_add), scan1d.c */
void vssm_cpu_rmsnorm(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *w, float eps, float *y);
void vssm_cpu_conv1d(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int64_t L, int C, const float *w,
                     const float *bias, int K, int reverse, vssm_act act, float *y);
/* LayerNorm + its fp32 packed product per row block where that pays (sgemm.c), else the two ops */
void vssm_cpu_norm_proj(vssm_ctx *ctx, const vssm_norm_proj_args *a);
/* LayerNorm-MLP (ops.h vssm_mlp_args) per row block where that pays (sgemm.c), else norm_proj
 * and the second product */
void vssm_cpu_mlp(vssm_ctx *ctx, const vssm_mlp_args *a);
void vssm_cpu_stem_v2(vssm_ctx *ctx, const vssm_stem_args *a);
void vssm_cpu_scan1d(vssm_ctx *ctx, const vssm_scan1d_args *a);
void vssm_cpu_patchify(vssm_ctx *ctx, const vssm_patch_args *a);
void vssm_cpu_rows_add(vssm_ctx *ctx, float *x, int B, int64_t L, int C, const float *add, int64_t row,
                       const float *rowval);
/* v0_ops.c: the first VMamba release's ops (dwconv3x3 is dwconv3x3_bias with ldx C, no bias) */
void vssm_cpu_dwconv3x3_bias(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C, const float *w,
                             const float *bias, vssm_act act, float *y);
void vssm_cpu_mul_silu(vssm_ctx *ctx, float *y, int64_t rows, int C, const float *z, int64_t ldz);
void vssm_cpu_patch_merge(vssm_ctx *ctx, const float *x, int B, int H, int W, int C, float *y);

#endif
