/* vssm/vim.h - the Vision Mamba (Vim) backbone, as released by hustvl/Vim
 * (vim/models_mamba.py, "*_bimambav2_final_pool_mean_abs_pos_embed_with_midclstok_div2").
 *
 * image (B, H, W, 3) f32, NHWC, already normalised
 *   -> patch embed: conv P x P, stride S (16/16, or 16/8), no padding: grid gh x gw,
 *      gh = (H - P)/S + 1, tokens row-major                                  (M = gh*gw)
 *   -> class token inserted at index M/2 (integer division), + position embedding
 *   -> depth blocks: x = x + Mixer(RMSNorm(x))   (fp32 residual; bidirectional Mamba v2)
 *   -> norm_f (RMSNorm) -> class token (B, D) for the head; the other M tokens form the
 *      feature map (B, gh, gw, D) NHWC (stride S).
 *
 * Position embedding at another size: the stored pos_embed (1, M0 + 1, D) has its class
 * row at M0/2; for a grid gh x gw != the training grid, the class row is taken out, the
 * gh0 x gw0 grid rows are resampled with bicubic interpolation exactly as torch's
 * F.interpolate(mode='bicubic', align_corners=False) (Keys A = -0.75, border indices
 * clamped, NO antialias: timm's resample_abs_pos_embed passes antialias=True, which only
 * differs when the grid shrinks), and the class row is put back at M/2. This is done once
 * per state (per input size) on the host.
 *
 *     vssm_vim_config cfg; vssm_vim_config_preset(&cfg, "vim-tiny", &err);
 *     vssm_vim *m; vssm_vim_load(&m, ctx, &cfg, src, "", &err);
 *     vssm_vim_state *st; vssm_vim_state_new(&st, m, B, H, W, &err);   // all activations, once
 *     vssm_vim_forward(m, st, image_nhwc, &err);
 *     vssm_tensor cls = vssm_vim_cls(st);        // (B, D): the classifier's input (vssm/heads.h)
 *     vssm_tensor f = vssm_vim_feature(st);      // (B, gh, gw, D): for seg / re-ID / tracking heads
 *
 * Segmentation backbone (hustvl/Vim seg/backbone/vim.py, VisionMambaSeg): the same blocks
 * without a class token (no_cls_token; its pos_embed has no class row), and the outputs
 * of chosen blocks (out_indices, e.g. 5, 11, 17, 23 of 24) kept for a dense head:
 * vssm_vim_out(st, k) is the mixer output of block out_indices[k] as a (B, gh, gw, D) map.
 *
 * One-stream tracking (OSTrack's use of a plain ViT): template and search images are
 * patch-embedded separately, each gets the position embedding resampled to its own grid
 * (class row dropped; no class token in the sequence, as OSTrack's default), the tokens
 * are concatenated [template, search] and run through the blocks as one sequence;
 * vssm_vim_feature then returns the search-region tokens (B, gh_x, gw_x, D).
 *
 * A state is tied to one (model, batch, size); a model and its states are used by one
 * thread at a time. Errors are values (vssm/common.h); nothing prints.
 */
#ifndef VSSM_VIM_H
#define VSSM_VIM_H

#include "vssm/common.h"
#include "vssm/ctx.h"
#include "vssm/source.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VSSM_VIM_MAX_OUT 8

