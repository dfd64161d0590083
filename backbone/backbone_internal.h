/* backbone/backbone_internal.h - the table each backbone family fills in (library-internal).
 *
 * Each model file exports one const table (vssm_vmamba_impl in vmamba.c, vssm_vim_impl in
 * vim.c) and backbone.c dispatches through it: which family a weights file holds, its
 * config, loading, planning, the forward pass, its features and its description. A new
 * backbone is one table, one entry in backbone.c's list of families and one member of the
 * spec's config union, not a branch in every function. */
#ifndef VSSM_BACKBONE_INTERNAL_H
#define VSSM_BACKBONE_INTERNAL_H

#include "vssm/backbone.h"
#include "vssm/image.h"
#include "vssm/source.h"
#include "vssm/vim.h"
#include "vssm/vmamba.h"

struct vssm_backbone_impl;

/* What a weights file holds: the family, the backbone's tensor-name prefix, its config and
 * the file's preprocessing. */
typedef struct vssm_backbone_spec {
    const struct vssm_backbone_impl *impl;
    char prefix[128];
    union {
        vssm_vmamba_config vmamba; /* num_classes: the classifier head in the file, 0 without */
        vssm_vim_config vim;
    } cfg;
    vssm_preprocess_params pp; /* the file's, else ImageNet's */
    int from_meta;             /* the config came from the file's metadata */
} vssm_backbone_spec;

/* `m` is the family's model (vssm_vmamba *, vssm_vim *), `st` its state. */
typedef struct vssm_backbone_impl {
    vssm_backbone_kind kind;
    const char *name;        /* "VMamba", "Vision Mamba" */
    const char *arch_prefix; /* preset and metadata arch names start with it: "vmamba", "vim" */
    /* --- which backbone, config, load */
    /* 1 when src holds this family (by its tensor names); prefix receives its prefix */
    int (*detect)(const vssm_source *src, char *prefix, size_t n);
    /* sp->impl is set, sp->pp holds ImageNet's defaults; fills prefix, config and pp from a
     * stated arch (NULL: none), the metadata or the shapes */
    vssm_status (*resolve)(const vssm_source *src, const char *arch, vssm_backbone_spec *sp, vssm_err *err);
    vssm_status (*load)(void **m, vssm_ctx *ctx, vssm_backbone_spec *sp, const vssm_source *src,
                        const vssm_backbone_opts *opts, vssm_err *err);
    void (*free)(void *m);
    /* d->kind, family, prefix, pp and from_meta are set: arch, num_classes and the config's
     * metadata pairs from a resolved spec */
    void (*describe)(const vssm_backbone_spec *sp, vssm_backbone_desc *d);
    /* --- description */
    const char *(*arch)(const void *m);
    vssm_ctx *(*ctx)(const void *m);
    int (*in_chans)(const void *m);
    int (*min_side)(const void *m);
    int (*num_classes)(const void *m);          /* the classifier head in the file */
    vssm_cls_input (*cls_input)(const void *m); /* what that head reads */
    int (*stages)(const void *m);
    int (*stage_channels)(const void *m, int s); /* s already range-checked */
    int (*stage_stride)(const void *m, int s);
    double (*stage_offset)(const void *m, int s);
    void (*stage_size)(const void *m, int h, int w, int s, int *hs, int *ws);
    double (*macs)(const void *m, int h, int w);
    int64_t (*params)(const void *m);
    size_t (*weight_bytes)(const void *m); /* the arena of its weights */
    /* --- plan, forward, features */
    vssm_status (*state_new)(void **st, void *m, int batch, int h, int w, vssm_err *err);
    void (*state_free)(void *st);
    size_t (*state_bytes)(const void *st);
    vssm_status (*forward)(void *m, void *st, const float *input, vssm_err *err);
    vssm_tensor (*feature)(const void *m, const void *st, int s); /* s already range-checked */
    vssm_tensor (*cls_token)(const void *m, const void *st);      /* VSSM_CLS_TOKEN families */
} vssm_backbone_impl;

extern const vssm_backbone_impl vssm_vmamba_impl;
extern const vssm_backbone_impl vssm_vim_impl;

/* k comma-separated numbers of a metadata value, whole text: into ints (whole numbers from 0 to
 * 1e6) or floats (finite); 0 where the text is anything else. */
int vssm_meta_numbers(const char *s, int k, int *ints, float *floats);

/* The preprocessing keys of the metadata (resize, crop, interpolation, mean, std); absent
 * keys keep what pp holds. */
vssm_status vssm_backbone_pp_from_meta(const vssm_source *src, vssm_preprocess_params *pp, vssm_err *err);

#endif
