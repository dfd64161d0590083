/* backbone/infer_vim.c - Vim configs from tensor names and shapes, and their metadata form
 * (vssm/vim.h). The tensors of an official checkpoint ('model' key of the released .pth):
 *   patch_embed.proj.{weight (D, C, P, P), bias}, cls_token (1, 1, D), pos_embed (1, M0+1, D),
 *   layers.i.norm.weight (D), layers.i.mixer.{in_proj.weight (2Di, D), conv1d.{weight (Di, 1, K),
 *   bias}, x_proj.weight (R+2N, Di), dt_proj.{weight (Di, R), bias}, A_log (Di, N), D, the same
 *   with _b (bimamba v2), out_proj.weight (D, Di)}, norm_f.weight, head.{weight, bias}.
 * The segmentation backbone (seg/backbone/vim.py, VisionMambaSeg, under "backbone." in an
 * mmseg checkpoint) deletes cls_token and the head and keeps pos_embed (1, M0, D). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vssm/vim.h"

static int get_t(const vssm_source *src, const char *prefix, const char *name, vssm_tensor *t) {
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return src->get(src->user, full, NULL, 0, t, NULL) == VSSM_OK;
}

/* The largest dimension inference accepts (16M): far above any real model, and small
 * enough that the int config fields and their sums and products cannot overflow. */
#define INFER_MAX_DIM ((int64_t)1 << 24)

static vssm_status need(const vssm_source *src, const char *prefix, const char *name, int ndim, vssm_tensor *t,
                        vssm_err *err) {
    char b[64];
    if (!get_t(src, prefix, name, t))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "not a Vim checkpoint: tensor '%s%s' is missing", prefix, name);
    if (t->ndim != ndim)
        return vssm_err_set(err, VSSM_ERR_SHAPE, "tensor '%s%s' has shape %s, expected %d dimensions", prefix, name,
                            vssm_shape_str(t->shape, t->ndim, b, sizeof b), ndim);
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] < 1 || t->shape[d] > INFER_MAX_DIM)
            return vssm_err_set(err, VSSM_ERR_SHAPE, "tensor '%s%s' has shape %s: every dimension must be 1 to %lld",
                                prefix, name, vssm_shape_str(t->shape, t->ndim, b, sizeof b), (long long)INFER_MAX_DIM);
    return VSSM_OK;
}

int vssm_vim_detect(const vssm_source *src, char *prefix, size_t n) {
    static const char key[] = "layers.0.mixer.in_proj.weight";
    const size_t kl = sizeof key - 1;
    const int count = src && src->count ? src->count(src->user) : 0;
    for (int i = 0; i < count; i++) {
        const char *nm = src->name_at(src->user, i);
        const size_t l = strlen(nm);
        if (l < kl || strcmp(nm + l - kl, key) != 0 || (l > kl && nm[l - kl - 1] != '.') || l - kl >= n) continue;
        char pre[256];
        if (l - kl >= sizeof pre) continue;
        memcpy(pre, nm, l - kl);
        pre[l - kl] = 0;
        vssm_tensor t;
        if (!get_t(src, pre, "pos_embed", &t) && !get_t(src, pre, "patch_embed.proj.weight", &t)) continue;
        if (prefix) memcpy(prefix, pre, l - kl + 1);
        return 1;
    }
    return 0;
}

static int count_layers(const vssm_source *src, const char *prefix) {
    char head[300];
    const size_t hl = (size_t)snprintf(head, sizeof head, "%slayers.", prefix);
    int depth = 0;
    for (int i = 0, n = src->count(src->user); i < n; i++) {
        const char *nm = src->name_at(src->user, i);
        if (strncmp(nm, head, hl) != 0) continue;
        char *end;
        long j = strtol(nm + hl, &end, 10);
        if (end != nm + hl && !strncmp(end, ".mixer.", 7) && j >= 0 && j < 100000 && j + 1 > depth) depth = (int)j + 1;
    }
    return depth;
}

/* metadata "out_indices" ("5,11,17,23"), when present */
static vssm_status out_indices_from_meta(const vssm_source *src, vssm_vim_config *cfg, vssm_err *err) {
    const char *v = src->meta ? src->meta(src->user, "out_indices") : NULL;
    if (!v) return VSSM_OK;
    int n = 0;
    const char *p = v;
    while (*p) {
        char *end;
        long i = strtol(p, &end, 10);
        if (end == p || n == VSSM_VIM_MAX_OUT || i < 0 || i > 1 << 20)
            return vssm_err_set(err, VSSM_ERR_FORMAT,
                                "metadata out_indices '%s' is not up to %d block indices 'i,j,...'", v,
                                VSSM_VIM_MAX_OUT);
        cfg->out_indices[n++] = (int)i;
        p = end;
        if (*p == ',') p++;
    }
    cfg->n_out = n;
    return VSSM_OK;
}

