/* vssm/segment.h - semantic segmentation: backbone (VMamba + per-stage output norms, or
 * Vision Mamba + its fpn neck) -> decode head (mmseg UPerHead or FPNHead) -> per-pixel
 * classes, with mmseg 1.x's test pipeline (resize, whole / sliding-window inference, logits
 * resized back, argmax).
 *
 *     vssm_segmenter *sg;
 *     if (vssm_segmenter_load(&sg, ctx, "upernet.pth", NULL, &err) != VSSM_OK) ...
 *     vssm_image im; vssm_image_load(&im, "a.jpg", NULL, &err);
 *     uint8_t *labels = malloc(im.w * im.h);          // one class index per pixel
 *     vssm_segmenter_predict(sg, &im, NULL, labels, &err);
 *
 * Backbone (mmseg checkpoints of VMamba, key prefix "backbone."): the classifier's
 * backbone plus one LayerNorm over channels per stage, "outnorm{i}.{weight,bias}" (eps
 * 1e-5), applied to each stage's output (the un-normalised map goes on to the downsample).
 *
 * Vision Mamba backbone (hustvl/Vim seg/: VisionMambaSeg in mmseg 0.x checkpoints, key
 * prefix "backbone."; which backbone a file holds follows vssm/backbone.h): no class token,
 * and the outputs of four blocks, out_indices (metadata "out_indices", else the last block of
 * each quarter: 5, 11, 17, 23 of 24, as the official configs), each its mixer's output as a
 * (gh, gw, D) map at the patch stride (16), go through the neck "fpn1..fpn4" (by patch size;
 * 16: ConvTranspose2d(2, 2) -> BatchNorm (folded) -> GELU -> ConvTranspose2d: stride 4,
 * ConvTranspose2d: 8, identity: 16, MaxPool2d(2): 32; 8: ConvTranspose2d: 4, identity: 8,
 * MaxPool2d(2): 16, MaxPool2d(4): 32). Without "fpn1.0.weight" (if_fpn False) the four
 * block outputs go to the head as they are, all at stride 16. One block output alone feeds
 * all four levels (as VisionMambaSeg); 2 or 3 are refused. The head's in_channels are all
 * D. An input whose token grid is too small for a level (MaxPool2d of a 1-wide map) is
 * VSSM_ERR_SHAPE. Any input at least one patch large is accepted (the position embedding
 * is resampled, vssm/vim.h); the official configs test 512 x 512 windows, the training grid.
 * Rotary-embedding Vims (Vim-S's seg config, if_rope) are refused (vssm/vim.h).
 *
 * Heads (prefix "decode_head."; conv+BN+ReLU blocks are mmcv ConvModules; every BN
 * (eps 1e-5, running statistics) is folded into its conv at load time):
 *   UPerHead  psp_modules.{i}.1 (1x1 after adaptive avg pool to scale_i, scales 1,2,3,6),
 *             bottleneck (3x3 on [C4, ppm outs]), lateral_convs.{0..2} (1x1),
 *             fpn_convs.{0..2} (3x3), fpn_bottleneck (3x3 on the 4 levels at stride 4),
 *             conv_seg (1x1 with bias; the dropout before it is the identity at test).
 *   FPNHead   scale_heads.{i}.{2k} 3x3 conv blocks, each followed (levels i > 0) by a 2x
 *             bilinear upsample; the levels are summed at stride 4, then conv_seg.
 * Upsampling is bilinear with align_corners=False (torch F.interpolate), pooling is
 * torch's AdaptiveAvgPool2d (bins floor(i*n/s) .. ceil((i+1)*n/s)).
 *
 * Test pipeline (mmseg 1.x):
 *   1. Resize(scale=(L, S), keep_ratio=True) (skipped when scale is 0,0): factor
 *      f = min(L / long side, S / short side), size = int(w*f + 0.5) x int(h*f + 0.5),
 *      resized by vssm_image_resize_cv2 (OpenCV INTER_LINEAR, uint8).
 *   2. (x - mean) / std per channel, mean/std in 0..255 units, RGB order.
 *   3. whole: the head's logits (stride 4) are resized to the resized image's size;
 *      slide: windows of crop x crop every stride pixels (grids =
 *      max(H - crop + stride - 1, 0) // stride + 1, y1 = i*stride, y2 = min(y1 + crop, H),
 *      y1 = max(y2 - crop, 0)), each window's logits resized to the window, summed, and
 *      divided by the number of windows covering each pixel.
 *   4. logits resized (bilinear, align_corners False) to the original image size; argmax
 *      over classes (the first of equal maxima).
 *
 * Weights: mmseg .pth checkpoints ('state_dict'; 'auxiliary_head.' is ignored) or
 * safetensors with the same names. Safetensors __metadata__ may carry (all optional):
 *   seg_head "uper" | "fpn", labels (JSON array of class names), seg_palette "r,g,b,...",
 *   seg_scale "L,S" (0,0 = no resize), seg_mean / seg_std "a,b,c" (0..255 units),
 *   seg_mode "whole" | "slide", seg_crop, seg_stride, seg_pool_scales "1,2,3,6",
 *   seg_reduce_zero_label "0" | "1", seg_ignore_index.
 * Without metadata: the head kind from the tensor names, mmseg's ADE20K test settings
 * (scale 2048,512, mean 123.675,116.28,103.53, std 58.395,57.12,57.375, whole; for a Vim
 * slide with crop 512, stride 341, as its configs), the VOC palette and names "class<i>".
 *
 * The backbone runs on the context's device; the head runs on the CPU (on the same
 * context when it is a CPU one, else on a CPU context the segmenter owns). Activation
 * buffers are planned once per input size and kept until the size changes. One thread
 * at a time per segmenter.
 */
