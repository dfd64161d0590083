/* backbone/vmamba_internal.h - the model's weights and activations (library-internal).
 * Reads like the paper's figure: patch embed -> 4 stages of VSS blocks -> features. */
#ifndef VSSM_VMAMBA_INTERNAL_H
#define VSSM_VMAMBA_INTERNAL_H

#include "backbone/load.h"
#include "kernels/ops.h"
#include "vssm/vmamba.h"

/* One VSS block; every pointer is device memory inside the model's weight arena. */
typedef struct vssm_block_w {
    float *norm_w, *norm_b;         /* (d) */
    float *in_proj;                 /* (Di, d) (v0: (2Di, d): x, then the gate z); in_proj, out_proj,
                                      * fc1_w, fc2_w are laid out for vssm_op_linear_packed */
    float *conv;                    /* (3, 3, Di) depthwise */
    float *conv_b;                  /* (Di), v0 only */
    float *x_proj;                  /* (K*(R+2N), Di) */
    float *dt_w;                    /* (K, R, Di) */
    float *dt_b;                    /* (K, Di) */
    float *A;                       /* (K, N, Di) = -exp(A_logs) */
    float *Ds;                      /* (K, Di) */
    float *out_norm_w, *out_norm_b; /* (Di) */
    float *out_proj;                /* (d, Di) */
    float *norm2_w, *norm2_b;       /* (d) */
    float *fc1_w, *fc1_b;           /* (hid, d), (hid) */
    float *fc2_w, *fc2_b;           /* (d, hid), (d) */
} vssm_block_w;

typedef struct vssm_stage_w {
    vssm_block_w *blocks;         /* depths[s] of them (host array) */
    float *down_w, *down_b;       /* conv (d', 3, 3, d), (d'); stages 0..2 (v0: patch merging's
                                      * reduction (d', 4d) packed, no bias) */
    float *down_ln_w, *down_ln_b; /* (d') (v0: its LN over 4d, before the reduction) */
} vssm_stage_w;

struct vssm_vmamba {
    vssm_vmamba_config cfg;
    vssm_ctx *ctx;
    float *pe0_w, *pe0_b, *pe2_w, *pe2_b; /* conv 3x3 s2 in->C/2, LN (v0: conv 4x4 s4 in->C packed, LN) */
    float *pe5_w, *pe5_b, *pe7_w, *pe7_b; /* conv 3x3 s2 C/2->C, LN */
    vssm_stage_w stage[VSSM_VMAMBA_STAGES];
    void *arena; /* all weights, one device allocation */
    size_t arena_bytes;
    int64_t n_params;
};

struct vssm_vmamba_state {
    vssm_vmamba *m;
    int B, H, W;
    int h1, w1; /* after the first patch-embed conv */
    int hs[VSSM_VMAMBA_STAGES], ws[VSSM_VMAMBA_STAGES];
    float *in;                       /* (B, H, W, in_chans) */
    float *pe_mid;                   /* (B, h1, w1, C/2) (v0: 4x4 patches (B, hs0, ws0, 16 in)) */
    float *feat[VSSM_VMAMBA_STAGES]; /* (B, hs, ws, dims[s]): residual stream + result */
    float *ln;                       /* (B*L, d) max over stages */
    float *xi, *u, *y;               /* (B*L, Di) max (v0: xi (B*L, 2Di): x, z) */
    float *merge;                    /* v0: (B*L', 4d) max, the 2x2 gather of a patch merging */
    float *hid;                      /* (B*L, hidden) max */
    void *ws_mem;                    /* op workspace: max of conv and scan needs */
    float *tap_pe, *tap_b0;          /* debug taps (copies) */
    size_t bytes;
    int64_t micro_tokens; /* 0 = default (MICRO_TOKENS) */
};

/* The name table (backbone/load.h): visits every backbone tensor of cfg with its official
 * name and shape, the slot in model (a vssm_vmamba whose block arrays are allocated, or NULL
 * for counting) and the layout the forward wants; the loader and the trainer (train/) walk it. */
int vssm_vmamba_walk(vssm_walker *w, const void *config, void *model);

#endif
