/* vssm/backbone.h - one interface over both backbones, so every head takes either: a VMamba
 * (hierarchical: four stages) or a Vision Mamba (plain: one token grid).
 *
 *     vssm_backbone *bb;
 *     vssm_preprocess_params pp;
 *     if (vssm_backbone_load_file(&bb, ctx, "w.pth", NULL, &pp, &err) != VSSM_OK) ...  // VMamba or Vim
 *     vssm_backbone_state *st;
 *     vssm_backbone_state_new(&st, bb, B, H, W, &err);      // all activations, once per size
 *     vssm_backbone_forward(bb, st, x, &err);               // x: host (B, H, W, 3) f32, preprocessed
 *     for (int s = 0; s < vssm_backbone_stages(bb); s++) {
 *         vssm_tensor f = vssm_backbone_feature(st, s);     // (B, Hs, Ws, Cs) NHWC, ctx's device
 *         ...
 *     }
 *
 * Stages (what a head sees):
 *   VMamba  four stages, s = 0..3: vssm_vmamba_feature(st, s), dims[s] channels, stride 4 << s;
 *           a map of n pixels has ceil(n / stride) cells; cell f is centred at continuous
 *           input coordinate stride * f + 0.5 (the centre of the stride-2 3x3 conv chain).
 *   Vim     plain: by default ONE stage, the final token grid after norm_f without the class
 *           token, vssm_vim_feature: (B, gh, gw, D) at the patch stride S (16 for the released
 *           models; gh = (H - P) / S + 1); cell f covers input pixels S*f .. S*f + P - 1, centre
 *           S*f + P/2. With out_indices (vssm_backbone_opts, or the config's / metadata's), the
 *           stages are instead the outputs of those blocks (VisionMambaSeg's features for a
 *           dense head), in the order given: n stages of the same (B, gh, gw, D) grid.
 *   A head that needs a hierarchy (UPerHead) gets it from the Vim segmentation neck
 *   (vssm/segment.h); heads that read one map (re-ID: the last stage; tracking: a chosen
 *   stage) take the token grid as it is.
 *
 * Loading: the backbone kind, its tensor-name prefix and its config come from (in order)
 * opts->arch (a preset: "vmamba-*" or "vim-*", checked against every tensor), the
 * safetensors __metadata__ (arch, ...), or the tensor names and shapes (official .pth
 * files; a Vim is recognised by "layers.0.mixer.in_proj.weight" + "pos_embed" when no
 * VMamba "patch_embed.0.weight" is present), exactly as vssm/classifier.h. The file's
 * preprocessing (metadata resize/crop/interpolation/mean/std, else ImageNet's) is returned
 * in pp. Tensors that belong to a head (classifier, BNNeck, decode head) are left alone;
 * heads read them from the same file under vssm_backbone_prefix.
 *
 * A backbone and its states are used by one thread at a time; a state is tied to one
 * (backbone, batch, height, width). Errors are values; nothing prints.
 */
#ifndef VSSM_BACKBONE_H
#define VSSM_BACKBONE_H

#include "vssm/common.h"
#include "vssm/ctx.h"
#include "vssm/image.h"
#include "vssm/source.h"
#include "vssm/vim.h"
#include "vssm/vmamba.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VSSM_BACKBONE_MAX_STAGES 8

typedef enum vssm_backbone_kind {
    VSSM_BACKBONE_VMAMBA = 0,
    VSSM_BACKBONE_VIM,
} vssm_backbone_kind;

/* What the backbone family's classification head reads (vssm/heads.h). */
typedef enum vssm_cls_input {
    VSSM_CLS_POOLED = 0, /* the last stage (B, H, W, C): LayerNorm, average pool, linear (VMamba's `classifier`) */
    VSSM_CLS_TOKEN,      /* the class token (B, D) after the final norm: linear (Vim's `head`) */
} vssm_cls_input;

typedef struct vssm_backbone vssm_backbone;
typedef struct vssm_backbone_state vssm_backbone_state;