#ifndef VSSM_SEGMENT_H
#define VSSM_SEGMENT_H

#include <stdint.h>
#include "vssm/common.h"
#include "vssm/ctx.h"
#include "vssm/image.h"
#include "vssm/source.h"
#include "vssm/vmamba.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ decode heads */
typedef enum vssm_seg_head_kind {
    VSSM_SEG_HEAD_UPER = 0,
    VSSM_SEG_HEAD_FPN,
} vssm_seg_head_kind;

#define VSSM_SEG_MAX_POOL 8
#define VSSM_SEG_MAX_POOL_SCALE 64 /* a pool scale's largest side (mmseg's UperNets: 1, 2, 3, 6) */
#define VSSM_SEG_MAX_SIDE 32768    /* the largest resize side, crop or stride */
typedef struct vssm_seg_head_config {
    vssm_seg_head_kind kind;
    int in_channels[4]; /* the backbone's dims */
    int channels;       /* 512 for the released UperNets */
    int num_classes;
    int n_pool; /* UPerHead: number of pool scales (4) */
    int pool_scales[VSSM_SEG_MAX_POOL];
} vssm_seg_head_config;

typedef struct vssm_seg_head vssm_seg_head;

/* The head's kind, channels, classes and number of pool scales from tensor shapes under
 * prefix; in_channels must be set by the caller (the backbone's dims); pool scales default
 * to 1,2,3,6 (shapes cannot tell them). */
VSSM_API vssm_status vssm_seg_head_config_infer(const vssm_source *src, const char *prefix, vssm_seg_head_config *cfg,
                                                vssm_err *err);
/* ctx must be a CPU context. Shapes are checked against cfg; BN folded into the convs. */
VSSM_API vssm_status vssm_seg_head_load(vssm_seg_head **out, vssm_ctx *ctx, const vssm_seg_head_config *cfg,
                                        const vssm_source *src, const char *prefix, vssm_err *err);
VSSM_API void vssm_seg_head_free(vssm_seg_head *h);
VSSM_API const vssm_seg_head_config *vssm_seg_head_get_config(const vssm_seg_head *h);
/* feats: 4 host tensors (B, Hi, Wi, Ci) f32 NHWC (strides 4..32, or all one size). logits: host
 * (B, H0, W0, classes) NHWC at the size of feats[0]. */
VSSM_API vssm_status vssm_seg_head_forward(vssm_seg_head *h, const vssm_tensor *feats, int n_feats, float *logits,
                                           vssm_err *err);

/* ------------------------------------------------------------------ resampling helpers */
/* torch F.interpolate(mode='bilinear', align_corners=False) of x (B, h, w, C) NHWC to
 * (B, oh, ow, C). x_stride / y_stride: floats between consecutive pixels (>= C; lets the
 * result land in a channel slice of a wider buffer). accumulate: y += instead of y =. */
VSSM_API void vssm_resize_bilinear_f32(const float *x, int B, int h, int w, int C, int x_stride, int oh, int ow,
                                       float *y, int y_stride, int accumulate);
