/* kernels/ops.h - the op interface every layer calls.
 *
 * One table of function pointers per backend (CPU in kernels/cpu, CUDA in kernels/cuda).
 * Layers call the vssm_op_*() wrappers at the end of this file, which dispatch to the
 * ctx's table (and time the op by kind when profiling is on); a layer never knows
 * which backend runs it.
 * Every pointer argument is memory of the ctx's device (from ops->alloc), except where a
 * parameter name says "host". Layout is NHWC throughout: an activation is a matrix of
 * rows = tokens (B*H*W), columns = channels, row-major.
 *
 * Ops check their shapes up front, in every build (callers have validated configs; a
 * violated precondition is a bug, not bad input): the wrapper skips the op and records the
 * first violation in the context, and the next vssm_op_sync, vssm_op_status or
 * vssm_tensor_to_host reports it (the outputs of a skipped op are not written). Scratch
 * memory comes from a workspace the caller plans once: each op that needs one has a *_workspace() size query.
 */
#ifndef VSSM_KERNELS_OPS_H
#define VSSM_KERNELS_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "vssm/ctx.h"

typedef enum vssm_act {
    VSSM_ACT_NONE = 0,
    VSSM_ACT_GELU, /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
    VSSM_ACT_SILU,
} vssm_act;

/* Parameters of the fused 2D cross-scan selective scan (SS2D core, v05_noz).
 *  u      (B, H, W, D)            input after depthwise conv + SiLU
 *  x_proj (K*(R+2N), D)           per-direction [dt_r; B; C] projections, stacked, laid out
 *                                 by vssm_op_linear_pack as an (N=K*(R+2N), K=D) weight
 *  dt_w   (K, R, D)               dt projections, transposed at load from (K, D, R)
 *  dt_b   (K, D)                  dt bias (added before softplus, threshold 20)
 *  A      (K, N, D)               = -exp(A_logs), precomputed and transposed at load
 *  Ds     (K, D)                  skip
 *  y      (B, H, W, D)            out: sum over the four directions, merged in place
 *  dt_w2  NULL, or dt_w in the backend's second layout for the context's precision, kept
 *         after dt_w when loaded with vssm_op_dt_pack (backbone/load.h VSSM_XF_DT): the CPU's
 *         bf16 contexts take the dt projection from bf16 pairs there (VDPBF16PS)
 * Direction k walks the token grid in order k0 row-major, k1 column-major, k2 = k0
 * reversed, k3 = k1 reversed; the state starts at 0 for each (b, k, d). */
#define VSSM_SCAN_K 4          /* scan directions */
#define VSSM_SCAN_MAX_STATE 64 /* largest d_state every backend supports */

typedef struct vssm_scan_args {
    int B, H, W, D, R, N;
    const float *u, *x_proj, *dt_w, *dt_b, *A, *Ds;
    float *y;
    const float *dt_w2;
} vssm_scan_args;

/* Parameters of the 1D selective scan of a Mamba mixer (Vim), with the output gate.
 *  u      (B, L, D)          input after the causal conv + SiLU
 *  xdbl   (B, L, R+2N)       per token [dt_r; B; C] (the x_proj output)
 *  z      gate, element (b, t, c) at z[(b*L + t)*ldz + c]; NULL: no gate
 *  dt_w   (R, D)             dt_proj weight, transposed at load from (D, R)
 *  dt_b   (D)                dt_proj bias (added before softplus, threshold 20)
 *  A      (N, D)             = -exp(A_log), transposed at load
 *  Ds     (D)                skip
 *  y      (B, L, D)          out: (C_t . h_t + D u_t) * SiLU(z_t), written (or added
 *                            when accumulate) at the token's own position t
 * reverse: the recurrence walks t = L-1 .. 0 (Vim's backward branch, kept in the
 * original token order so no flip is ever materialised); the state starts at 0.
 * next (forward op only; NULL: one scan): a second scan with the same B, D, L and y, and
 * accumulate set, run after this one in the same call: Vim's two directions in one parallel
 * region (each task runs a channel block's both scans, so y sees the same sums in the same
 * order as two calls: the same bits).
 * zs (with next; NULL: none): the first scan may write SiLU(z) there (element (b, t, c) at
 * zs[(b*L + t)*ldz + c], as z; it may be z itself, which is then overwritten) and the next
 * read it instead of computing SiLU(z) again: the same values, the same bits. Requires z,
 * and a next with the same z and ldz and no zs. A backend may leave zs as it was (CUDA). */
typedef struct vssm_scan1d_args {
    int B, D, R, N;
    int64_t L;
    int reverse, accumulate;
    const float *u, *xdbl, *z;
    int64_t ldz;
    const float *dt_w, *dt_b, *A, *Ds;
    float *y;
    const struct vssm_scan1d_args *next;
    float *zs;
} vssm_scan1d_args;

/* the precondition of a->next (vssm_scan1d_args): NULL, or a second scan over the same B, D,
 * L and y that accumulates and has no next of its own */
