/* vssm/classifier.h - a ready-to-run image classifier: weights file -> config, backbone,
 * classification head, preprocessing and class names, in one object.
 *
 *     vssm_classifier *clf;
 *     if (vssm_classifier_load(&clf, ctx, "model.safetensors", NULL, &err) != VSSM_OK) ...
 *     vssm_preprocess_params pp = vssm_classifier_preprocess(clf);   // from the file's metadata
 *     ... decode + vssm_preprocess() each image into x (B, H, W, 3) ...
 *     vssm_classifier_forward(clf, x, B, H, W, logits, &err);       // logits (B, classes)
 *     const char *name = vssm_classifier_label(clf, argmax);
 *
 * The config comes from (in order): opts->arch (a preset, checked against every tensor),
 * the safetensors __metadata__ written by `vssm convert` or our training scripts, or
 * inference from tensor shapes (official .pth files). Class names come from
 * opts->labels_path (one per line), else the "labels" metadata (a JSON array), else the
 * built-in ImageNet-1k names when the head has 1000 outputs. Activations are planned
 * once per (batch, height, width) and kept until the size changes.
 *
 * The backbone is any family of vssm/backbone.h, found by its rules (a Vim is recognised by
 * a stated arch "vim-*", metadata arch "vim-*", or its tensor names
 * (layers.0.mixer.in_proj.weight + pos_embed) when no VMamba patch embed is present);
 * vssm_classifier_backbone gives it (kind, arch, config). The head is the one the family's
 * classifier uses: VMamba's LayerNorm + pool + linear ("classifier.*"), Vim's linear on the
 * class token ("head.*"). A Vim reads its class token, so any input at least one patch
 * large is accepted (the position embedding is resampled).
 */
#ifndef VSSM_CLASSIFIER_H
#define VSSM_CLASSIFIER_H

#include "vssm/backbone.h"
#include "vssm/common.h"
#include "vssm/ctx.h"
#include "vssm/image.h"
#include "vssm/vmamba.h"
#include "vssm/vim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vssm_classifier vssm_classifier;

typedef struct vssm_classifier_opts {
    const char *arch;        /* NULL: from metadata or tensor shapes */
    const char *key;         /* .pth: "model" (default) | "model_ema" | "state_dict" */
    const char *labels_path; /* NULL: from metadata / built-in */
} vssm_classifier_opts;

VSSM_API vssm_status vssm_classifier_load(vssm_classifier **out, vssm_ctx *ctx, const char *path,
                                          const vssm_classifier_opts *opts, vssm_err *err);
/* A classifier on an already loaded backbone (vssm/backbone.h; e.g. a model built from a
 * config on vssm_random_source_new for benchmarks): its family's head (see
 * vssm_backbone_cls_input) with vssm_backbone_num_classes outputs is read from src under
 * vssm_backbone_prefix. Takes bb, also on failure. ImageNet preprocessing, no class names
 * unless 1000 classes. */
VSSM_API vssm_status vssm_classifier_from_backbone(vssm_classifier **out, vssm_backbone *bb, const vssm_source *src,
                                                   vssm_err *err);
/* A classifier of a VMamba or Vim preset (arch: "vmamba-tiny", "vim-tiny", ...) whose backbone
 * and head come from src without a prefix, e.g. vssm_random_source_new's weights for benchmarks. */
VSSM_API vssm_status vssm_classifier_from_preset(vssm_classifier **out, vssm_ctx *ctx, const char *arch,
                                                 const vssm_source *src, vssm_err *err);
VSSM_API void vssm_classifier_free(vssm_classifier *c);
/* The backbone (owned by the classifier): its kind, arch, model and config. */
VSSM_API const vssm_backbone *vssm_classifier_backbone(const vssm_classifier *c);
/* Multiply-adds per image at h x w, and parameters (backbone + head), for either backbone. */
VSSM_API double vssm_classifier_macs(const vssm_classifier *c, int h, int w);
VSSM_API int64_t vssm_classifier_params(const vssm_classifier *c);
/* Bytes of activations planned for the last forward's (B, H, W); 0 before the first. */
VSSM_API size_t vssm_classifier_state_bytes(const vssm_classifier *c);
/* Bytes its weights (backbone + head) take on the context's device, as laid out there. */
VSSM_API size_t vssm_classifier_weight_bytes(const vssm_classifier *c);
VSSM_API vssm_preprocess_params vssm_classifier_preprocess(const vssm_classifier *c);
VSSM_API int vssm_classifier_classes(const vssm_classifier *c);
/* Class name i, or NULL when the model has no names. */
VSSM_API const char *vssm_classifier_label(const vssm_classifier *c, int i);
/* x: host (B, H, W, 3) f32, preprocessed; logits: host (B, classes). */
VSSM_API vssm_status vssm_classifier_forward(vssm_classifier *c, const float *x, int B, int H, int W, float *logits,
                                             vssm_err *err);
/* The smallest input side the network accepts: 1 (every stride-2 conv maps n to
 * ceil(n/2) >= 1), documented so callers can refuse degenerate images early. */
#define VSSM_CLASSIFIER_MIN_SIDE 1

/* The built-in ImageNet-1k class names (weights/imagenet1k_labels.txt), 1000 entries. */
VSSM_API const char *const *vssm_imagenet1k_labels(void);

#ifdef __cplusplus
}
#endif
#endif