/* cv2.resize(src, (out_w, out_h), interpolation=cv2.INTER_LINEAR) on uint8 images with
 * OpenCV's fixed-point arithmetic (11-bit coefficients, no antialiasing, the rounding of
 * its vectorised vertical pass) and its special case: an exact 2x downscale in both
 * directions is INTER_AREA (2x2 means). dst is allocated. */
VSSM_API vssm_status vssm_image_resize_cv2(const vssm_image *src, int out_w, int out_h, vssm_image *dst, vssm_err *err);
/* mmcv.imrescale's size for Resize(scale=(scale_long, scale_short), keep_ratio=True)
 * (0 x 0 for an empty image; w x h when a scale is <= 0). */
VSSM_API void vssm_seg_rescale_size(int w, int h, int scale_long, int scale_short, int *out_w, int *out_h);
/* Sliding windows: number of windows along a side of n pixels (1 for a stride < 1), and
 * window i's [a, b). */
VSSM_API int vssm_seg_slide_grids(int n, int crop, int stride);
VSSM_API void vssm_seg_slide_window(int n, int crop, int stride, int i, int *a, int *b);

/* ------------------------------------------------------------------ the segmenter */
typedef enum vssm_seg_mode {
    VSSM_SEG_MODE_WHOLE = 0,
    VSSM_SEG_MODE_SLIDE,
} vssm_seg_mode;

typedef struct vssm_seg_preprocess {
    int scale_long, scale_short; /* 0,0 = feed the image at its own size */
    float mean[3], std[3];       /* 0..255 units, RGB */
    vssm_seg_mode mode;
    int crop, stride; /* slide mode (square windows) */
} vssm_seg_preprocess;

typedef struct vssm_segmenter_opts {
    const char *arch; /* NULL: metadata or shapes */
    const char *key;  /* .pth dict: NULL = "model" then "state_dict" */
} vssm_segmenter_opts;

typedef struct vssm_segmenter vssm_segmenter;

VSSM_API vssm_status vssm_segmenter_load(vssm_segmenter **out, vssm_ctx *ctx, const char *path,
                                         const vssm_segmenter_opts *opts, vssm_err *err);
/* From an open source (tests, benchmarks): a VMamba backbone under bb_prefix, head under
 * head_prefix; outnorms are used when present. Preprocessing from the source's metadata.
 * (vssm_segmenter_load reads either backbone from a file.) */
VSSM_API vssm_status vssm_segmenter_from_source(vssm_segmenter **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                                const vssm_source *src, const char *bb_prefix, const char *head_prefix,
                                                vssm_err *err);
VSSM_API void vssm_segmenter_free(vssm_segmenter *s);
VSSM_API int vssm_segmenter_classes(const vssm_segmenter *s);
VSSM_API const char *vssm_segmenter_class_name(const vssm_segmenter *s, int c);
VSSM_API const uint8_t *vssm_segmenter_palette(const vssm_segmenter *s); /* 256 RGB triplets */
VSSM_API vssm_seg_preprocess vssm_segmenter_get_preprocess(const vssm_segmenter *s);
VSSM_API vssm_status vssm_segmenter_set_preprocess(vssm_segmenter *s, const vssm_seg_preprocess *pp, vssm_err *err);
VSSM_API const vssm_seg_head_config *vssm_segmenter_head_config(const vssm_segmenter *s);
/* The dataset convention the file states (seg_reduce_zero_label / seg_ignore_index); -1 when absent. */
VSSM_API int vssm_segmenter_reduce_zero_label(const vssm_segmenter *s);

/* Network only: x host (H, W, 3) f32 normalised -> logits host (H, W, classes) at the
 * input size (encode_decode: head logits resized to (H, W)). */
VSSM_API vssm_status vssm_segmenter_encode_decode(vssm_segmenter *s, const float *x, int H, int W, float *logits,
                                                  vssm_err *err);
/* Network on a normalised input with the segmenter's mode (whole or slide): logits host
 * (H, W, classes). */
VSSM_API vssm_status vssm_segmenter_infer(vssm_segmenter *s, const float *x, int H, int W, float *logits,
                                          vssm_err *err);
/* The whole pipeline for one RGB image: labels (im->h * im->w) class indices (classes
 * <= 256). logits_out (may be NULL): host (im->h, im->w, classes) before the argmax. */
VSSM_API vssm_status vssm_segmenter_predict(vssm_segmenter *s, const vssm_image *im, float *logits_out, uint8_t *labels,
                                            vssm_err *err);

#ifdef __cplusplus
}
#endif
#endif
