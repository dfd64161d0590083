/* backbone/infer.c - VMamba configs from tensor names and shapes, checks, metadata form.
 * The tensor list the official model holds (names as in the released checkpoints):
 *   patch_embed.{0,5}.{weight,bias} convs, patch_embed.{2,7}.{weight,bias} LN2d
 *   layers.i.blocks.j.{norm,norm2}.*, .op.in_proj.weight (di*(1|2), d), .op.conv2d.weight
 *   (di, 1, 3, 3), .op.x_proj_weight (4, R+2N, di), .op.dt_projs_weight (4, di, R),
 *   .op.dt_projs_bias (4, di), .op.A_logs (4di, N), .op.Ds (4di), .op.out_norm.*, .op.out_proj
 *   .weight (d, di), .mlp.fc{1,2}.{weight,bias}
 *   layers.i.downsample.1.{weight,bias} conv d->2d, .downsample.3.* LN2d (i < 3)
 *   classifier.norm.*, classifier.head.{weight,bias} (absent in segmentation backbones)
 * The first release (v0; old names are mapped on open, weights/legacy_names.c) differs:
 *   patch_embed.0 conv (C, in, 4, 4)+b, patch_embed.2 LN; in_proj (2di, d) (x and the gate z),
 *   .op.conv2d.bias (di); no norm2/mlp; layers.i.downsample.norm LN(4d),
 *   .downsample.reduction.weight (d', 4d) (patch merging)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cnum.h"
#include "backbone/backbone_internal.h"
#include "vssm/infer.h"

void vssm_preprocess_default(vssm_preprocess_params *pp) { *pp = vssm_preprocess_imagenet(); }

/* ---------------------------------------------------------------- shapes from the source */
static int get_shape(const vssm_source *src, const char *prefix, const char *name, vssm_tensor *t) {
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return src->get(src->user, full, NULL, 0, t, NULL) == VSSM_OK;
}

/* The largest dimension inference accepts (16M): far above any real model, and small
 * enough that the int config fields and their sums and products cannot overflow. */
#define INFER_MAX_DIM ((int64_t)1 << 24)

static int dims_plausible(const vssm_tensor *t) {
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] < 1 || t->shape[d] > INFER_MAX_DIM) return 0;
    return 1;
}

static vssm_status need(const vssm_source *src, const char *prefix, const char *name, int ndim, vssm_tensor *t,
                        vssm_err *err) {
    char b[64];
    if (!get_shape(src, prefix, name, t))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "not a VMamba checkpoint: tensor '%s%s' is missing", prefix, name);
    if (t->ndim != ndim)
        return vssm_err_set(err, VSSM_ERR_SHAPE, "tensor '%s%s' has shape %s, expected %d dimensions", prefix, name,
                            vssm_shape_str(t->shape, t->ndim, b, sizeof b), ndim);
    if (!dims_plausible(t))
        return vssm_err_set(err, VSSM_ERR_SHAPE, "tensor '%s%s' has shape %s: every dimension must be 1 to %lld",
                            prefix, name, vssm_shape_str(t->shape, t->ndim, b, sizeof b), (long long)INFER_MAX_DIM);
    return VSSM_OK;
}

vssm_status vssm_vmamba_find_prefix(const vssm_source *src, char *buf, size_t n, vssm_err *err) {
    const char *key = "patch_embed.0.weight";
    size_t kl = strlen(key);
    int count = src->count ? src->count(src->user) : 0;
    for (int i = 0; i < count; i++) {
        const char *nm = src->name_at(src->user, i);
        size_t l = strlen(nm);
        if (l >= kl && !strcmp(nm + l - kl, key) && (l == kl || nm[l - kl - 1] == '.') && l - kl < n) {
            memcpy(buf, nm, l - kl);
            buf[l - kl] = 0;
            return VSSM_OK;
        }
    }
    return vssm_err_set(err, VSSM_ERR_FORMAT, "not a VMamba checkpoint: no tensor named [prefix]patch_embed.0.weight");
}

