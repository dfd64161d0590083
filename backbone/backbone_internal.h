/* backbone/backbone_internal.h - which backbone a weights file holds (library-internal):
 * shared by the backbone interface (backbone/backbone.c) and the classifier
 * (heads/classifier.c), so both read a file by the same rules (vssm/backbone.h). */
#ifndef VSSM_BACKBONE_INTERNAL_H
#define VSSM_BACKBONE_INTERNAL_H

#include "vssm/backbone.h"
#include "vssm/image.h"
#include "vssm/source.h"
#include "vssm/vim.h"
#include "vssm/vmamba.h"

typedef struct vssm_backbone_spec {
    int is_vim;
    char prefix[128];          /* tensor-name prefix of the backbone */
    vssm_vmamba_config cfg;    /* VMamba (num_classes: its classifier head, 0 without) */
    vssm_vim_config vcfg;      /* Vim */
    vssm_preprocess_params pp; /* the file's, else ImageNet's */
} vssm_backbone_spec;

/* What the backbone interface (backbone.c) needs of one model family: each model file
 * exports one const table (vssm_vmamba_impl in vmamba.c, vssm_vim_impl in vim.c) and
 * backbone.c dispatches through it, so a new backbone is one table, not a branch in every
 * function. `m` is the family's model (vssm_vmamba *, vssm_vim *), `st` its state. */
typedef struct vssm_backbone_impl {
    vssm_backbone_kind kind;
    const char *name;                                   /* "VMamba", "Vision Mamba" */
    void (*free)(void *m);
    const char *(*arch)(const void *m);
    vssm_ctx *(*ctx)(const void *m);
    int (*in_chans)(const void *m);
    int (*min_side)(const void *m);
    int (*stages)(const void *m);
    int (*stage_channels)(const void *m, int s);        /* s already range-checked */
    int (*stage_stride)(const void *m, int s);
    double (*stage_offset)(const void *m, int s);
    void (*stage_size)(const void *m, int h, int w, int s, int *hs, int *ws);
    double (*macs)(const void *m, int h, int w);
    vssm_status (*state_new)(void **st, void *m, int batch, int h, int w, vssm_err *err);
    void (*state_free)(void *st);
    size_t (*state_bytes)(const void *st);
    vssm_status (*forward)(void *m, void *st, const float *input, vssm_err *err);
    vssm_tensor (*feature)(const void *m, const void *st, int s);   /* s already range-checked */
} vssm_backbone_impl;

extern const vssm_backbone_impl vssm_vmamba_impl;
extern const vssm_backbone_impl vssm_vim_impl;

/* Kind, prefix, config and preprocessing of the backbone in src; arch: a stated preset
 * ("vmamba-*" / "vim-*", checked against the tensors by the loader) or NULL. */
vssm_status vssm_backbone_resolve(const vssm_source *src, const char *arch, vssm_backbone_spec *spec, vssm_err *err);

#endif
