/* backbone/backbone.c - one interface over VMamba and Vim (vssm/backbone.h): a model and
 * its state behind the family's table (vssm_backbone_impl, backbone_internal.h), and the
 * rules that tell from a weights file which backbone it holds (shared with
 * heads/classifier.c through backbone_internal.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backbone/backbone_internal.h"
#include "vssm/backbone.h"
#include "vssm/infer.h"
#include "vssm/weights.h"

/* ======================================================================= which backbone */

/* VMamba: config + preprocessing from a stated arch, the metadata, or the shapes */
static vssm_status resolve_vmamba(const vssm_source *src, const char *arch, vssm_backbone_spec *sp, vssm_err *err) {
    vssm_status s;
    if ((s = vssm_vmamba_find_prefix(src, sp->prefix, sizeof sp->prefix, err)) != VSSM_OK) return s;
    const int has_meta = src->meta && src->meta(src->user, "dims");
    if (arch) {
        vssm_vmamba_config inferred;
        if ((s = vssm_vmamba_config_preset(&sp->cfg, arch, err)) != VSSM_OK) return s;
        sp->cfg.num_classes = vssm_vmamba_config_infer(src, sp->prefix, &inferred, NULL) == VSSM_OK ? inferred.num_classes : 0;
        if ((s = vssm_vmamba_config_check(&sp->cfg, src, sp->prefix, err)) != VSSM_OK) return s;
        vssm_vmamba_config ignored;
        if (has_meta) vssm_vmamba_config_from_meta(src, &ignored, &sp->pp, NULL);
        return VSSM_OK;
    }
    if (has_meta) return vssm_vmamba_config_from_meta(src, &sp->cfg, &sp->pp, err);
    return vssm_vmamba_config_infer(src, sp->prefix, &sp->cfg, err);
}

/* 1 when the file (or the stated arch) describes a Vim; prefix receives its prefix. */
static int wants_vim(const vssm_source *src, const char *arch, char *prefix, size_t n) {
    if (arch) {
        if (strncmp(arch, "vim", 3) != 0) return 0;
        if (!vssm_vim_detect(src, prefix, n)) prefix[0] = 0;
        return 1;
    }
    const char *a = src->meta ? src->meta(src->user, "arch") : NULL;
    if (a && !strncmp(a, "vim", 3)) {
        const char *p = src->meta(src->user, "prefix");
        snprintf(prefix, n, "%s", p ? p : "");
        return 1;
    }
    char vp[128];
    if (vssm_vmamba_find_prefix(src, vp, sizeof vp, NULL) == VSSM_OK) return 0;
    return vssm_vim_detect(src, prefix, n);
}

/* the preprocessing keys of the metadata (absent keys keep the defaults) */
static vssm_status pp_from_meta(const vssm_source *src, vssm_preprocess_params *pp, vssm_err *err) {
    const char *v;
    if (!src->meta) return VSSM_OK;
    if ((v = src->meta(src->user, "resize"))) pp->resize = atoi(v);
    if ((v = src->meta(src->user, "crop"))) pp->crop = atoi(v);
    if ((v = src->meta(src->user, "interpolation"))) {
        int i = vssm_interp_from_name(v);
        if (i < 0) return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata interpolation '%s' is not bicubic or bilinear", v);
        pp->interp = (vssm_interp)i;
    }
    if ((v = src->meta(src->user, "mean")) && sscanf(v, "%f,%f,%f", &pp->mean[0], &pp->mean[1], &pp->mean[2]) != 3)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata mean '%s' is not 3 numbers", v);
    if ((v = src->meta(src->user, "std")) && sscanf(v, "%f,%f,%f", &pp->std[0], &pp->std[1], &pp->std[2]) != 3)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata std '%s' is not 3 numbers", v);
    return VSSM_OK;
}

/* Vim config: stated arch (checked by the loader's shape checks, classes from the file),
 * metadata, or shapes. Preprocessing: DeiT's evaluation transform, which Vim uses
 * (Resize 256 bicubic, CenterCrop 224, ImageNet mean/std), unless the metadata says otherwise. */
