/* vssm/infer.h - a VMamba config from a weights file: inferred from tensor shapes, checked
 * against a stated arch, and stored in / read from safetensors __metadata__.
 *
 *     vssm_vmamba_config cfg;
 *     if (vssm_vmamba_config_infer(src, "", &cfg, &err) != VSSM_OK) ...   // depths, dims, ...
 *     vssm_vmamba_config_check(&stated, src, "", &err);  // names the first tensor that differs
 *
 * Everything but the forward type is recoverable from shapes: dims from the block norms,
 * depths from the block indices, ssm_ratio from the depthwise conv, d_state and dt_rank
 * from x_proj/dt_projs, mlp_ratio from fc1, classes from classifier.head (0 without one).
 * forward_type is "v05_noz" when in_proj has d_inner outputs (no gate); "v0" (the first release)
 * for a 4x4 patch embed (patch_embed.0 (C, in, 4, 4), no patch_embed.5), patch merging
 * (layers.0.downsample.reduction) and a gated in_proj (2 d_inner outputs); "v05" for a gate
 * with the v2 stem (not run). A v0 file in the old names (patch_embed.proj, blocks.N.ln_1,
 * blocks.N.self_attention, norm, head) is read under today's names (weights/legacy_names.c).
 * arch is the preset whose config matches, else "custom".
 *
 * Metadata keys (all strings): arch, forward_type, dims "96,192,384,768", depths "2,2,8,2",
 * ssm_ratio, d_state, dt_rank, mlp_ratio, num_classes, in_chans; preprocessing: resize,
 * crop, interpolation, mean "0.485,0.456,0.406", std.
 */
#ifndef VSSM_INFER_H
#define VSSM_INFER_H

#include "vssm/common.h"
#include "vssm/source.h"
#include "vssm/image.h"
#include "vssm/vmamba.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Preprocessing is vssm_preprocess_params (vssm/image.h); this sets it to the ImageNet
 * evaluation preprocessing of the released VMamba models (256 / 224 / bicubic). */
VSSM_API void vssm_preprocess_default(vssm_preprocess_params *pp);

/* Infers the config of the VMamba whose tensors are named PREFIX + "patch_embed.0.weight",
 * ... in src (src->count and src->name_at are required). */
VSSM_API vssm_status vssm_vmamba_config_infer(const vssm_source *src, const char *prefix, vssm_vmamba_config *cfg,
                                              vssm_err *err);
/* Finds the prefix under which a VMamba backbone lives ("", "backbone.", "module.", ...):
 * writes it into buf; VSSM_ERR_FORMAT when no "...patch_embed.0.weight" exists. */
VSSM_API vssm_status vssm_vmamba_find_prefix(const vssm_source *src, char *buf, size_t n, vssm_err *err);
/* Checks every tensor the stated config needs (and that no extra blocks exist); on a
 * mismatch VSSM_ERR_SHAPE names the first offending tensor with both shapes. */
VSSM_API vssm_status vssm_vmamba_config_check(const vssm_vmamba_config *stated, const vssm_source *src,
                                              const char *prefix, vssm_err *err);

/* Metadata form. to_meta fills up to VSSM_CONFIG_META_MAX pairs into out (pp may be NULL:
 * no preprocessing keys); from_meta reads them back through src->meta (pp may be NULL;
 * absent preprocessing keys give the defaults). */
VSSM_API void vssm_vmamba_config_to_meta(const vssm_vmamba_config *cfg, const vssm_preprocess_params *pp,
                                         vssm_config_meta *out);
VSSM_API vssm_status vssm_vmamba_config_from_meta(const vssm_source *src, vssm_vmamba_config *cfg,
                                                  vssm_preprocess_params *pp, vssm_err *err);

#ifdef __cplusplus
}
#endif
#endif