/* A metadata integer: the whole string, within [lo, hi]; 0 when it is not one. (strtol, not
 * atoi/sscanf, whose behaviour on out-of-range text is undefined.) */
static int meta_int(const char *v, long lo, long hi, int *out) {
    char *end;
    if (!v) return 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > hi) return 0;
    *out = (int)x;
    return 1;
}

/* "h,w" with both in [1, 2^20]. */
static int meta_pair(const char *v, int *h, int *w) {
    char *end;
    if (!v) return 0;
    long a = strtol(v, &end, 10);
    if (end == v || *end != ',' || a < 1 || a > (1L << 20)) return 0;
    const char *q = end + 1;
    long b = strtol(q, &end, 10);
    if (end == q || *end || b < 1 || b > (1L << 20)) return 0;
    *h = (int)a;
    *w = (int)b;
    return 1;
}

static const char *const preset_names[] = {"vim-tiny", "vim-small", "vim-base", "vim-tiny-stride8",
                                           "vim-small-stride8"};

/* the variants the tensor names reveal and this build does not run */
static vssm_status refuse_variants(const vssm_source *src, const char *prefix, vssm_vim_config *cfg, vssm_err *err) {
    vssm_tensor t;
    if (get_t(src, prefix, "cls_token_head", &t) || get_t(src, prefix, "cls_token_tail", &t))
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "Vim with two class tokens (use_double_cls_token: '%scls_token_head') is not supported",
                            prefix);
    if (get_t(src, prefix, "rope.freqs_cos", &t))
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "Vim with rotary position embedding (if_rope: '%srope.freqs_cos') is not supported",
                            prefix);
    if (!get_t(src, prefix, "layers.0.mixer.conv1d_b.weight", &t)) {
        snprintf(cfg->bimamba_type, sizeof cfg->bimamba_type,
                 get_t(src, prefix, "layers.0.mixer.A_b_log", &t) ? "v1" : "none");
        return vssm_err_set(
            err, VSSM_ERR_UNSUPPORTED,
            "Vim bimamba_type '%s' is not supported (only v2: '%slayers.0.mixer.conv1d_b.weight' is missing)",
            cfg->bimamba_type, prefix);
    }
    if (get_t(src, prefix, "layers.0.norm.bias", &t) || get_t(src, prefix, "norm_f.bias", &t))
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "Vim with rms_norm False (LayerNorm: '%slayers.0.norm.bias' exists) is not supported",
                            prefix);
    if (get_t(src, prefix, "layers.0.mixer.gamma", &t))
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "Vim with init_layer_scale ('%slayers.0.mixer.gamma') is not supported", prefix);
    return VSSM_OK;
}

/* the position grid (stated in the metadata, else square) and the patch stride */
static vssm_status grid_and_stride(const vssm_source *src, const char *prefix, vssm_vim_config *cfg, vssm_err *err) {
    vssm_tensor t;
    vssm_status s;
    char b[64];
    if ((s = need(src, prefix, "pos_embed", 3, &t, err))) return s;
    const int64_t M0 = t.shape[1] - !cfg->no_cls_token;
    const char *pg = src->meta ? src->meta(src->user, "pos_grid") : NULL;
    if (!(meta_pair(pg, &cfg->pos_grid_h, &cfg->pos_grid_w) && (int64_t)cfg->pos_grid_h * cfg->pos_grid_w == M0)) {
        const int g = (int)llround(sqrt((double)M0));
        if ((int64_t)g * g != M0 || M0 < 1)
            return vssm_err_set(
                err, VSSM_ERR_UNSUPPORTED,
                "pos_embed %s: %lld grid positions %s are not a square grid (metadata 'pos_grid' can state it)",
                vssm_shape_str(t.shape, 3, b, sizeof b), (long long)M0,
                cfg->no_cls_token ? "(no cls_token, so no class row)" : "(+ the cls_token's row)");
        cfg->pos_grid_h = cfg->pos_grid_w = g;
    }
    /* stride: P unless the grid is a 224 or 384 input at P/2 (the stride-8 models) */
    cfg->stride = cfg->patch_size;
    const int half = cfg->patch_size / 2;
    if (half >= 1 && cfg->pos_grid_h == cfg->pos_grid_w) {
        const int64_t side = (int64_t)(cfg->pos_grid_h - 1) * half + cfg->patch_size;
        const int64_t full = (int64_t)cfg->pos_grid_h * cfg->patch_size;
        if ((side == 224 || side == 384) && full != 224 && full != 384) cfg->stride = half;
    }
    const char *st = src->meta ? src->meta(src->user, "stride") : NULL;
    int iv;
    if (meta_int(st, 1, 1 << 20, &iv)) cfg->stride = iv;
    return VSSM_OK;
}

