/* backbone/backbone_internal.h - which backbone a weights file holds (library-internal):
 * shared by the backbone interface (backbone/backbone.c) and the classifier
 * (heads/classifier.c), so both read a file by the same rules (vssm/backbone.h). */
#ifndef VSSM_BACKBONE_INTERNAL_H
#define VSSM_BACKBONE_INTERNAL_H

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

/* Kind, prefix, config and preprocessing of the backbone in src; arch: a stated preset
 * ("vmamba-*" / "vim-*", checked against the tensors by the loader) or NULL. */
vssm_status vssm_backbone_resolve(const vssm_source *src, const char *arch, vssm_backbone_spec *spec, vssm_err *err);

#endif