typedef struct vssm_vim_config {
    char arch[48];  /* "vim-tiny", "vim-small", "vim-base", "vim-tiny-stride8", "vim-small-stride8", or "custom" */
    int in_chans;   /* 3 */
    int patch_size; /* P: 16 */
    int stride;     /* S: 16, or 8 for the stride-8 models */
    int pos_grid_h, pos_grid_w; /* the training grid of pos_embed (14 x 14 at 224, patch 16) */
    int embed_dim;              /* d_model: 192 tiny, 384 small, 768 base */
    int depth;                  /* 24 */
    int d_inner;                /* expand * d_model (expand 2) */
    int d_state;                /* 16 */
    int dt_rank;                /* 0 = auto: ceil(d_model / 16) */
    int d_conv;                 /* 4 */
    int num_classes;            /* head outputs; 0 = no head */
    /* variant switches of the official VisionMamba; only the released one is supported,
     * others are refused by vssm_vim_config_validate with a message naming them */
    char bimamba_type[8]; /* "v2" */
    int rms_norm;         /* 1 (RMSNorm; 0 = LayerNorm, unsupported) */
    int cls_token_middle; /* 1 (middle class token; 0 = unsupported) */
    int divide_out;       /* 1: out_proj((y_f + y_b) / 2) ("div2"); 0: without / 2 */
    float norm_eps;       /* 1e-5 */
    /* the segmentation backbone (hustvl/Vim seg/backbone/vim.py, VisionMambaSeg) */
    int no_cls_token;                  /* 1: no class token in the sequence: pos_embed is (1, M0, D) without a
                               class row, there is no head, vssm_vim_cls is empty (0: the default) */
    int n_out;                         /* 0..VSSM_VIM_MAX_OUT blocks whose outputs each forward keeps */
    int out_indices[VSSM_VIM_MAX_OUT]; /* block i's output = its mixer's output, the block's
                               increment to the residual stream (VisionMambaSeg's out_indices
                               features: the `hidden_states` a block returns, neither the
                               stream nor normed); vssm_vim_out(st, k) */
} vssm_vim_config;

/* Presets (1000 classes, 224 training size): vim-tiny (192), vim-small (384), vim-base
 * (768), vim-tiny-stride8, vim-small-stride8 (27 x 27 grid). */
VSSM_API vssm_status vssm_vim_config_preset(vssm_vim_config *cfg, const char *name, vssm_err *err);
/* The presets by index, 0 .. count - 1 (NULL past the end). */
VSSM_API int vssm_vim_preset_count(void);
VSSM_API const char *vssm_vim_preset_name(int i);
VSSM_API vssm_status vssm_vim_config_validate(const vssm_vim_config *cfg, vssm_err *err);
VSSM_API int vssm_vim_dt_rank(const vssm_vim_config *cfg);
/* Patch grid of an h x w input; 0 x 0 when smaller than one patch. */
VSSM_API void vssm_vim_grid(const vssm_vim_config *cfg, int h, int w, int *gh, int *gw);
/* Multiply-adds of one forward (backbone + head) per image at h x w. */
VSSM_API double vssm_vim_macs(const vssm_vim_config *cfg, int h, int w);
VSSM_API int64_t vssm_vim_param_count(const vssm_vim_config *cfg); /* with the head */

/* Resamples the position embedding (host memory): pos (gh0*gw0 + 1, D) with the class row
 * at (gh0*gw0)/2 -> out (gh*gw + 1, D) with the class row at (gh*gw)/2, as described at
 * the top of this file. Equal grids copy. */
VSSM_API void vssm_vim_pos_resample(const float *pos, int gh0, int gw0, int D, int gh, int gw, float *out);

typedef struct vssm_vim vssm_vim;
typedef struct vssm_vim_state vssm_vim_state;

/* Loads the backbone (and the head "head.weight/bias" when cfg->num_classes > 0) from src
 * under official names ("patch_embed.proj.weight", "layers.0.mixer.in_proj.weight", ...),
 * each prefixed by prefix; every shape is checked against cfg (VSSM_ERR_SHAPE names the
 * first tensor that differs). Weights are converted to f32 and uploaded once. */
VSSM_API vssm_status vssm_vim_load(vssm_vim **out, vssm_ctx *ctx, const vssm_vim_config *cfg, const vssm_source *src,
                                   const char *prefix, vssm_err *err);
VSSM_API void vssm_vim_free(vssm_vim *m);
VSSM_API const vssm_vim_config *vssm_vim_get_config(const vssm_vim *m);
VSSM_API vssm_ctx *vssm_vim_ctx(const vssm_vim *m);

/* Plans every activation buffer for (batch, h, w); VSSM_ERR_SHAPE when the input is
 * smaller than one patch. */
VSSM_API vssm_status vssm_vim_state_new(vssm_vim_state **out, vssm_vim *m, int batch, int h, int w, vssm_err *err);
/* One-stream mode: template zh x zw and search xh x xw. */
VSSM_API vssm_status vssm_vim_state_new_onestream(vssm_vim_state **out, vssm_vim *m, int batch, int zh, int zw, int xh,
                                                  int xw, vssm_err *err);