/* the preset whose shapes these are, else "custom" */
static void name_preset(vssm_vim_config *cfg) {
    snprintf(cfg->arch, sizeof cfg->arch, "custom");
    for (size_t k = 0; k < sizeof preset_names / sizeof preset_names[0]; k++) {
        vssm_vim_config p;
        vssm_vim_config_preset(&p, preset_names[k], NULL);
        if (p.embed_dim == cfg->embed_dim && p.depth == cfg->depth && p.stride == cfg->stride &&
            p.patch_size == cfg->patch_size && p.d_inner == cfg->d_inner && p.d_state == cfg->d_state &&
            p.dt_rank == cfg->dt_rank && p.d_conv == cfg->d_conv && p.in_chans == cfg->in_chans &&
            p.pos_grid_h == cfg->pos_grid_h && p.pos_grid_w == cfg->pos_grid_w) {
            snprintf(cfg->arch, sizeof cfg->arch, "%s", p.arch);
            return;
        }
    }
}

vssm_status vssm_vim_config_infer(const vssm_source *src, const char *prefix, vssm_vim_config *cfg, vssm_err *err) {
    if (!src || !src->count || !src->name_at || !cfg)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "config inference needs a source that lists its tensors");
    prefix = prefix ? prefix : "";
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->bimamba_type, sizeof cfg->bimamba_type, "v2");
    cfg->rms_norm = 1;
    cfg->cls_token_middle = 1;
    cfg->divide_out = 1; /* not visible in shapes: every released model is "div2" */
    cfg->norm_eps = 1e-5f;
    vssm_tensor t;
    vssm_status s;
    char b[64];
    if ((s = need(src, prefix, "patch_embed.proj.weight", 4, &t, err))) return s;
    cfg->embed_dim = (int)t.shape[0];
    cfg->in_chans = (int)t.shape[1];
    cfg->patch_size = (int)t.shape[2];
    if (t.shape[2] != t.shape[3])
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "Vim patch embed %s is not square",
                            vssm_shape_str(t.shape, 4, b, sizeof b));
    cfg->depth = count_layers(src, prefix);
    if (cfg->depth == 0)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "not a Vim checkpoint: no tensors under '%slayers.0.mixer.'", prefix);
    if ((s = refuse_variants(src, prefix, cfg, err))) return s;
    cfg->no_cls_token = !get_t(src, prefix, "cls_token", &t);
    if ((s = need(src, prefix, "layers.0.mixer.conv1d.weight", 3, &t, err))) return s;
    cfg->d_inner = (int)t.shape[0];
    cfg->d_conv = (int)t.shape[2];
    if ((s = need(src, prefix, "layers.0.mixer.A_log", 2, &t, err))) return s;
    cfg->d_state = (int)t.shape[1];
    if ((s = need(src, prefix, "layers.0.mixer.dt_proj.weight", 2, &t, err))) return s;
    const int R = (int)t.shape[1];
    cfg->dt_rank = R == (cfg->embed_dim + 15) / 16 ? 0 : R;
    if ((s = grid_and_stride(src, prefix, cfg, err))) return s;
    const char *dv = src->meta ? src->meta(src->user, "divide_out") : NULL;
    int iv;
    if (meta_int(dv, INT_MIN, INT_MAX, &iv)) cfg->divide_out = iv != 0;
    if ((s = out_indices_from_meta(src, cfg, err))) return s;
    if (get_t(src, prefix, "head.weight", &t) && (s = need(src, prefix, "head.weight", 2, &t, err))) return s;
    cfg->num_classes = get_t(src, prefix, "head.weight", &t) ? (int)t.shape[0] : 0;
    name_preset(cfg);
    return vssm_vim_config_validate(cfg, err);
}

static void meta_add(vssm_config_meta *m, const char *k, const char *fmt, int a, int b) {
    if (m->n >= VSSM_CONFIG_META_MAX) return;
    snprintf(m->key[m->n], sizeof m->key[0], "%s", k);
    snprintf(m->value[m->n], sizeof m->value[0], fmt, a, b);
    m->n++;
}