static inline int vssm_scan1d_next_ok(const vssm_scan1d_args *a) {
    const vssm_scan1d_args *n = a->next;
    if (a->zs && (!n || !a->z || n->z != a->z || n->ldz != a->ldz || n->zs)) return 0;
    return !n ||
           (n->B == a->B && n->D == a->D && n->L == a->L && n->y == a->y && n->accumulate && !n->next && n->R >= 1 &&
            n->N >= 1 && n->N <= VSSM_SCAN_MAX_STATE && (!n->z || n->ldz >= n->D) && n->u && n->xdbl);
}


/* LayerNorm then a packed product (the optional table entry norm_proj, wrapper
 * vssm_op_norm_proj):
 *   xn (M, K) = LayerNorm(x) (gamma, beta, eps) [* SiLU(z), z element (r, c) at z[r*ldz + c]]
 *               as the op layernorm (z NULL) or layernorm_gate
 *   y (M, N)  = act(xn . wp^T + b [+ y]) as linear_packed (accumulate: act NONE)
 * xn is scratch: a backend that fuses the two need not write it (its contents are then
 * unspecified); one without the entry runs the two ops through it (ctx.c). The same bits
 * either way. xn may be x (the norm then runs in place, as the ops allow); otherwise xn and
 * y overlap neither x, z nor each other. */
typedef struct vssm_norm_proj_args {
    const float *x;
    int64_t M;
    int K;
    const float *gamma, *beta;
    float eps;
    const float *z;
    int64_t ldz;
    float *xn;
    const float *wp, *b;
    int N;
    vssm_act act;
    int accumulate;
    float *y;
} vssm_norm_proj_args;

static inline int vssm_norm_proj_ok(const vssm_norm_proj_args *a) {
    return a && a->M >= 0 && a->K >= 1 && a->N >= 1 && a->x && a->gamma && a->beta && a->xn && a->wp && a->y &&
           (!a->z || a->ldz >= a->K) && (!a->accumulate || a->act == VSSM_ACT_NONE);
}

/* VMamba v2's stem (the optional table entry stem_v2, wrapper vssm_op_stem_v2):
 *   mid (B, ceil(H/2), ceil(W/2), Cmid) = GELU(LayerNorm(conv3x3s2(x, w1, b1)))   (g1, be1)
 *   y   (B, ceil(H/4), ceil(W/4), Cout) = LayerNorm(conv3x3s2(mid, w2, b2))       (g2, be2)
 * as the ops conv3x3s2, layernorm (act GELU), conv3x3s2, layernorm (act NONE), eps for both;
 * x (B, H, W, Cin); w1, w2 laid out as conv3x3s2's. mid and ws (vssm_op_conv3x3s2_workspace
 * bytes for either conv, whichever is more) are scratch: a backend that fuses the four need
 * not write mid (its contents are then unspecified); one without the entry runs the four ops
 * through it (ctx.c). The same bits either way. x, mid, ws and y overlap nothing else. */
typedef struct vssm_stem_args {
    int B, H, W, Cin, Cmid, Cout;
    const float *x, *w1, *b1, *g1, *be1, *w2, *b2, *g2, *be2;
    float eps;
    float *mid, *y;
    void *ws;
} vssm_stem_args;

static inline int vssm_stem_ok(const vssm_stem_args *a) {
    return a && a->B >= 1 && a->H >= 1 && a->W >= 1 && a->Cin >= 1 && a->Cmid >= 1 && a->Cout >= 1 && a->x && a->w1 &&
           a->g1 && a->be1 && a->w2 && a->g2 && a->be2 && a->mid && a->y;
}

/* A transformer MLP on a residual stream (the optional table entry mlp, wrapper vssm_op_mlp):
 *   x (M, K) += act(LayerNorm(x) . w1p^T + b1) . w2p^T + b2        (N hidden columns)
 * computed as norm_proj {x, M, K, gamma, beta, eps, xn, w1p, b1, N, act, y = h} followed by
 * linear_packed(h, M, N, w2p, b2, K, NONE, accumulate, x): the same bits either way. xn (M, K)
 * and h (M, N) are scratch that a backend fusing the three need not write (their contents are
 * then unspecified); none of x, xn, h overlap. */
typedef struct vssm_mlp_args {
    float *x;
    int64_t M;
    int K;
    const float *gamma, *beta;
    float eps;
    const float *w1p, *b1;
    int N;
    vssm_act act;
    const float *w2p, *b2;
    float *xn, *h;
} vssm_mlp_args;

/* the norm_proj that is an mlp's first half (LayerNorm, fc1 and its activation into h) */
static inline vssm_norm_proj_args vssm_mlp_first(const vssm_mlp_args *a) {
    const vssm_norm_proj_args n = {.x = a->x,
                                   .M = a->M,
                                   .K = a->K,
                                   .gamma = a->gamma,
                                   .beta = a->beta,
                                   .eps = a->eps,
                                   .z = NULL,
                                   .ldz = 0,
                                   .xn = a->xn,
                                   .wp = a->w1p,
                                   .b = a->b1,
                                   .N = a->N,
                                   .act = a->act,
                                   .accumulate = 0,
                                   .y = a->h};
    return n;
}