static vssm_status resolve_vim(const vssm_source *src, const char *arch, vssm_backbone_spec *sp, vssm_err *err) {
    vssm_status s;
    if (arch) {
        vssm_vim_config inferred;
        if ((s = vssm_vim_config_preset(&sp->vcfg, arch, err)) != VSSM_OK) return s;
        sp->vcfg.num_classes = vssm_vim_config_infer(src, sp->prefix, &inferred, NULL) == VSSM_OK ? inferred.num_classes : 0;
    } else if (vssm_vim_config_from_meta(src, &sp->vcfg, NULL) != VSSM_OK &&
               (s = vssm_vim_config_infer(src, sp->prefix, &sp->vcfg, err)) != VSSM_OK) {
        return s;
    }
    return pp_from_meta(src, &sp->pp, err);
}

vssm_status vssm_backbone_resolve(const vssm_source *src, const char *arch, vssm_backbone_spec *sp, vssm_err *err) {
    memset(sp, 0, sizeof *sp);
    vssm_preprocess_default(&sp->pp);
    sp->is_vim = wants_vim(src, arch, sp->prefix, sizeof sp->prefix);
    return sp->is_vim ? resolve_vim(src, arch, sp, err) : resolve_vmamba(src, arch, sp, err);
}

/* ======================================================================= the interface */

struct vssm_backbone {
    const vssm_backbone_impl *impl;
    void *m;                    /* the family's model */
    int own;
    char prefix[128];
};

struct vssm_backbone_state {
    vssm_backbone *b;
    void *st;                   /* the family's state */
    int batch;
};

void vssm_backbone_free(vssm_backbone *b) {
    if (!b) return;
    if (b->own) b->impl->free(b->m);
    free(b);
}

static vssm_status wrap(vssm_backbone **out, const vssm_backbone_impl *impl, void *m, int own, vssm_err *err) {
    *out = NULL;
    if (!m) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "backbone: no model to wrap");
    vssm_backbone *b = calloc(1, sizeof *b);
    if (!b) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    b->impl = impl;
    b->m = m;
    b->own = own;
    *out = b;
    return VSSM_OK;
}

vssm_status vssm_backbone_wrap_vmamba(vssm_backbone **out, vssm_vmamba *m, int own, vssm_err *err) {
    return wrap(out, &vssm_vmamba_impl, m, own, err);
}
vssm_status vssm_backbone_wrap_vim(vssm_backbone **out, vssm_vim *m, int own, vssm_err *err) {
    return wrap(out, &vssm_vim_impl, m, own, err);
}

vssm_status vssm_backbone_load_source(vssm_backbone **out, vssm_ctx *ctx, const vssm_source *src,
                                      const vssm_backbone_opts *opts, vssm_preprocess_params *pp, vssm_err *err) {
    *out = NULL;
    vssm_backbone_opts none;
    memset(&none, 0, sizeof none);
    if (!opts) opts = &none;
    vssm_backbone_spec sp;
    vssm_status s = vssm_backbone_resolve(src, opts->arch, &sp, err);
    if (s != VSSM_OK) return s;
    void *m = NULL;
    const vssm_backbone_impl *impl = sp.is_vim ? &vssm_vim_impl : &vssm_vmamba_impl;
    if (sp.is_vim) {
        if (opts->n_out > 0) {
            if (opts->n_out > VSSM_VIM_MAX_OUT)
                return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "backbone: %d out_indices (at most %d)", opts->n_out, VSSM_VIM_MAX_OUT);
            sp.vcfg.n_out = opts->n_out;
            memcpy(sp.vcfg.out_indices, opts->out_indices, sizeof opts->out_indices);
        } else if (opts->n_out < 0) {
            sp.vcfg.n_out = 0;
        }
        vssm_vim *vim = NULL;
        s = vssm_vim_load(&vim, ctx, &sp.vcfg, src, sp.prefix, err);
        m = vim;
    } else {
        vssm_vmamba *vm = NULL;
        s = vssm_vmamba_load(&vm, ctx, &sp.cfg, src, sp.prefix, err);
        m = vm;
    }
    if (s == VSSM_OK) s = wrap(out, impl, m, 1, err);
    if (s != VSSM_OK) {
        if (m) impl->free(m);
        return s;
    }
    snprintf((*out)->prefix, sizeof (*out)->prefix, "%s", sp.prefix);
    if (pp) *pp = sp.pp;
    return VSSM_OK;
}

