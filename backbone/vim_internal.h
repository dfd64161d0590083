/* backbone/vim_internal.h - the Vim model's weights and activations (library-internal).
 * Reads like the paper's figure: patch embed + class token + position embedding ->
 * depth bidirectional Mamba blocks -> norm_f -> class token / token grid. */
#ifndef VSSM_VIM_INTERNAL_H
#define VSSM_VIM_INTERNAL_H

#include "backbone/load.h"
#include "kernels/ops.h"
#include "vssm/vim.h"

/* One direction of the v2 mixer (forward: conv1d, x_proj, ...; backward: the *_b set). */
typedef struct vssm_vim_dir_w {
    float *conv_w, *conv_b; /* (K, Di), (Di) */
    float *x_proj;          /* (R+2N, Di) */
    float *dt_w, *dt_b;     /* (R, Di) transposed at load, (Di) */
    float *A;               /* (N, Di) = -exp(A_log), transposed at load */
    float *Ds;              /* (Di) */
} vssm_vim_dir_w;

typedef struct vssm_vim_layer_w {
    float *norm_w;         /* (D) RMSNorm */
    float *in_proj;        /* (2Di, D): rows [0, Di) x, [Di, 2Di) z */
    vssm_vim_dir_w dir[2]; /* 0 forward, 1 backward */
    float *out_proj;       /* (D, Di), scaled by 1/2 at load for div2 (exact) */
} vssm_vim_layer_w;

struct vssm_vim {
    vssm_vim_config cfg;
    vssm_ctx *ctx;
    float *pe_w, *pe_b;       /* (D, C*P*P) laid out by vssm_op_linear_pack, (D) */
    float *cls;               /* (D); NULL without a class token */
    float *pos_dev;           /* (M0 [+1], D) as stored (unused on the device; kept for uniform loading) */
    float *pos_host;          /* (M0 [+1], D) host copy, resampled per state; + 1: the class row */
    vssm_vim_layer_w *layers; /* depth of them (host array) */
    float *norm_f;            /* (D) */
    void *arena;
    size_t arena_bytes;
    int64_t n_params;
};

struct vssm_vim_state {
    vssm_vim *m;
    int B, onestream;
    int H, W, gh, gw;              /* the image (search image in one-stream mode) and its grid */
    int zh, zw, zgh, zgw;          /* one-stream template and its grid */
    int64_t M, L;                  /* feature tokens per image, sequence length */
    int64_t cls_row;               /* class token's index, -1 in one-stream mode and without one */
    float *in, *in2;               /* (B, H, W, C); template (one-stream) */
    float *cols;                   /* (B*L, C*P*P) patches (class rows stay 0) */
    float *pos;                    /* (L, D) */
    float *x;                      /* (B*L, D) residual stream */
    float *ln;                     /* (B*L, D) normed; after the last block: the final tokens */
    float *xz;                     /* (B*L, 2Di) */
    float *u, *y;                  /* u: (2, B*L, Di), a direction each; y: (B*L, Di) */
    float *xdbl;                   /* (2, B*L, R+2N), a direction each */
    float *feat;                   /* (B, gh, gw, D) */
    float *cls;                    /* (B, D) */
    float *tap_embed, *tap_b0;     /* (B*L, D) copies */
    float *outs[VSSM_VIM_MAX_OUT]; /* (B, gh, gw, D): outputs of blocks out_indices[k] */
    size_t bytes;
};

/* The name table (backbone/load.h): visits every backbone tensor of cfg (a vssm_vim_config) with
 * its official name and shape, the slot in model (a vssm_vim whose layers array is allocated, or
 * NULL for counting: a dummy layer's slots) and the layout the forward wants; the loader and the
 * trainer (train/vim_train.c) walk it. */
int vssm_vim_walk(vssm_walker *w, const void *config, void *model);

#endif