static inline int vssm_mlp_ok(const vssm_mlp_args *a) {
    return a && a->M >= 0 && a->K >= 1 && a->N >= 1 && a->x && a->gamma && a->beta && a->w1p && a->w2p && a->xn && a->h;
}

/* Parameters of patch extraction (im2col) for a kernel = P, stride S, no padding conv.
 *  x    (B, H, W, C) NHWC; grid gh = (H - P)/S + 1, gw = (W - P)/S + 1 (row-major patches)
 *  cols (B, rows, C*P*P): patch m of image b goes to row row0 + m + (skip >= 0 && m >= skip),
 *       column c*P*P + ky*P + kx (the flattening of an official (Cout, C, P, P) weight);
 *       rows not written by any patch are left as they are. */
typedef struct vssm_patch_args {
    int B, H, W, C, P, S;
    int64_t rows, row0, skip;
    const float *x;
    float *cols;
} vssm_patch_args;

/* ---- training: the backward ops (kernels/BACKWARD.md) ----
 * One backward per compute op of VSSM_COMPUTE_OPS (below), named <op>_bwd, listed in
 * VSSM_BACKWARD_OPS with the same X(name, kind, (parameters), (arguments), precondition)
 * machinery: table entry, checked wrapper vssm_op_<op>_bwd, profiling kind, test coverage
 * (tests/test_ops_bwd.c). Conventions, llm.c's:
 *  - a backward takes the forward's inputs (weights in their plain layout, never packed: the
 *    optimizer's master copy) and the gradient of the forward's output, dy;
 *  - every gradient it writes is ACCUMULATED (+=): the caller zeroes gradients once per
 *    step, so a tensor used twice (a residual) sums its gradients for free;
 *  - a gradient pointer that is NULL is not computed (frozen weights, an input that needs
 *    none), except the ones the precondition requires;
 *  - fused activations are undone in the op that owns them, from the pre-activation the
 *    backward recomputes (no stored activations beyond the forward's inputs);
 *  - results are deterministic and do not depend on the thread count: every sum runs over
 *    fixed blocks in a fixed order (no float atomics).
 * A backend may leave these entries empty (CUDA, for now): the context is still created, and
 * vssm_op_training_supported says training is refused on it and why. */

/* Gradients of ss2d_scan in the op's own layouts (each may be NULL: not computed).
 * In the vssm_scan_args given to ss2d_scan_bwd, x_proj is the PLAIN (K*(R+2N), D) weight. */
typedef struct vssm_scan_grads {
    float *du;      /* (B, H, W, D) */
    float *dx_proj; /* (K*(R+2N), D) */
    float *ddt_w;   /* (K, R, D) */
    float *ddt_b;   /* (K, D) */
    float *dA_logs; /* (K, N, D): with A = -exp(A_logs), dL/dA_logs = dL/dA * A */
    float *dDs;     /* (K, D) */
} vssm_scan_grads;

/* Gradients of scan1d (each may be NULL: not computed); dz has the forward's ldz. */
typedef struct vssm_scan1d_grads {
    float *du;      /* (B, L, D) */
    float *dxdbl;   /* (B, L, R+2N) */
    float *dz;      /* element (b, t, c) at dz[(b*L + t)*ldz + c] */
    float *ddt_w;   /* (R, D) */
    float *ddt_b;   /* (D) */
    float *dA_logs; /* (N, D) */
    float *dDs;     /* (D) */
} vssm_scan1d_grads;

/* linear_bwd     dx (M, K) += dz . w, dw (N, K) += dz^T . x, db (N) += sum_rows dz, with
 *                dz = dy * act'(x . w^T + b) (dz = dy when act is NONE); w plain (N, K)
 * conv3x3s2_bwd  dx (B, H, W, Cin), dw (Cout, 3, 3, Cin) plain, db (Cout)
 * dwconv3x3_bwd  dx (B, H, W, C), dw (3, 3, C)
 * layernorm_bwd  dx, dgamma, dbeta (C); mean and rstd recomputed per row
 * ss2d_scan_bwd  vssm_scan_grads; x_proj plain; forward states recomputed per chunk
 * avgpool_bwd    dx (B, L, C) += dy (B, C) / L
 * rmsnorm_bwd    dx, dw (C)
 * conv1d_bwd     dx (element (b, t, c) at dx[(b*L + t)*ldx + c]), dw (K, C), dbias (C)
 * scan1d_bwd     vssm_scan1d_grads
 * patchify_bwd   dx (B, H, W, C) += the patch gradients dcols (laid out as a->cols)
 * softmax_xent   the loss, forward and backward in one: loss (one float) = mean over the
 *                batch of cross-entropy(softmax(logits (B, ncls)), target), target =
 *                (1 - smoothing) onehot(label) + smoothing / ncls (PyTorch's
 *                CrossEntropyLoss(label_smoothing=...)); dlogits (may be NULL) += its
 *                gradient; labels (B) int32 in [0, ncls) (others: the op reports them)
 * ---- the first VMamba release (v0)
 * dwconv3x3_bias_bwd  dx (element (p, c) at dx[p*ldx + c], as x), dw (3, 3, C), dbias (C)
 * mul_silu_bwd   x (rows, C) is the forward's y BEFORE the gate: dx (rows, C) += dy SiLU(z),
 *                dz (z's layout, ldz) += dy x SiLU'(z)
 * patch_merge_bwd  dx (B, H, W, C) += the 2x2 cells' gradients dy (B, ceil(H/2), ceil(W/2), 4C) */