void vssm_vim_config_to_meta(const vssm_vim_config *c, vssm_config_meta *out) {
    out->n = 0;
    if (out->n < VSSM_CONFIG_META_MAX) {
        snprintf(out->key[0], sizeof out->key[0], "arch");
        snprintf(out->value[0], sizeof out->value[0], "%s", strncmp(c->arch, "vim", 3) ? "vim-custom" : c->arch);
        out->n = 1;
    }
    meta_add(out, "embed_dim", "%d", c->embed_dim, 0);
    meta_add(out, "depth", "%d", c->depth, 0);
    meta_add(out, "d_state", "%d", c->d_state, 0);
    meta_add(out, "d_inner", "%d", c->d_inner, 0);
    meta_add(out, "dt_rank", "%d", vssm_vim_dt_rank(c), 0);
    meta_add(out, "d_conv", "%d", c->d_conv, 0);
    meta_add(out, "patch_size", "%d", c->patch_size, 0);
    meta_add(out, "stride", "%d", c->stride, 0);
    meta_add(out, "pos_grid", "%d,%d", c->pos_grid_h, c->pos_grid_w);
    meta_add(out, "num_classes", "%d", c->num_classes, 0);
    meta_add(out, "in_chans", "%d", c->in_chans, 0);
    meta_add(out, "divide_out", "%d", c->divide_out, 0);
    if (c->no_cls_token) meta_add(out, "cls_token", "%d", 0, 0);
    if (c->n_out > 0 && out->n < VSSM_CONFIG_META_MAX) {
        char *v = out->value[out->n];
        size_t len = 0;
        v[0] = 0;
        for (int k = 0; k < c->n_out && len < sizeof out->value[0]; k++)
            len += (size_t)snprintf(v + len, sizeof out->value[0] - len, k ? ",%d" : "%d", c->out_indices[k]);
        snprintf(out->key[out->n++], sizeof out->key[0], "out_indices");
    }
}

vssm_status vssm_vim_config_from_meta(const vssm_source *src, vssm_vim_config *cfg, vssm_err *err) {
    const char *arch = src && src->meta ? src->meta(src->user, "arch") : NULL;
    if (!arch || strncmp(arch, "vim", 3) != 0)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "the metadata does not describe a Vim");
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->arch, sizeof cfg->arch, "%s", strcmp(arch, "vim-custom") ? arch : "custom");
    snprintf(cfg->bimamba_type, sizeof cfg->bimamba_type, "v2");
    cfg->rms_norm = 1;
    cfg->cls_token_middle = 1;
    cfg->norm_eps = 1e-5f;
    static const char *const keys[] = {"embed_dim",  "depth",  "d_state",     "d_inner",  "dt_rank",   "d_conv",
                                       "patch_size", "stride", "num_classes", "in_chans", "divide_out"};
    int *dst[] = {&cfg->embed_dim,  &cfg->depth,  &cfg->d_state,     &cfg->d_inner,  &cfg->dt_rank,   &cfg->d_conv,
                  &cfg->patch_size, &cfg->stride, &cfg->num_classes, &cfg->in_chans, &cfg->divide_out};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = src->meta(src->user, keys[i]);
        if (!v) return vssm_err_set(err, VSSM_ERR_FORMAT, "Vim metadata key '%s' is missing", keys[i]);
        if (!meta_int(v, -(1L << 24), 1L << 24, dst[i]))
            return vssm_err_set(err, VSSM_ERR_FORMAT, "Vim metadata %s '%s' is not an integer of at most 2^24", keys[i],
                                v);
    }
    const char *pg = src->meta(src->user, "pos_grid");
    if (!meta_pair(pg, &cfg->pos_grid_h, &cfg->pos_grid_w))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "Vim metadata pos_grid '%s' is not 'h,w' (1 to 2^20 each)",
                            pg ? pg : "(missing)");
    const char *ct = src->meta(src->user, "cls_token");
    int ctv;
    if (ct) {
        if (!meta_int(ct, INT_MIN, INT_MAX, &ctv))
            return vssm_err_set(err, VSSM_ERR_FORMAT, "Vim metadata cls_token '%s' is not an integer", ct);
        cfg->no_cls_token = ctv == 0;
    }
    vssm_status s = out_indices_from_meta(src, cfg, err);
    return s != VSSM_OK ? s : vssm_vim_config_validate(cfg, err);
}