vssm_status vssm_backbone_load_file(vssm_backbone **out, vssm_ctx *ctx, const char *path, const vssm_backbone_opts *opts,
                                    vssm_preprocess_params *pp, vssm_err *err) {
    *out = NULL;
    vssm_weights_opts wo = {opts ? opts->key : NULL};
    vssm_weights *w = NULL;
    vssm_status s = vssm_weights_open(&w, path, &wo, err);
    if (s != VSSM_OK) return s;
    s = vssm_backbone_load_source(out, ctx, vssm_weights_source(w), opts, pp, err);
    if (s != VSSM_OK) vssm_err_prefix(err, "%s", path);
    vssm_weights_close(w);   /* weights were copied into the model's arena */
    return s;
}

vssm_backbone_kind vssm_backbone_get_kind(const vssm_backbone *b) { return b->impl->kind; }
vssm_vmamba *vssm_backbone_vmamba(const vssm_backbone *b) {
    return b->impl == &vssm_vmamba_impl ? (vssm_vmamba *)b->m : NULL;
}
vssm_vim *vssm_backbone_vim(const vssm_backbone *b) { return b->impl == &vssm_vim_impl ? (vssm_vim *)b->m : NULL; }
const char *vssm_backbone_prefix(const vssm_backbone *b) { return b->prefix; }

const char *vssm_backbone_arch(const vssm_backbone *b) { return b->impl->arch(b->m); }
vssm_ctx *vssm_backbone_ctx(const vssm_backbone *b) { return b->impl->ctx(b->m); }
int vssm_backbone_in_chans(const vssm_backbone *b) { return b->impl->in_chans(b->m); }
int vssm_backbone_min_side(const vssm_backbone *b) { return b->impl->min_side(b->m); }
int vssm_backbone_stages(const vssm_backbone *b) { return b->impl->stages(b->m); }

int vssm_backbone_stage_channels(const vssm_backbone *b, int s) {
    return s < 0 || s >= vssm_backbone_stages(b) ? 0 : b->impl->stage_channels(b->m, s);
}

int vssm_backbone_stage_stride(const vssm_backbone *b, int s) {
    return s < 0 || s >= vssm_backbone_stages(b) ? 0 : b->impl->stage_stride(b->m, s);
}

double vssm_backbone_stage_offset(const vssm_backbone *b, int s) { return b->impl->stage_offset(b->m, s); }

void vssm_backbone_stage_size(const vssm_backbone *b, int h, int w, int s, int *hs, int *ws) {
    b->impl->stage_size(b->m, h, w, s, hs, ws);
}

double vssm_backbone_macs(const vssm_backbone *b, int h, int w) { return b->impl->macs(b->m, h, w); }

/* ======================================================================= states, forward */

vssm_status vssm_backbone_state_new(vssm_backbone_state **out, vssm_backbone *b, int batch, int h, int w, vssm_err *err) {
    *out = NULL;
    vssm_backbone_state *st = calloc(1, sizeof *st);
    if (!st) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    st->b = b;
    st->batch = batch;
    vssm_status s = b->impl->state_new(&st->st, b->m, batch, h, w, err);
    if (s != VSSM_OK) { free(st); return s; }
    *out = st;
    return VSSM_OK;
}

void vssm_backbone_state_free(vssm_backbone_state *st) {
    if (!st) return;
    st->b->impl->state_free(st->st);
    free(st);
}

size_t vssm_backbone_state_bytes(const vssm_backbone_state *st) { return st->b->impl->state_bytes(st->st); }
int vssm_backbone_state_batch(const vssm_backbone_state *st) { return st->batch; }

vssm_status vssm_backbone_forward(vssm_backbone *b, vssm_backbone_state *st, const float *input, vssm_err *err) {
    if (!b || !st || st->b != b) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "backbone forward: the state belongs to another backbone");
    return b->impl->forward(b->m, st->st, input, err);
}

vssm_tensor vssm_backbone_feature(const vssm_backbone_state *st, int s) {
    vssm_tensor none;
    memset(&none, 0, sizeof none);
    if (s < 0 || s >= vssm_backbone_stages(st->b)) return none;
    return st->b->impl->feature(st->b->m, st->st, s);
}