#define VSSM_BACKWARD_OPS(X)                                                                                           \
    X(linear_bwd, GEMM,                                                                                                \
      (vssm_ctx * ctx, const float *x, int64_t M, int K, const float *w, const float *b, int N, vssm_act act,          \
       const float *dy, float *dx, float *dw, float *db),                                                              \
      (ctx, x, M, K, w, b, N, act, dy, dx, dw, db), M >= 0 && K >= 0 && N >= 1 && x && w && dy)                        \
    X(conv3x3s2_bwd, CONV,                                                                                             \
      (vssm_ctx * ctx, const float *x, int B, int H, int W, int Cin, const float *w, int Cout, const float *dy,        \
       float *dx, float *dw, float *db),                                                                               \
      (ctx, x, B, H, W, Cin, w, Cout, dy, dx, dw, db),                                                                 \
      B >= 1 && H >= 1 && W >= 1 && Cin >= 1 && Cout >= 1 && x && w && dy)                                             \
    X(dwconv3x3_bwd, DWCONV,                                                                                           \
      (vssm_ctx * ctx, const float *x, int B, int H, int W, int C, const float *w, vssm_act act, const float *dy,      \
       float *dx, float *dw),                                                                                          \
      (ctx, x, B, H, W, C, w, act, dy, dx, dw), B >= 1 && H >= 1 && W >= 1 && C >= 1 && x && w && dy)                  \
    X(conv1d_bwd, DWCONV,                                                                                              \
      (vssm_ctx * ctx, const float *x, int64_t ldx, int B, int64_t L, int C, const float *w, const float *bias, int K, \
       int reverse, vssm_act act, const float *dy, float *dx, float *dw, float *dbias),                                \
      (ctx, x, ldx, B, L, C, w, bias, K, reverse, act, dy, dx, dw, dbias),                                             \
      K >= 1 && C >= 1 && L >= 1 && B >= 1 && ldx >= C && x && w && dy)                                                \
    X(patchify_bwd, CONV, (vssm_ctx * ctx, const vssm_patch_args *a, const float *dcols, float *dx),                   \
      (ctx, a, dcols, dx),                                                                                             \
      a && a->B >= 1 && a->C >= 1 && a->P >= 1 && a->S >= 1 && a->H >= a->P && a->W >= a->P && dcols && dx)            \
    X(ss2d_scan_bwd, SCAN, (vssm_ctx * ctx, const vssm_scan_args *a, const float *dy, const vssm_scan_grads *g),       \
      (ctx, a, dy, g),                                                                                                 \
      a && a->B >= 1 && a->H >= 1 && a->W >= 1 && a->D >= 1 && a->R >= 1 && a->N >= 1 &&                               \
          a->N <= VSSM_SCAN_MAX_STATE && a->u && a->x_proj && a->dt_w && a->dt_b && a->A && a->Ds && dy && g)          \
    X(scan1d_bwd, SCAN, (vssm_ctx * ctx, const vssm_scan1d_args *a, const float *dy, const vssm_scan1d_grads *g),      \
      (ctx, a, dy, g),                                                                                                 \
      a && !a->next && !a->zs && a->B >= 1 && a->D >= 1 && a->R >= 1 && a->N >= 1 && a->N <= VSSM_SCAN_MAX_STATE &&    \
          a->L >= 1 && (!a->z || a->ldz >= a->D) && a->u && a->xdbl && a->dt_w && a->dt_b && a->A && a->Ds && dy && g) \
    X(layernorm_bwd, NORM,                                                                                             \
      (vssm_ctx * ctx, const float *x, int64_t rows, int C, const float *gamma, const float *beta, float eps,          \
       vssm_act act, const float *dy, float *dx, float *dgamma, float *dbeta),                                         \
      (ctx, x, rows, C, gamma, beta, eps, act, dy, dx, dgamma, dbeta),                                                 \
      rows >= 0 && C >= 1 && x && gamma && beta && dy)                                                                 \
    X(avgpool_bwd, ELTWISE, (vssm_ctx * ctx, int B, int64_t L, int C, const float *dy, float *dx),                     \
      (ctx, B, L, C, dy, dx), B >= 1 && L >= 1 && C >= 1 && dy && dx)                                                  \
    X(rmsnorm_bwd, NORM,                                                                                               \
      (vssm_ctx * ctx, const float *x, int64_t rows, int C, const float *w, float eps, const float *dy, float *dx,     \
       float *dw),                                                                                                     \
      (ctx, x, rows, C, w, eps, dy, dx, dw), rows >= 0 && C >= 1 && x && w && dy)                                      \
    X(softmax_xent, ELTWISE,                                                                                           \
      (vssm_ctx * ctx, const float *logits, int B, int ncls, const int32_t *labels, float smoothing, float *loss,      \
       float *dlogits),                                                                                                \
      (ctx, logits, B, ncls, labels, smoothing, loss, dlogits),                                                        \
      B >= 1 && ncls >= 1 && smoothing >= 0 && smoothing <= 1 && logits && labels && loss)                             \
    X(dwconv3x3_bias_bwd, DWCONV,                                                                                      \
      (vssm_ctx * ctx, const float *x, int64_t ldx, int B, int H, int W, int C, const float *w, const float *bias,     \
       vssm_act act, const float *dy, float *dx, float *dw, float *dbias),                                             \
      (ctx, x, ldx, B, H, W, C, w, bias, act, dy, dx, dw, dbias),                                                      \
      B >= 1 && H >= 1 && W >= 1 && C >= 1 && ldx >= C && x && w && dy)                                                \
    X(mul_silu_bwd, ELTWISE,                                                                                           \
      (vssm_ctx * ctx, const float *x, int64_t rows, int C, const float *z, int64_t ldz, const float *dy, float *dx,   \
       float *dz),                                                                                                     \
      (ctx, x, rows, C, z, ldz, dy, dx, dz), rows >= 0 && C >= 1 && ldz >= C && x && z && dy)                          \
    X(patch_merge_bwd, ELTWISE, (vssm_ctx * ctx, int B, int H, int W, int C, const float *dy, float *dx),              \
      (ctx, B, H, W, C, dy, dx), B >= 1 && H >= 1 && W >= 1 && C >= 1 && dy && dx)