/* v0 (the first release: 4x4 patch embed, patch merging, z gate), v05_noz (3x3 stem, conv
 * downsample, no gate), or "v05" (the v2 stem with a gate: not run); a mix is named. */
static vssm_status forward_type_of(const vssm_source *src, const char *prefix, int gated, vssm_vmamba_config *cfg,
                                   vssm_err *err) {
    vssm_tensor t;
    const int pe4 = get_shape(src, prefix, "patch_embed.0.weight", &t) && t.ndim == 4 && t.shape[2] == 4 &&
                    t.shape[3] == 4 && !get_shape(src, prefix, "patch_embed.5.weight", &t);
    const int merge = get_shape(src, prefix, "layers.0.downsample.reduction.weight", &t);
    const char *ft = pe4 && merge && gated ? "v0" : gated ? "v05" : "v05_noz";
    if ((pe4 || merge) && strcmp(ft, "v0") != 0)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "a VMamba with %s but %s: not a layout vssm runs (v0 has a 4x4 patch embed, patch merging "
                            "and a z-gated in_proj)",
                            pe4 ? "the 4x4 patch embed of v0" : "the patch merging of v0",
                            !gated ? "no z gate in in_proj"
                            : pe4  ? "no patch merging"
                                   : "the 3x3 stem of v2");
    snprintf(cfg->forward_type, sizeof cfg->forward_type, "%s", ft);
    return VSSM_OK;
}

/* Number of blocks of stage s: one more than the largest j of "layers.s.blocks.j.". */
static int count_blocks(const vssm_source *src, const char *prefix, int s) {
    char head[600];
    int depth = 0, count = src->count(src->user);
    size_t hl = (size_t)snprintf(head, sizeof head, "%slayers.%d.blocks.", prefix, s);
    for (int i = 0; i < count; i++) {
        const char *nm = src->name_at(src->user, i);
        if (strncmp(nm, head, hl) != 0) continue;
        char *end;
        long j = strtol(nm + hl, &end, 10);
        if (end != nm + hl && *end == '.' && j >= 0 && j < 1000 && j + 1 > depth) depth = (int)j + 1;
    }
    return depth;
}

