/* vssm/heads.h - task heads that consume the backbone's per-stage features.
 *
 * A head owns its weights and its activation buffers (sized once per batch); it reads
 * the list of feature maps (B, Hi, Wi, Ci) and never looks inside the backbone.
 */
#ifndef VSSM_HEADS_H
#define VSSM_HEADS_H

#include "vssm/backbone.h"
#include "vssm/common.h"
#include "vssm/ctx.h"
#include "vssm/source.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- classification heads, by what they read (vssm_cls_input, vssm/backbone.h) ----
 * VSSM_CLS_POOLED: LayerNorm over channels -> global average pool -> linear on the last
 *   stage (B, H, W, in_dim); weights "classifier.norm.{weight,bias}" and
 *   "classifier.head.{weight,bias}" (prefixed): VMamba's `classifier`.
 * VSSM_CLS_TOKEN: linear on the class token (B, in_dim); weights "head.{weight,bias}": Vim's. */
typedef struct vssm_cls_head vssm_cls_head;

VSSM_API vssm_status vssm_cls_head_load(vssm_cls_head **out, vssm_ctx *ctx, vssm_cls_input kind, int in_dim,
                                        int num_classes, const vssm_source *src, const char *prefix, vssm_err *err);
VSSM_API void vssm_cls_head_free(vssm_cls_head *h);
VSSM_API int vssm_cls_head_classes(const vssm_cls_head *h);
/* Bytes of its weights on the context's device (fp32 at either precision). */
VSSM_API size_t vssm_cls_head_weight_bytes(const vssm_cls_head *h);
/* feats: the backbone's stage list or the class token (the last one is used); n_feats its length.
 * logits: host memory, (B, num_classes). Buffers are (re)planned when B or the feature
 * size changes, so steady-state calls allocate nothing. */
VSSM_API vssm_status vssm_cls_head_forward(vssm_cls_head *h, const vssm_tensor *feats, int n_feats, float *logits,
                                           vssm_err *err);

#ifdef __cplusplus
}
#endif
#endif