/* The compute ops, written once. X(name, kind, (parameters), (arguments), precondition)
 * gives the table entry `void (*name)(parameters)`, the wrapper `void vssm_op_<name>(parameters)`
 * that checks the precondition (in every build), dispatches to the ctx's table and times the
 * call under VSSM_OP_<kind> (vssm/ctx.h), and the check at context creation that the backend
 * filled the entry. A new op is one entry here, its backends' functions, and a case in
 * tests/test_ops.c.
 *
 * linear     y (M, N) = act(x (M, K) . w (N, K)^T + b (N) [+ y if accumulate]); b may be
 *            NULL; accumulate: add into the existing y (fused residual add; the activation
 *            then must be NONE)
 * conv3x3s2  3x3 conv, stride 2, pad 1, with bias. x (B, H, W, Cin) -> y (B, ceil(H/2),
 *            ceil(W/2), Cout); w laid out (Cout, 3, 3, Cin) (vssm_conv_weight_layout), then
 *            by vssm_op_linear_pack as a (Cout, 9*Cin) weight; scratch of
 *            conv3x3s2_workspace bytes
 * dwconv3x3  depthwise 3x3, stride 1, pad 1, no bias, then act; w laid out (3, 3, C)
 * layernorm  y = act(LayerNorm over the last dim of x (rows, C)) with gamma, beta; y may be x
 * ss2d_scan  fused cross-scan + x_proj + dt_proj + softplus + selective scan + cross-merge
 *            (vssm_scan_args); scratch of scan_workspace bytes
 * avgpool    y (B, C) = mean over L of x (B, L, C)
 * ---- Vision Mamba (Vim)
 * rmsnorm    y = x * rsqrt(mean(x^2) + eps) * w over the last dim of x (rows, C); y may be x
 * conv1d     depthwise causal conv1d along L with bias, then act:
 *              y[b,t,c] = act(bias[c] + sum_k w[k,c] * x[b, t-(K-1)+k, c])
 *            (reverse: x[b, t+(K-1)-k, c]), zero outside [0, L); x element (b, t, c) at
 *            x[(b*L + t)*ldx + c]; w (K, C); y (B, L, C)
 * scan1d     the 1D selective scan of a Mamba mixer (vssm_scan1d_args)
 * patchify   patch extraction (vssm_patch_args)
 * rows_add   x (B, L, C): row `row` of every image (if row >= 0) is replaced by rowval (C),
 *            then every row t gets add[t] (L, C) added
 * ---- the first VMamba release (v0)
 * dwconv3x3_bias  dwconv3x3 reading pixel p's C channels at x[p*ldx] (the x half of an
 *            in_proj output (B*H*W, ldx)), bias (C, may be NULL) added before act
 * mul_silu   y (rows, C) *= SiLU(z), z element (r, c) at z[r*ldz + c] (SS2D's output gate)
 * layernorm_gate  y = LayerNorm(x) (gamma, beta) * SiLU(z), z as mul_silu's; y may be x (v0's
 *            out_norm and output gate in one pass: layernorm, then mul_silu, same bits)
 * patch_merge  x (B, H, W, C) -> y (B, ceil(H/2), ceil(W/2), 4C): the 2x2 cell's pixels in
 *            the order (0,0), (1,0), (0,1), (1,1) (row, column offsets), each C channels;
 *            pixels past an odd edge are 0 (PatchMerging2D's gather and zero pad) */