vssm_status vssm_vmamba_config_infer(const vssm_source *src, const char *prefix, vssm_vmamba_config *cfg,
                                     vssm_err *err) {
    if (!src || !src->count || !src->name_at || !cfg)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "config inference needs a source that lists its tensors");
    prefix = prefix ? prefix : "";
    memset(cfg, 0, sizeof *cfg);
    vssm_tensor t;
    vssm_status s;
    if ((s = need(src, prefix, "patch_embed.0.weight", 4, &t, err))) return s;
    cfg->in_chans = (int)t.shape[1];
    char nm[128];
    int ranks[VSSM_VMAMBA_STAGES];
    float ratio = 0;
    for (int i = 0; i < VSSM_VMAMBA_STAGES; i++) {
        cfg->depths[i] = count_blocks(src, prefix, i);
        if (cfg->depths[i] == 0)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "not a 4-stage VMamba: no tensors under '%slayers.%d.blocks.0.'",
                                prefix, i);
        snprintf(nm, sizeof nm, "layers.%d.blocks.0.norm.weight", i);
        if ((s = need(src, prefix, nm, 1, &t, err))) return s;
        int d = cfg->dims[i] = (int)t.shape[0];
        snprintf(nm, sizeof nm, "layers.%d.blocks.0.op.conv2d.weight", i);
        if ((s = need(src, prefix, nm, 4, &t, err))) return s;
        int di = (int)t.shape[0];
        snprintf(nm, sizeof nm, "layers.%d.blocks.0.op.dt_projs_weight", i);
        if ((s = need(src, prefix, nm, 3, &t, err))) return s;
        ranks[i] = (int)t.shape[2];
        snprintf(nm, sizeof nm, "layers.%d.blocks.0.op.x_proj_weight", i);
        if ((s = need(src, prefix, nm, 3, &t, err))) return s;
        int nstate = (int)(t.shape[1] - ranks[i]) / 2;
        if (nstate < 1)
            return vssm_err_set(err, VSSM_ERR_SHAPE,
                                "tensor '%s%s' has %lld rows for dt_rank %d: no room for d_state >= 1", prefix, nm,
                                (long long)t.shape[1], ranks[i]);
        snprintf(nm, sizeof nm, "layers.%d.blocks.0.op.in_proj.weight", i);
        if ((s = need(src, prefix, nm, 2, &t, err))) return s;
        const int gated = t.shape[0] == 2 * (int64_t)di;
        snprintf(nm, sizeof nm, "layers.%d.blocks.0.mlp.fc1.weight", i);
        float mlp = get_shape(src, prefix, nm, &t) && t.ndim == 2 && dims_plausible(&t) ? (float)t.shape[0] / (float)d
                                                                                        : 0.0f;
        float r = (float)di / (float)d;
        if (i == 0) {
            ratio = r;
            cfg->d_state = nstate;
            cfg->mlp_ratio = mlp;
            if ((s = forward_type_of(src, prefix, gated, cfg, err))) return s;
        } else if (fabsf(r - ratio) > 1e-6f || nstate != cfg->d_state || fabsf(mlp - cfg->mlp_ratio) > 1e-6f) {
            return vssm_err_set(
                err, VSSM_ERR_UNSUPPORTED,
                "stage %d differs from stage 0 in ssm_ratio, d_state or mlp_ratio; vssm needs one value per model", i);
        }
    }
    cfg->ssm_ratio = ratio;
    int auto_rank = 1, same = 1;
    for (int i = 0; i < VSSM_VMAMBA_STAGES; i++) {
        auto_rank &= ranks[i] == (cfg->dims[i] + 15) / 16;
        same &= ranks[i] == ranks[0];
    }
    if (!auto_rank && !same)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "dt_rank varies by stage (%d,%d,%d,%d) and is not ceil(dim/16)",
                            ranks[0], ranks[1], ranks[2], ranks[3]);
    cfg->dt_rank = auto_rank ? 0 : ranks[0];
    if (get_shape(src, prefix, "classifier.head.weight", &t) &&
        (s = need(src, prefix, "classifier.head.weight", 2, &t, err)))
        return s;
    cfg->num_classes = get_shape(src, prefix, "classifier.head.weight", &t) ? (int)t.shape[0] : 0;
    /* the arch name: a preset whose backbone matches */
    snprintf(cfg->arch, sizeof cfg->arch, "custom");
    for (int k = 0; k < vssm_vmamba_preset_count(); k++) {
        vssm_vmamba_config p;
        if (vssm_vmamba_config_preset(&p, vssm_vmamba_preset_name(k), NULL) != VSSM_OK) continue;
        if (!memcmp(p.dims, cfg->dims, sizeof p.dims) && !memcmp(p.depths, cfg->depths, sizeof p.depths) &&
            p.ssm_ratio == cfg->ssm_ratio && p.d_state == cfg->d_state && p.dt_rank == cfg->dt_rank &&
            p.mlp_ratio == cfg->mlp_ratio && p.in_chans == cfg->in_chans &&
            !strcmp(p.forward_type, cfg->forward_type)) {
            snprintf(cfg->arch, sizeof cfg->arch, "%s", p.arch);
            break;
        }
    }
    return VSSM_OK;
}

/* ---------------------------------------------------------------- checking a stated config */
typedef struct checker {
    const vssm_source *src;
    const char *prefix, *arch;
    vssm_err *err;
    vssm_status s;
} checker;

