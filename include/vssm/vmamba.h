/* vssm/vmamba.h - the VMamba backbone: VSSM v2 (forward type v05_noz) and the first release
 * (v0: 4x4 patch embed, z-gated SS2D with d_state 16, no MLP, patch merging).
 *
 * image (B, H, W, 3) f32, NHWC, already normalised
 *   -> patch embed (two stride-2 3x3 convs)           stride 4
 *   -> stage 0: depths[0] VSS blocks   -> feature C1   stride 4,  dims[0] channels
 *   -> downsample -> stage 1 ...       -> feature C2   stride 8
 *   -> ...                             -> features C3, C4 (strides 16, 32)
 * Each stride-2 conv (pad 1) maps a size n to ceil(n/2), so any H, W >= 1 is legal (v0: the
 * 4x4 stride-4 patch embed needs H, W >= 4; vssm_vmamba_config_stage_size).
 *
 * The backbone's public result is the list of per-stage feature maps, (B, Hi, Wi, Ci)
 * NHWC on the context's device. Heads (vssm/heads.h) take that list.
 *
 *     vssm_vmamba_config cfg; vssm_vmamba_config_preset(&cfg, "vmamba-tiny", &err);
 *     vssm_vmamba *m; vssm_vmamba_load(&m, ctx, &cfg, src, "", &err);
 *     vssm_vmamba_state *st; vssm_vmamba_state_new(&st, m, B, H, W, &err);  // all activations, once
 *     vssm_vmamba_forward(m, st, image_nhwc, &err);
 *     vssm_tensor c4 = vssm_vmamba_feature(st, 3);
 *
 * A state is tied to one (model, batch, height, width); make another for another size.
 * A model and its states are used by one thread at a time.
 */
#ifndef VSSM_VMAMBA_H
#define VSSM_VMAMBA_H

#include "vssm/common.h"
#include "vssm/ctx.h"
#include "vssm/source.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VSSM_VMAMBA_STAGES 4
#define VSSM_VMAMBA_K 4 /* scan directions */

typedef struct vssm_vmamba_config {
    char arch[48];                /* "vmamba-tiny", ... or "custom" */
    char forward_type[16];        /* "v05_noz" (the v2 releases) or "v0" (the first release) */
    int in_chans;                 /* 3 */
    int dims[VSSM_VMAMBA_STAGES]; /* C*[1,2,4,8] */
    int depths[VSSM_VMAMBA_STAGES];
    float ssm_ratio; /* d_inner = (int)(ssm_ratio * dim) */
    int d_state;     /* N */
    int dt_rank;     /* R; 0 = auto: ceil(dim/16) per stage */
    float mlp_ratio; /* 4.0 */
    int num_classes; /* classifier outputs; 0 = no classifier */
} vssm_vmamba_config;

/* Named presets (1000 classes): vmamba-tiny (s1l8), vmamba-tiny-s2l5, vmamba-small, vmamba-base,
 * vmamba-small-s1l20, vmamba-base-s1l20 (forward type v05_noz), and the first release
 * vmamba-v0-tiny, vmamba-v0-small, vmamba-v0-base (v0). */
VSSM_API vssm_status vssm_vmamba_config_preset(vssm_vmamba_config *cfg, const char *name, vssm_err *err);
/* The presets by index, 0 .. count - 1 (NULL past the end). */
VSSM_API int vssm_vmamba_preset_count(void);
VSSM_API const char *vssm_vmamba_preset_name(int i);
/* 1 when cfg is the first release's forward type (v0). */
VSSM_API int vssm_vmamba_is_v0(const vssm_vmamba_config *cfg);
/* Checks every field for range and consistency. */
VSSM_API vssm_status vssm_vmamba_config_validate(const vssm_vmamba_config *cfg, vssm_err *err);
VSSM_API int vssm_vmamba_d_inner(const vssm_vmamba_config *cfg, int stage);
VSSM_API int vssm_vmamba_dt_rank(const vssm_vmamba_config *cfg, int stage);
/* Spatial size of stage s for an h x w input, v05_noz: every stride-2 3x3 conv maps n to
 * ceil(n/2). vssm_vmamba_config_stage_size is the config's: v0's 4x4 stride-4 patch embed
 * maps n to floor(n/4), each 2x2 patch merging (zero-padded) to ceil(n/2). */
VSSM_API void vssm_vmamba_stage_size(int h, int w, int stage, int *hs, int *ws);
VSSM_API void vssm_vmamba_config_stage_size(const vssm_vmamba_config *cfg, int h, int w, int stage, int *hs, int *ws);
/* Multiply-adds of one forward (backbone + classifier) per image at h x w. */
VSSM_API double vssm_vmamba_macs(const vssm_vmamba_config *cfg, int h, int w);
VSSM_API int64_t vssm_vmamba_param_count(const vssm_vmamba_config *cfg);

typedef struct vssm_vmamba vssm_vmamba;
typedef struct vssm_vmamba_state vssm_vmamba_state;

/* Loads the backbone weights named as in the official checkpoints ("patch_embed.0.weight",
 * "layers.0.blocks.0.op.x_proj_weight", ...) from src, each prefixed by prefix (e.g.
 * "backbone."), checking every shape against cfg; weights are converted to f32, laid
 * out for the backend, and uploaded once. The classifier is not part of the backbone. */
VSSM_API vssm_status vssm_vmamba_load(vssm_vmamba **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                      const vssm_source *src, const char *prefix, vssm_err *err);
VSSM_API void vssm_vmamba_free(vssm_vmamba *m);
VSSM_API const vssm_vmamba_config *vssm_vmamba_get_config(const vssm_vmamba *m);
VSSM_API vssm_ctx *vssm_vmamba_ctx(const vssm_vmamba *m);

/* Plans and allocates every activation buffer for (batch, h, w). */
VSSM_API vssm_status vssm_vmamba_state_new(vssm_vmamba_state **out, vssm_vmamba *m, int batch, int h, int w,
                                           vssm_err *err);
VSSM_API void vssm_vmamba_state_free(vssm_vmamba_state *st);
VSSM_API size_t vssm_vmamba_state_bytes(const vssm_vmamba_state *st);
/* Tuning: a stage runs its batch in micro-batches of about this many tokens (default
 * 2048 on the CPU, the whole batch on a GPU; 1 = image by image). Results agree to float
 * rounding whatever the value. */
VSSM_API void vssm_vmamba_state_set_micro_tokens(vssm_vmamba_state *st, int64_t tokens);

/* input: host memory, (B, H, W, in_chans) f32 NHWC. */
VSSM_API vssm_status vssm_vmamba_forward(vssm_vmamba *m, vssm_vmamba_state *st, const float *input, vssm_err *err);
/* Stage s's output (before its downsample), (B, Hs, Ws, Cs) NHWC on the ctx's device. */
VSSM_API vssm_tensor vssm_vmamba_feature(const vssm_vmamba_state *st, int stage);
/* Debug taps for layer-wise parity tests: "patch_embed" (B, H/4, W/4, C) and
 * "block0" (output of layers.0.blocks.0). Kept only in a state that asked for them (two
 * more stage-0 maps, copied in every forward); valid after a forward, empty otherwise. */
VSSM_API vssm_status vssm_vmamba_state_keep_taps(vssm_vmamba_state *st, vssm_err *err);
VSSM_API vssm_tensor vssm_vmamba_tap(const vssm_vmamba_state *st, const char *name);

/* vssm_tensor_to_host (a device tensor to host memory) is in vssm/ctx.h. */

#ifdef __cplusplus
}
#endif
#endif