#define VSSM_COMPUTE_OPS(X)                                                                                            \
    X(linear, GEMM,                                                                                                    \
      (vssm_ctx * ctx, const float *x, int64_t M, int K, const float *w, const float *b, int N, vssm_act act,          \
       int accumulate, float *y),                                                                                      \
      (ctx, x, M, K, w, b, N, act, accumulate, y), M >= 0 && K >= 0 && N >= 1 && x && w && y)                          \
    X(conv3x3s2, CONV,                                                                                                 \
      (vssm_ctx * ctx, const float *x, int B, int H, int W, int Cin, const float *w, const float *b, int Cout,         \
       float *y, void *workspace),                                                                                     \
      (ctx, x, B, H, W, Cin, w, b, Cout, y, workspace),                                                                \
      B >= 1 && H >= 1 && W >= 1 && Cin >= 1 && Cout >= 1 && x && w && y)                                              \
    X(dwconv3x3, DWCONV,                                                                                               \
      (vssm_ctx * ctx, const float *x, int B, int H, int W, int C, const float *w, vssm_act act, float *y),            \
      (ctx, x, B, H, W, C, w, act, y), B >= 1 && H >= 1 && W >= 1 && C >= 1 && x && w && y)                            \
    X(layernorm, NORM,                                                                                                 \
      (vssm_ctx * ctx, const float *x, int64_t rows, int C, const float *gamma, const float *beta, float eps,          \
       vssm_act act, float *y),                                                                                        \
      (ctx, x, rows, C, gamma, beta, eps, act, y), rows >= 0 && C >= 1 && x && y)                                      \
    X(ss2d_scan, SCAN, (vssm_ctx * ctx, const vssm_scan_args *a, void *workspace), (ctx, a, workspace),                \
      a && a->B >= 1 && a->H >= 1 && a->W >= 1 && a->D >= 1 && a->R >= 1 && a->N >= 1 &&                               \
          a->N <= VSSM_SCAN_MAX_STATE && a->u && a->y)                                                                 \
    X(avgpool, ELTWISE, (vssm_ctx * ctx, const float *x, int B, int64_t L, int C, float *y), (ctx, x, B, L, C, y),     \
      B >= 1 && L >= 1 && C >= 1 && x && y)                                                                            \
    X(rmsnorm, NORM, (vssm_ctx * ctx, const float *x, int64_t rows, int C, const float *w, float eps, float *y),       \
      (ctx, x, rows, C, w, eps, y), rows >= 0 && C >= 1 && x && w && y)                                                \
    X(conv1d, DWCONV,                                                                                                  \
      (vssm_ctx * ctx, const float *x, int64_t ldx, int B, int64_t L, int C, const float *w, const float *bias, int K, \
       int reverse, vssm_act act, float *y),                                                                           \
      (ctx, x, ldx, B, L, C, w, bias, K, reverse, act, y),                                                             \
      K >= 1 && C >= 1 && L >= 1 && B >= 1 && ldx >= C && x && w && y)                                                 \
    X(scan1d, SCAN, (vssm_ctx * ctx, const vssm_scan1d_args *a), (ctx, a),                                             \
      a && a->B >= 1 && a->D >= 1 && a->R >= 1 && a->N >= 1 && a->N <= VSSM_SCAN_MAX_STATE && a->L >= 1 &&             \
          (!a->z || a->ldz >= a->D) && a->u && a->xdbl && a->y && vssm_scan1d_next_ok(a))                              \
    X(patchify, CONV, (vssm_ctx * ctx, const vssm_patch_args *a), (ctx, a),                                            \
      a && a->B >= 1 && a->C >= 1 && a->P >= 1 && a->S >= 1 && a->H >= a->P && a->W >= a->P && a->x && a->cols)        \
    X(rows_add, ELTWISE,                                                                                               \
      (vssm_ctx * ctx, float *x, int B, int64_t L, int C, const float *add, int64_t row, const float *rowval),         \
      (ctx, x, B, L, C, add, row, rowval), B >= 1 && L >= 1 && C >= 1 && row < L && x && (row < 0 || rowval))          \
    X(dwconv3x3_bias, DWCONV,                                                                                          \
      (vssm_ctx * ctx, const float *x, int64_t ldx, int B, int H, int W, int C, const float *w, const float *bias,     \
       vssm_act act, float *y),                                                                                        \
      (ctx, x, ldx, B, H, W, C, w, bias, act, y), B >= 1 && H >= 1 && W >= 1 && C >= 1 && ldx >= C && x && w && y)     \
    X(mul_silu, ELTWISE, (vssm_ctx * ctx, float *y, int64_t rows, int C, const float *z, int64_t ldz),                 \
      (ctx, y, rows, C, z, ldz), rows >= 0 && C >= 1 && ldz >= C && y && z)                                            \
    X(layernorm_gate, NORM,                                                                                            \
      (vssm_ctx * ctx, const float *x, int64_t rows, int C, const float *gamma, const float *beta, float eps,          \
       const float *z, int64_t ldz, float *y),                                                                         \
      (ctx, x, rows, C, gamma, beta, eps, z, ldz, y), rows >= 0 && C >= 1 && ldz >= C && x && z && y)                  \
    X(patch_merge, ELTWISE, (vssm_ctx * ctx, const float *x, int B, int H, int W, int C, float *y),                    \
      (ctx, x, B, H, W, C, y), B >= 1 && H >= 1 && W >= 1 && C >= 1 && x && y)