static void expect(checker *c, const char *name, int ndim, int64_t a, int64_t b, int64_t d2, int64_t d3) {
    if (c->s) return;
    const int64_t want[4] = {a, b, d2, d3};
    vssm_tensor t;
    char wb[64], gb[64];
    if (!get_shape(c->src, c->prefix, name, &t)) {
        c->s = vssm_err_set(c->err, VSSM_ERR_SHAPE, "arch %s needs tensor '%s%s' %s, which the file lacks", c->arch,
                            c->prefix, name, vssm_shape_str(want, ndim, wb, sizeof wb));
        return;
    }
    int ok = t.ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t.shape[i] == want[i];
    if (!ok)
        c->s = vssm_err_set(
            c->err, VSSM_ERR_SHAPE, "arch %s: tensor '%s%s' has shape %s in the file, the arch needs %s", c->arch,
            c->prefix, name, vssm_shape_str(t.shape, t.ndim, gb, sizeof gb), vssm_shape_str(want, ndim, wb, sizeof wb));
}

static void expect_ln(checker *c, const char *base, int64_t d) {
    char nm[192];
    snprintf(nm, sizeof nm, "%.160s.weight", base);
    expect(c, nm, 1, d, 0, 0, 0);
    snprintf(nm, sizeof nm, "%.160s.bias", base);
    expect(c, nm, 1, d, 0, 0, 0);
}

vssm_status vssm_vmamba_config_check(const vssm_vmamba_config *cfg, const vssm_source *src, const char *prefix,
                                     vssm_err *err) {
    checker c = {src, prefix ? prefix : "", cfg->arch[0] ? cfg->arch : "custom", err, VSSM_OK};
    char nm[160], b[96];
    int64_t C = cfg->dims[0], inc = cfg->in_chans;
    const int v0 = vssm_vmamba_is_v0(cfg);
    if (v0) {
        expect(&c, "patch_embed.0.weight", 4, C, inc, 4, 4);
        expect(&c, "patch_embed.0.bias", 1, C, 0, 0, 0);
        expect_ln(&c, "patch_embed.2", C);
    } else {
        expect(&c, "patch_embed.0.weight", 4, C / 2, inc, 3, 3);
        expect(&c, "patch_embed.0.bias", 1, C / 2, 0, 0, 0);
        expect_ln(&c, "patch_embed.2", C / 2);
        expect(&c, "patch_embed.5.weight", 4, C, C / 2, 3, 3);
        expect(&c, "patch_embed.5.bias", 1, C, 0, 0, 0);
        expect_ln(&c, "patch_embed.7", C);
    }
    for (int i = 0; i < VSSM_VMAMBA_STAGES; i++) {
        int64_t d = cfg->dims[i], di = (int64_t)(cfg->ssm_ratio * (float)cfg->dims[i]), N = cfg->d_state;
        int64_t R = cfg->dt_rank > 0 ? cfg->dt_rank : (d + 15) / 16, h = (int64_t)((float)d * cfg->mlp_ratio);
        int64_t in_out = strcmp(cfg->forward_type, "v05_noz") == 0 ? di : 2 * di;
        for (int j = 0; j < cfg->depths[i]; j++) {
            int pl = snprintf(b, sizeof b, "layers.%d.blocks.%d.", i, j);
#define P(s) (snprintf(nm, sizeof nm, "%.*s%s", pl, b, s), nm)
            expect_ln(&c, (snprintf(nm, sizeof nm, "%.90snorm", b), nm), d);
            expect(&c, P("op.in_proj.weight"), 2, in_out, d, 0, 0);
            expect(&c, P("op.conv2d.weight"), 4, di, 1, 3, 3);
            if (v0) expect(&c, P("op.conv2d.bias"), 1, di, 0, 0, 0);
            expect(&c, P("op.x_proj_weight"), 3, 4, R + 2 * N, di, 0);
            expect(&c, P("op.dt_projs_weight"), 3, 4, di, R, 0);
            expect(&c, P("op.dt_projs_bias"), 2, 4, di, 0, 0);
            expect(&c, P("op.A_logs"), 2, 4 * di, N, 0, 0);
            expect(&c, P("op.Ds"), 1, 4 * di, 0, 0, 0);
            expect_ln(&c, (snprintf(nm, sizeof nm, "%.90sop.out_norm", b), nm), di);
            expect(&c, P("op.out_proj.weight"), 2, d, di, 0, 0);
            if (h > 0) {
                expect_ln(&c, (snprintf(nm, sizeof nm, "%.90snorm2", b), nm), d);
                expect(&c, P("mlp.fc1.weight"), 2, h, d, 0, 0);
                expect(&c, P("mlp.fc1.bias"), 1, h, 0, 0, 0);
                expect(&c, P("mlp.fc2.weight"), 2, d, h, 0, 0);
                expect(&c, P("mlp.fc2.bias"), 1, d, 0, 0, 0);
            }
#undef P
        }
        if (!c.s && src->count) {
            int have = count_blocks(src, c.prefix, i);
            if (have > cfg->depths[i])
                c.s = vssm_err_set(
                    err, VSSM_ERR_SHAPE,
                    "arch %s: tensor '%slayers.%d.blocks.%d.norm.weight' is beyond the arch's depth %d at stage %d",
                    c.arch, c.prefix, i, cfg->depths[i], cfg->depths[i], i);
        }
        if (i + 1 < VSSM_VMAMBA_STAGES) {
            int64_t d2 = cfg->dims[i + 1];
            if (v0) {
                snprintf(nm, sizeof nm, "layers.%d.downsample.norm", i);
                expect_ln(&c, nm, 4 * d);
                snprintf(nm, sizeof nm, "layers.%d.downsample.reduction.weight", i);
                expect(&c, nm, 2, d2, 4 * d, 0, 0);
                continue;
            }
            snprintf(nm, sizeof nm, "layers.%d.downsample.1.weight", i);
            expect(&c, nm, 4, d2, d, 3, 3);
            snprintf(nm, sizeof nm, "layers.%d.downsample.1.bias", i);
            expect(&c, nm, 1, d2, 0, 0, 0);
            snprintf(nm, sizeof nm, "layers.%d.downsample.3", i);
            expect_ln(&c, nm, d2);
        }
    }
    if (cfg->num_classes > 0) {
        int64_t D = cfg->dims[VSSM_VMAMBA_STAGES - 1];
        expect_ln(&c, "classifier.norm", D);
        expect(&c, "classifier.head.weight", 2, cfg->num_classes, D, 0, 0);
        expect(&c, "classifier.head.bias", 1, cfg->num_classes, 0, 0, 0);
    }
    return c.s;
}