VSSM_API void vssm_vim_state_free(vssm_vim_state *st);
VSSM_API size_t vssm_vim_state_bytes(const vssm_vim_state *st);

/* input: host (B, H, W, in_chans) f32 NHWC. A one-stream state refuses it (and vice versa). */
VSSM_API vssm_status vssm_vim_forward(vssm_vim *m, vssm_vim_state *st, const float *input, vssm_err *err);
/* template: host (B, zh, zw, C), search: host (B, xh, xw, C). */
VSSM_API vssm_status vssm_vim_forward_onestream(vssm_vim *m, vssm_vim_state *st, const float *templ,
                                                const float *search, vssm_err *err);
/* After a forward: the class token after norm_f, (B, D) on the ctx's device (empty
 * tensor for a one-stream state and for a model without a class token). */
VSSM_API vssm_tensor vssm_vim_cls(const vssm_vim_state *st);
/* The token grid after norm_f without the class token, (B, gh, gw, D) NHWC, stride S on
 * the ctx's device; the search region's grid in one-stream mode. */
VSSM_API vssm_tensor vssm_vim_feature(const vssm_vim_state *st);
/* After a forward: the output of block out_indices[k] (see vssm_vim_config) without the
 * class token's row, (B, gh, gw, D) NHWC on the ctx's device (the search region's grid in
 * one-stream mode); an empty tensor when k >= n_out. */
VSSM_API vssm_tensor vssm_vim_out(const vssm_vim_state *st, int k);
/* Debug taps for parity tests: "embed" (B, L, D) tokens after class insertion + pos,
 * "block0" the residual stream after layers.0 (both kept only in a state that asked for
 * them: two more (B, L, D) buffers, copied in every forward), "pos" (L, D) the position
 * embedding used (always). Valid after a forward; empty when not kept. */
VSSM_API vssm_status vssm_vim_state_keep_taps(vssm_vim_state *st, vssm_err *err);
VSSM_API vssm_tensor vssm_vim_tap(const vssm_vim_state *st, const char *name);

/* ---- a Vim config from a weights file (backbone/infer_vim.c) ----
 * Everything is recovered from shapes: embed_dim, patch size and in_chans from
 * patch_embed.proj.weight, depth from the layer indices, d_inner/d_state/dt_rank/d_conv
 * from the first mixer, classes from head.weight; the pos_embed length gives the
 * training grid (a square is assumed; metadata "pos_grid" overrides); the stride is 16
 * unless the grid matches a 224 or 384 input at stride P/2 (27 x 27 at 224: stride 8);
 * metadata "stride" overrides. Without a "cls_token" tensor the model is the segmentation
 * backbone (no_cls_token = 1; pos_embed then has no class row); metadata "out_indices"
 * ("5,11,17,23") sets n_out / out_indices (shapes cannot tell them). bimamba v1 (no
 * conv1d_b), LayerNorm (a norm bias), rotary position embedding ("rope.freqs_cos"), layer
 * scale and double class tokens are refused with VSSM_ERR_UNSUPPORTED. */
/* 1 when src holds a Vim under prefix ("..layers.0.mixer.in_proj.weight" + "..pos_embed"). */
VSSM_API int vssm_vim_detect(const vssm_source *src, char *prefix, size_t n);
VSSM_API vssm_status vssm_vim_config_infer(const vssm_source *src, const char *prefix, vssm_vim_config *cfg,
                                           vssm_err *err);
/* Metadata form (keys arch="vim-*", embed_dim, depth, d_state, d_inner, dt_rank, d_conv,
 * patch_size, stride, pos_grid "h,w", num_classes, in_chans, divide_out; cls_token "0" for
 * no_cls_token (absent: "1"), out_indices "i,j,..." when n_out > 0). */
VSSM_API void vssm_vim_config_to_meta(const vssm_vim_config *cfg, vssm_config_meta *out);
/* VSSM_ERR_FORMAT when the metadata does not describe a Vim. */
VSSM_API vssm_status vssm_vim_config_from_meta(const vssm_source *src, vssm_vim_config *cfg, vssm_err *err);

#ifdef __cplusplus
}
#endif
#endif