typedef struct vssm_backbone_opts {
    const char *arch; /* NULL: metadata or tensor shapes */
    const char *key;  /* .pth sub-dict: "model" (default), "model_ema", "state_dict" */
    /* Vim only: blocks whose outputs become the stages (VisionMambaSeg's out_indices);
     * n_out 0 keeps the file's (metadata "out_indices"), else the final token grid */
    int n_out;
    int out_indices[VSSM_VIM_MAX_OUT];
    /* for a dense head of this many levels (0: none): a plain backbone (Vim) with n_out 0
     * keeps the file's out_indices, else the last block of each of dense_levels equal parts
     * (5, 11, 17, 23 of 24 for 4: the official segmentation configs) */
    int dense_levels;
} vssm_backbone_opts;

/* What a weights source holds, found by the loaders' rules without loading anything: the
 * family, arch, tensor-name prefix, classifier outputs, the file's preprocessing, and the
 * config as metadata pairs (what `vssm convert` writes so that the file states its config;
 * the preprocessing keys are not among them). */
#define VSSM_BACKBONE_META_MAX 24
typedef struct vssm_backbone_desc {
    vssm_backbone_kind kind;
    const char *family; /* "VMamba", "Vision Mamba" */
    char arch[64];      /* a preset name or "custom" */
    char prefix[128];
    int num_classes; /* 0: no classifier head in the file */
    int from_meta;   /* 1: the config is the one the file's metadata states */
    vssm_preprocess_params pp;
    int n_meta;
    char meta_key[VSSM_BACKBONE_META_MAX][24];
    char meta_value[VSSM_BACKBONE_META_MAX][96];
} vssm_backbone_desc;
/* arch: a stated preset (checked against the tensors) or NULL. */
VSSM_API vssm_status vssm_backbone_describe(const vssm_source *src, const char *arch, vssm_backbone_desc *d,
                                            vssm_err *err);

/* Opens the file, finds and loads the backbone (see the top of this file), closes it.
 * pp (may be NULL) receives the file's preprocessing. Errors are prefixed with the path. */
VSSM_API vssm_status vssm_backbone_load_file(vssm_backbone **out, vssm_ctx *ctx, const char *path,
                                             const vssm_backbone_opts *opts, vssm_preprocess_params *pp, vssm_err *err);
/* The same from an open source (which may be closed after the call: weights are copied). */
VSSM_API vssm_status vssm_backbone_load_source(vssm_backbone **out, vssm_ctx *ctx, const vssm_source *src,
                                               const vssm_backbone_opts *opts, vssm_preprocess_params *pp,
                                               vssm_err *err);
/* A VMamba alone from a weights file, by the same rules (a file holding another family is
 * VSSM_ERR_UNSUPPORTED); cfg and pp (either may be NULL) receive its config and preprocessing. */
VSSM_API vssm_status vssm_vmamba_load_file(vssm_vmamba **out, vssm_ctx *ctx, const char *path,
                                           const vssm_backbone_opts *opts, vssm_vmamba_config *cfg,
                                           vssm_preprocess_params *pp, vssm_err *err);
/* From a known config on an open source (e.g. vssm_random_source_new for benchmarks and
 * tests): the family's model loaded under prefix and wrapped. */
VSSM_API vssm_status vssm_backbone_from_vmamba_config(vssm_backbone **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                                      const vssm_source *src, const char *prefix, vssm_err *err);
VSSM_API vssm_status vssm_backbone_from_vim_config(vssm_backbone **out, vssm_ctx *ctx, const vssm_vim_config *cfg,
                                                   const vssm_source *src, const char *prefix, vssm_err *err);
/* Wraps an already loaded model; own = 1 hands it over (freed with the backbone), 0 leaves
 * it the caller's (free it after the backbone). */