/* ---------------------------------------------------------------- metadata */
static void fmt_float(char *buf, size_t n, float v) {
    vssm_snprintf_c(buf, n, "%.6g", (double)v);
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", n - strlen(buf) - 1);
}

static void meta_add(vssm_config_meta *m, const char *k, const char *v) {
    if (m->n >= VSSM_CONFIG_META_MAX) return;
    snprintf(m->key[m->n], sizeof m->key[0], "%s", k);
    snprintf(m->value[m->n], sizeof m->value[0], "%s", v);
    m->n++;
}

static void ints_str(char *buf, size_t n, const int *v, int k) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < k && used < n; i++) used += (size_t)snprintf(buf + used, n - used, "%s%d", i ? "," : "", v[i]);
}

static void floats_str(char *buf, size_t n, const float *v, int k) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < k && used < n; i++) {
        char f[32];
        vssm_snprintf_c(f, sizeof f, "%.6g", (double)v[i]);
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? "," : "", f);
    }
}

static void meta_int(vssm_config_meta *m, const char *k, int v) {
    char s[16];
    snprintf(s, sizeof s, "%d", v);
    meta_add(m, k, s);
}

void vssm_vmamba_config_to_meta(const vssm_vmamba_config *cfg, const vssm_preprocess_params *pp,
                                vssm_config_meta *out) {
    char v[96];
    memset(out, 0, sizeof *out);
    meta_add(out, "arch", cfg->arch[0] ? cfg->arch : "custom");
    meta_add(out, "forward_type", cfg->forward_type);
    ints_str(v, sizeof v, cfg->dims, VSSM_VMAMBA_STAGES);
    meta_add(out, "dims", v);
    ints_str(v, sizeof v, cfg->depths, VSSM_VMAMBA_STAGES);
    meta_add(out, "depths", v);
    fmt_float(v, sizeof v, cfg->ssm_ratio);
    meta_add(out, "ssm_ratio", v);
    meta_int(out, "d_state", cfg->d_state);
    meta_int(out, "dt_rank", cfg->dt_rank);
    fmt_float(v, sizeof v, cfg->mlp_ratio);
    meta_add(out, "mlp_ratio", v);
    meta_int(out, "num_classes", cfg->num_classes);
    meta_int(out, "in_chans", cfg->in_chans);
    if (!pp) return;
    meta_int(out, "resize", pp->resize);
    meta_int(out, "crop", pp->crop);
    meta_add(out, "interpolation", vssm_interp_name(pp->interp));
    floats_str(v, sizeof v, pp->mean, 3);
    meta_add(out, "mean", v);
    floats_str(v, sizeof v, pp->std, 3);
    meta_add(out, "std", v);
}

