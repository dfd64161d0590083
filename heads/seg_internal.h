/* heads/seg_internal.h - what the segmentation files share inside heads/: the conv blocks
 * of the decode heads (mmcv ConvModule: conv + BN + ReLU, BN folded at load) and pooling. */
#ifndef VSSM_HEADS_SEG_INTERNAL_H
#define VSSM_HEADS_SEG_INTERNAL_H

#include "vssm/segment.h"

/* A conv (1x1 or 3x3, stride 1, pad k/2) with its BN folded in; host memory.
 * w: (cout, k, k, cin) (the im2col order) as a (cout, k*k*cin) weight laid out once, at
 * load, by vssm_op_linear_pack when the context's backend has its own layout (packed = 1),
 * else plain; b: (cout). */
typedef struct seg_conv {
    int cin, cout, k, relu, packed;
    float *w, *b;
} seg_conv;

/* Loads BASE.conv.weight (cout, cin, k, k) [+ BASE.conv.bias] and, when present,
 * BASE.bn.{weight,bias,running_mean,running_var} (eps 1e-5), folding the BN into the
 * conv; relu: apply ReLU after. With plain_names, BASE.weight / BASE.bias (conv_seg). */
vssm_status vssm_seg_conv_load(seg_conv *c, vssm_ctx *ctx, const vssm_source *src, const char *prefix, const char *base,
                               int cin, int cout, int k, int relu, int plain_names, vssm_err *err);
void vssm_seg_conv_free(seg_conv *c);
/* Floats of scratch vssm_seg_conv_forward needs for a 3x3 conv (im2col of a chunk of rows). */
size_t vssm_seg_conv_workspace(const seg_conv *c);
/* x (B, H, W, cin) -> y (B, H, W, cout), contiguous host buffers; ws: vssm_seg_conv_workspace floats. */
void vssm_seg_conv_forward(vssm_ctx *ctx, const seg_conv *c, const float *x, int B, int H, int W, float *y, float *ws);


/* ---- the Vim segmentation neck (heads/seg_neck.c): hustvl/Vim's fpn1..fpn4, which turn
 * four stride-16 token maps into strides 4, 8, 16, 32 (see vssm/segment.h) ---- */
typedef struct seg_neck seg_neck;
/* *out = NULL (and VSSM_OK) when the file has no "fpn1.0.weight" under prefix. */
vssm_status vssm_seg_neck_load(seg_neck **out, const vssm_source *src, const char *prefix, int D, int patch_size,
                               vssm_err *err);
void vssm_seg_neck_free(seg_neck *n);
/* Level l's map size for a gh x gw token grid (0 when the grid is too small for it). */
void vssm_seg_neck_level_size(const seg_neck *n, int l, int gh, int gw, int *h, int *w);
/* Floats of scratch vssm_seg_neck_forward needs for B images of gh x gw tokens. */
size_t vssm_seg_neck_workspace(const seg_neck *n, int B, int gh, int gw);
/* x (B, gh, gw, D) -> level l (B, h, w, D) as vssm_seg_neck_level_size; host buffers. */
void vssm_seg_neck_forward(vssm_ctx *ctx, const seg_neck *n, int l, const float *x, int B, int gh, int gw, float *y,
                           float *ws);

/* Bytes of activations vssm_seg_head_forward plans for B images with level maps H[l] x W[l] */
size_t vssm_seg_head_plan_bytes(const vssm_seg_head *h, int B, const int *H, const int *W);

/* torch AdaptiveAvgPool2d(s) on (B, h, w, C) -> (B, s, s, C) */
void vssm_seg_adaptive_avgpool(const float *x, int B, int h, int w, int C, int s, float *y);

#endif