VSSM_API vssm_status vssm_backbone_wrap_vmamba(vssm_backbone **out, vssm_vmamba *m, int own, vssm_err *err);
VSSM_API vssm_status vssm_backbone_wrap_vim(vssm_backbone **out, vssm_vim *m, int own, vssm_err *err);
VSSM_API void vssm_backbone_free(vssm_backbone *b);

VSSM_API vssm_backbone_kind vssm_backbone_get_kind(const vssm_backbone *b);
/* "vmamba-tiny", "vim-small", "custom", ... */
VSSM_API const char *vssm_backbone_arch(const vssm_backbone *b);
/* The wrapped model: one of them is NULL. */
VSSM_API vssm_vmamba *vssm_backbone_vmamba(const vssm_backbone *b);
VSSM_API vssm_vim *vssm_backbone_vim(const vssm_backbone *b);
VSSM_API vssm_ctx *vssm_backbone_ctx(const vssm_backbone *b);
/* Tensor-name prefix of the backbone in the file it came from ("", "backbone.", ...; "" when wrapped). */
VSSM_API const char *vssm_backbone_prefix(const vssm_backbone *b);
VSSM_API int vssm_backbone_in_chans(const vssm_backbone *b);
/* The smallest input side: 1 (VMamba), the patch size (Vim). */
VSSM_API int vssm_backbone_min_side(const vssm_backbone *b);

VSSM_API int vssm_backbone_stages(const vssm_backbone *b);
/* Stage s (0 <= s < stages): channels, nominal stride (input pixels per cell), the
 * continuous input coordinate of cell 0's centre (cell f: stride * f + offset), and the map
 * size for an h x w input (0 x 0 when the input is too small). */
VSSM_API int vssm_backbone_stage_channels(const vssm_backbone *b, int s);
VSSM_API int vssm_backbone_stage_stride(const vssm_backbone *b, int s);
VSSM_API double vssm_backbone_stage_offset(const vssm_backbone *b, int s);
VSSM_API void vssm_backbone_stage_size(const vssm_backbone *b, int h, int w, int s, int *hs, int *ws);
/* Multiply-adds per image at h x w and parameters, including the classifier head the file
 * holds (num_classes outputs). */
VSSM_API double vssm_backbone_macs(const vssm_backbone *b, int h, int w);
VSSM_API int64_t vssm_backbone_params(const vssm_backbone *b);
/* Bytes the backbone's weights take on the context's device, as laid out there (the packed
 * products at the context's precision: bf16 halves them; 64-byte steps), + a Vim's host copy
 * of its position embedding; not the head's. */
VSSM_API size_t vssm_backbone_weight_bytes(const vssm_backbone *b);
/* Outputs of the classifier head in the file the backbone came from (0: none), and what
 * that head reads. */
VSSM_API int vssm_backbone_num_classes(const vssm_backbone *b);
VSSM_API vssm_cls_input vssm_backbone_cls_input(const vssm_backbone *b);

VSSM_API vssm_status vssm_backbone_state_new(vssm_backbone_state **out, vssm_backbone *b, int batch, int h, int w,
                                             vssm_err *err);
VSSM_API void vssm_backbone_state_free(vssm_backbone_state *st);
VSSM_API size_t vssm_backbone_state_bytes(const vssm_backbone_state *st);
VSSM_API int vssm_backbone_state_batch(const vssm_backbone_state *st);
/* input: host (B, H, W, in_chans) f32 NHWC. */
VSSM_API vssm_status vssm_backbone_forward(vssm_backbone *b, vssm_backbone_state *st, const float *input,
                                           vssm_err *err);
/* Stage s after a forward, (B, Hs, Ws, Cs) NHWC on the ctx's device; empty when s is out of range. */
VSSM_API vssm_tensor vssm_backbone_feature(const vssm_backbone_state *st, int s);
/* The class token (B, D) after a forward (VSSM_CLS_TOKEN backbones); empty otherwise. */
VSSM_API vssm_tensor vssm_backbone_cls_token(const vssm_backbone_state *st);

#ifdef __cplusplus
}
#endif
#endif