/* Parses exactly k comma-separated numbers (ints when ints != NULL). */
vssm_status vssm_vmamba_config_from_meta(const vssm_source *src, vssm_vmamba_config *cfg, vssm_preprocess_params *pp,
                                         vssm_err *err) {
    if (!src || !src->meta) return vssm_err_set(err, VSSM_ERR_FORMAT, "the weights carry no metadata");
    memset(cfg, 0, sizeof *cfg);
    const char *keys[] = {"arch",    "forward_type", "dims",      "depths",      "ssm_ratio",
                          "d_state", "dt_rank",      "mlp_ratio", "num_classes", "in_chans"};
    const char *v[10];
    for (int i = 0; i < 10; i++)
        if (!(v[i] = src->meta(src->user, keys[i])))
            return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata key '%s' is missing", keys[i]);
    snprintf(cfg->arch, sizeof cfg->arch, "%s", v[0]);
    snprintf(cfg->forward_type, sizeof cfg->forward_type, "%s", v[1]);
    int one[1];
    if (!vssm_meta_numbers(v[2], 4, cfg->dims, NULL))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata dims '%s' is not 4 integers", v[2]);
    if (!vssm_meta_numbers(v[3], 4, cfg->depths, NULL))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata depths '%s' is not 4 integers", v[3]);
    if (!vssm_meta_numbers(v[4], 1, NULL, &cfg->ssm_ratio))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata ssm_ratio '%s' is not a number", v[4]);
    if (!vssm_meta_numbers(v[7], 1, NULL, &cfg->mlp_ratio))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata mlp_ratio '%s' is not a number", v[7]);
    /* ratios multiply dims into tensor sizes: bounded so that product fits (and is > 0) */
    if (!(cfg->ssm_ratio > 0 && cfg->ssm_ratio <= 64))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata ssm_ratio '%s' is outside (0, 64]", v[4]);
    if (!(cfg->mlp_ratio >= 0 && cfg->mlp_ratio <= 64))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata mlp_ratio '%s' is outside [0, 64]", v[7]);
    int *dst[4] = {&cfg->d_state, &cfg->dt_rank, &cfg->num_classes, &cfg->in_chans};
    const int idx[4] = {5, 6, 8, 9};
    for (int i = 0; i < 4; i++) {
        if (!vssm_meta_numbers(v[idx[i]], 1, one, NULL))
            return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata %s '%s' is not an integer", keys[idx[i]], v[idx[i]]);
        *dst[i] = one[0];
    }
    if (!pp) return VSSM_OK;
    vssm_preprocess_default(pp);
    return vssm_backbone_pp_from_meta(src, pp, err);
}