#define VSSM_OP_FIELD_(name, kind, params, args, check) void(*name) params;

typedef struct vssm_ops {
    const char *name;

    /* memory */
    void *(*alloc)(vssm_ctx *ctx, size_t bytes); /* NULL on failure */
    void (*free)(vssm_ctx *ctx, void *p);
    int (*upload)(vssm_ctx *ctx, void *dst, const void *host_src, size_t bytes);   /* 0 ok */
    int (*download)(vssm_ctx *ctx, void *host_dst, const void *src, size_t bytes); /* 0 ok */
    int (*copy)(vssm_ctx *ctx, void *dst, const void *src, size_t bytes);          /* 0 ok; device to device */
    int (*sync)(vssm_ctx *ctx);                                                    /* 0 ok; waits for queued work */

    /* scratch bytes of the ops that take a workspace */
    size_t (*conv3x3s2_workspace)(int B, int H, int W, int Cin);
    size_t (*scan_workspace)(int B, int H, int W, int D, int R, int N);

    /* Optional: linear from a weight laid out once, at load, in the backend's own layout.
     * linear_pack_numel(N, K): floats of that layout (0 or NULL entries: the backend keeps
     * the plain (N, K) layout and linear_packed is linear); linear_pack lays a host (N, K)
     * weight out on the host. The layout may depend on the context (the CPU's bf16 precision). */
    size_t (*linear_pack_numel)(vssm_ctx *ctx, int N, int K);
    void (*linear_pack)(vssm_ctx *ctx, const float *w, int N, int K, float *out);
    void (*linear_packed)(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp, const float *b, int N,
                          vssm_act act, int accumulate, float *y);

    /* Optional: the dt projections (G, R, D) (vssm_scan_args.dt_w) in a second layout for
     * the context's precision, kept after them (vssm_scan_args.dt_w2): dt_pack_numel(G, R, D)
     * floats of it (0 or NULL entries: none, dt_w2 stays NULL); dt_pack lays it out on the
     * host from the (G, R, D) floats. */
    size_t (*dt_pack_numel)(vssm_ctx *ctx, int G, int R, int D);
    void (*dt_pack)(vssm_ctx *ctx, const float *dtw, int G, int R, int D, float *out);

    /* Optional: LayerNorm and its packed product in one call (vssm_norm_proj_args); NULL: the
     * wrapper calls layernorm (or layernorm_gate) then linear_packed (or linear). */
    void (*norm_proj)(vssm_ctx *ctx, const vssm_norm_proj_args *a);
    /* Optional: a LayerNorm-MLP on a residual stream in one call (vssm_mlp_args); NULL: the
     * wrapper runs norm_proj then linear_packed. */
    void (*mlp)(vssm_ctx *ctx, const vssm_mlp_args *a);
    /* Optional: VMamba v2's stem in one call (vssm_stem_args); NULL: the wrapper runs
     * conv3x3s2, layernorm, conv3x3s2, layernorm. */
    void (*stem_v2)(vssm_ctx *ctx, const vssm_stem_args *a);
    /* the compute ops (VSSM_COMPUTE_OPS above) */
    VSSM_COMPUTE_OPS(VSSM_OP_FIELD_)
    /* the backward ops (VSSM_BACKWARD_OPS above; may be empty: vssm_op_training_supported) */
    VSSM_BACKWARD_OPS(VSSM_OP_FIELD_)
} vssm_ops;

/* Names the first required entry (memory, workspace queries, compute ops) a table leaves
 * empty, or NULL when it is complete; vssm_ctx_new refuses a backend with one. */
const char *vssm_ops_missing(const vssm_ops *o);
/* Names the first backward op (VSSM_BACKWARD_OPS) a table leaves empty, or NULL. */
const char *vssm_ops_missing_backward(const vssm_ops *o);

/* The table behind a context. */
const vssm_ops *vssm_ops_of(const vssm_ctx *ctx);

/* Reorders an official conv weight (Cout, Cin, 3, 3) into (Cout, 3, 3, Cin); host memory. */
void vssm_conv_weight_layout(const float *src, int Cout, int Cin, float *dst);

/* ---- what layers call (kernels/ops.c): same arguments as the table entries ---- */
void *vssm_op_alloc(vssm_ctx *ctx, size_t bytes);
void vssm_op_free(vssm_ctx *ctx, void *p);
int vssm_op_upload(vssm_ctx *ctx, void *dst, const void *host_src, size_t bytes);
int vssm_op_download(vssm_ctx *ctx, void *host_dst, const void *src, size_t bytes);
int vssm_op_copy(vssm_ctx *ctx, void *dst, const void *src, size_t bytes);
int vssm_op_sync(vssm_ctx *ctx); /* 0 ok; nonzero also when an op's precondition failed */
/* Waits for queued work; VSSM_OK, or the first op precondition that failed since the last
 * report (VSSM_ERR_INVALID_ARG, named; the record is cleared), or a device error during
 * `what` (VSSM_ERR_DEVICE). */
vssm_status vssm_op_status(vssm_ctx *ctx, const char *what, vssm_err *err);
/* the compute ops' wrappers: vssm_op_linear, vssm_op_conv3x3s2, ... (VSSM_COMPUTE_OPS) */
#define VSSM_OP_DECLARE_(name, kind, params, args, check) void vssm_op_##name params;
VSSM_COMPUTE_OPS(VSSM_OP_DECLARE_)
/* the backward ops' wrappers: vssm_op_linear_bwd, ... (VSSM_BACKWARD_OPS); calling one the backend
 * lacks is refused like a broken precondition (named by the next vssm_op_status) */
VSSM_BACKWARD_OPS(VSSM_OP_DECLARE_)
/* VSSM_OK when the context's backend has every backward op; otherwise VSSM_ERR_UNSUPPORTED
 * naming the backend and the first missing op (training is refused there). */
vssm_status vssm_op_training_supported(vssm_ctx *ctx, vssm_err *err);
/* Packed weights (see the op table): numel of the layout (N*K when the backend has none),
 * host-side layout (a copy when none), and the product from a packed weight. */
size_t vssm_op_linear_pack_numel(vssm_ctx *ctx, int N, int K);
void vssm_op_linear_pack(vssm_ctx *ctx, const float *w, int N, int K, float *out);
void vssm_op_linear_packed(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp, const float *b, int N,
                           vssm_act act, int accumulate, float *y);
/* The dt projections' second layout (see the op table): floats of it (0: none), and the
 * host-side layout from the (G, R, D) floats */
size_t vssm_op_dt_pack_numel(vssm_ctx *ctx, int G, int R, int D);
void vssm_op_dt_pack(vssm_ctx *ctx, const float *dtw, int G, int R, int D, float *out);
/* LayerNorm + product (vssm_norm_proj_args); profiled as gemm */
void vssm_op_norm_proj(vssm_ctx *ctx, const vssm_norm_proj_args *a);
/* VMamba v2's stem (vssm_stem_args); profiled as conv */
void vssm_op_stem_v2(vssm_ctx *ctx, const vssm_stem_args *a);
/* LayerNorm-MLP on a residual stream (vssm_mlp_args); profiled as gemm */
void vssm_op_mlp(vssm_ctx *ctx, const vssm_mlp_args *a);
size_t vssm_op_conv3x3s2_workspace(vssm_ctx *ctx, int B, int H, int W, int Cin);

/* The thread count of a planned state's forward passes, chosen by measurement when the
 * context says so (vssm_ctx_opts.adapt_threads; otherwise every call below does nothing).
 * begin sets the count the ops use for the pass and starts its clock; end times it and
 * restores the context's count. Pass 1 runs at n_threads, uncounted; pass 3 tries one
 * thread fewer; later, a neighbour of the best count after a gap that doubles from 4 (to
 * 64; quadruples after a probe 25% slower) each time the best holds, back to 4 when it
 * changes or when 2 passes in a row run 25% over its average. The best is the lowest
 * average pass time (exponential, weight 1/4). */
typedef struct vssm_thread_tuner {
    double *avg;                        /* [1 .. max]: the average pass seconds at that count, 0 unmeasured */
    double t0;                          /* the running pass's start */
    int max, best, cur, dir, gap, slow; /* dir: the side (-1, +1) the next probe tries */
    long pass, next_probe;
} vssm_thread_tuner;
vssm_status vssm_tuner_init(vssm_thread_tuner *t, vssm_ctx *ctx, vssm_err *err);
void vssm_tuner_free(vssm_thread_tuner *t);
void vssm_tuner_begin(vssm_ctx *ctx, vssm_thread_tuner *t);
void vssm_tuner_end(vssm_ctx *ctx, vssm_thread_tuner *t);
size_t vssm_op_scan_workspace(vssm_ctx *ctx, int B, int H, int W, int D, int R, int N);

#endif
