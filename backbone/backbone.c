/* backbone/backbone.c - one interface over every backbone family (vssm/backbone.h): the
 * rules that tell from a weights file which family it holds, and a model and its state
 * behind the family's table (vssm_backbone_impl, backbone_internal.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cnum.h"
#include "backbone/backbone_internal.h"
#include "kernels/ops.h"
#include "vssm/backbone.h"
#include "vssm/infer.h"
#include "vssm/weights.h"

/* ======================================================================= which backbone */

/* the families, in the order the tensor names are tried */
static const vssm_backbone_impl *const families[] = {&vssm_vmamba_impl, &vssm_vim_impl};
#define N_FAMILIES (sizeof families / sizeof families[0])

static const vssm_backbone_impl *family_of_arch(const char *arch) {
    for (size_t i = 0; arch && i < N_FAMILIES; i++)
        if (!strncmp(arch, families[i]->arch_prefix, strlen(families[i]->arch_prefix))) return families[i];
    return NULL;
}

/* The family: the stated arch's (an unknown name goes to the first family, whose preset
 * lookup names it), the metadata arch's, else the first whose tensor names are present. */
static const vssm_backbone_impl *pick_family(const vssm_source *src, const char *arch) {
    const vssm_backbone_impl *f;
    if (arch) return (f = family_of_arch(arch)) ? f : families[0];
    if ((f = family_of_arch(src->meta ? src->meta(src->user, "arch") : NULL))) return f;
    char prefix[128];
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (families[i]->detect(src, prefix, sizeof prefix)) return families[i];
    return families[0]; /* its resolve names what is missing */
}

int vssm_meta_numbers(const char *s, int k, int *ints, float *floats) {
    for (int i = 0; i < k; i++) {
        char *end;
        double x = vssm_strtod_c(s, &end);
        if (end == s || !isfinite(x)) return 0;
        if (ints) {
            if (x != floor(x) || x < 0 || x > 1e6) return 0;
            ints[i] = (int)x;
        } else {
            floats[i] = (float)x;
        }
        s = end;
        if (i + 1 < k) {
            if (*s != ',') return 0;
            s++;
        }
    }
    return *s == 0;
}

vssm_status vssm_backbone_pp_from_meta(const vssm_source *src, vssm_preprocess_params *pp, vssm_err *err) {
    const char *s;
    if (!src->meta) return VSSM_OK;
    if ((s = src->meta(src->user, "resize")) && !vssm_meta_numbers(s, 1, &pp->resize, NULL))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata resize '%s' is not an integer from 0 to 1000000", s);
    if ((s = src->meta(src->user, "crop")) && !vssm_meta_numbers(s, 1, &pp->crop, NULL))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata crop '%s' is not an integer from 0 to 1000000", s);
    if ((s = src->meta(src->user, "interpolation"))) {
        int it = vssm_interp_from_name(s);
        if (it < 0)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata interpolation '%s' is not bicubic or bilinear", s);
        pp->interp = (vssm_interp)it;
    }
    if ((s = src->meta(src->user, "mean")) && !vssm_meta_numbers(s, 3, NULL, pp->mean))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata mean '%s' is not 3 finite numbers", s);
    if ((s = src->meta(src->user, "std")) && !vssm_meta_numbers(s, 3, NULL, pp->std))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata std '%s' is not 3 finite numbers", s);
    return VSSM_OK;
}

static vssm_status resolve(const vssm_source *src, const vssm_backbone_impl *f, const char *arch,
                           vssm_backbone_spec *sp, vssm_err *err) {
    memset(sp, 0, sizeof *sp);
    vssm_preprocess_default(&sp->pp);
    sp->impl = f;
    return f->resolve(src, arch, sp, err);
}

/* ======================================================================= the interface */

struct vssm_backbone {
    const vssm_backbone_impl *impl;
    void *m; /* the family's model */
    int own;
    char prefix[128];
};

struct vssm_backbone_state {
    vssm_backbone *b;
    void *st; /* the family's state */
    int batch;
    vssm_thread_tuner tuner; /* the passes' thread count (ctx opts.adapt_threads) */
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

/* the family's model from an open source, by the family's rules */
static vssm_status load_model(void **m, vssm_ctx *ctx, const vssm_source *src, const vssm_backbone_impl *f,
                              const vssm_backbone_opts *opts, vssm_backbone_spec *sp, vssm_err *err) {
    *m = NULL;
    vssm_status s = resolve(src, f, opts->arch, sp, err);
    return s != VSSM_OK ? s : f->load(m, ctx, sp, src, opts, err);
}

vssm_status vssm_backbone_load_source(vssm_backbone **out, vssm_ctx *ctx, const vssm_source *src,
                                      const vssm_backbone_opts *opts, vssm_preprocess_params *pp, vssm_err *err) {
    *out = NULL;
    vssm_backbone_opts none;
    memset(&none, 0, sizeof none);
    if (!opts) opts = &none;
    const vssm_backbone_impl *f = pick_family(src, opts->arch);
    vssm_backbone_spec sp;
    void *m = NULL;
    vssm_status s = load_model(&m, ctx, src, f, opts, &sp, err);
    if (s == VSSM_OK) s = wrap(out, f, m, 1, err);
    if (s != VSSM_OK) {
        if (m) f->free(m);
        return s;
    }
    snprintf((*out)->prefix, sizeof(*out)->prefix, "%s", sp.prefix);
    if (pp) *pp = sp.pp;
    return VSSM_OK;
}

vssm_status vssm_backbone_describe(const vssm_source *src, const char *arch, vssm_backbone_desc *d, vssm_err *err) {
    memset(d, 0, sizeof *d);
    const vssm_backbone_impl *f = pick_family(src, arch);
    vssm_backbone_spec sp;
    vssm_status s = resolve(src, f, arch, &sp, err);
    if (s != VSSM_OK) return s;
    d->kind = f->kind;
    d->family = f->name;
    memcpy(d->prefix, sp.prefix, sizeof d->prefix);
    d->pp = sp.pp;
    d->from_meta = sp.from_meta;
    f->describe(&sp, d);
    return VSSM_OK;
}

/* a family's model from a config the caller states (cfg: that family's member of the union) */
static vssm_status from_config(vssm_backbone **out, vssm_ctx *ctx, const vssm_backbone_impl *f, const void *cfg,
                               size_t cfg_bytes, const vssm_source *src, const char *prefix, vssm_err *err) {
    *out = NULL;
    vssm_backbone_opts none;
    memset(&none, 0, sizeof none);
    vssm_backbone_spec spec, *sp = &spec;
    memset(sp, 0, sizeof *sp);
    memcpy(&sp->cfg, cfg, cfg_bytes);
    sp->impl = f;
    snprintf(sp->prefix, sizeof sp->prefix, "%s", prefix ? prefix : "");
    void *m = NULL;
    vssm_status s = f->load(&m, ctx, sp, src, &none, err);
    if (s == VSSM_OK) s = wrap(out, f, m, 1, err);
    if (s != VSSM_OK) {
        if (m) f->free(m);
        return s;
    }
    memcpy((*out)->prefix, sp->prefix, sizeof(*out)->prefix);
    return VSSM_OK;
}

vssm_status vssm_backbone_from_vmamba_config(vssm_backbone **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                             const vssm_source *src, const char *prefix, vssm_err *err) {
    return from_config(out, ctx, &vssm_vmamba_impl, cfg, sizeof *cfg, src, prefix, err);
}

vssm_status vssm_backbone_from_vim_config(vssm_backbone **out, vssm_ctx *ctx, const vssm_vim_config *cfg,
                                          const vssm_source *src, const char *prefix, vssm_err *err) {
    return from_config(out, ctx, &vssm_vim_impl, cfg, sizeof *cfg, src, prefix, err);
}

/* opens path, runs load(src), closes it; errors prefixed with the path */
static vssm_status with_file(const char *path, const char *key,
                             vssm_status (*load)(const vssm_source *, void *, vssm_err *), void *user, vssm_err *err) {
    vssm_weights_opts wo = {key};
    vssm_weights *w = NULL;
    vssm_status s = vssm_weights_open(&w, path, &wo, err);
    if (s != VSSM_OK) return s;
    if ((s = load(vssm_weights_source(w), user, err)) != VSSM_OK) vssm_err_prefix(err, "%s", path);
    vssm_weights_close(w); /* weights were copied into the model's arena */
    return s;
}

typedef struct file_job {
    vssm_ctx *ctx;
    const vssm_backbone_opts *opts;
    vssm_backbone **bb;
    vssm_preprocess_params *pp;
    vssm_vmamba **vm;
    vssm_vmamba_config *cfg;
} file_job;

static vssm_status load_backbone_job(const vssm_source *src, void *user, vssm_err *err) {
    file_job *j = user;
    return vssm_backbone_load_source(j->bb, j->ctx, src, j->opts, j->pp, err);
}

vssm_status vssm_backbone_load_file(vssm_backbone **out, vssm_ctx *ctx, const char *path,
                                    const vssm_backbone_opts *opts, vssm_preprocess_params *pp, vssm_err *err) {
    *out = NULL;
    file_job j = {ctx, opts, out, pp, NULL, NULL};
    return with_file(path, opts ? opts->key : NULL, load_backbone_job, &j, err);
}

static vssm_status load_vmamba_job(const vssm_source *src, void *user, vssm_err *err) {
    file_job *j = user;
    vssm_backbone_opts none;
    memset(&none, 0, sizeof none);
    const vssm_backbone_opts *o = j->opts ? j->opts : &none;
    const vssm_backbone_impl *f = pick_family(src, o->arch);
    if (f != &vssm_vmamba_impl)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "holds a %s, not a VMamba; vssm_backbone_load_file loads either",
                            f->name);
    vssm_backbone_spec sp;
    void *m = NULL;
    vssm_status s = load_model(&m, j->ctx, src, f, o, &sp, err);
    if (s != VSSM_OK) return s;
    *j->vm = m;
    if (j->cfg) *j->cfg = sp.cfg.vmamba;
    if (j->pp) *j->pp = sp.pp;
    return VSSM_OK;
}

vssm_status vssm_vmamba_load_file(vssm_vmamba **out, vssm_ctx *ctx, const char *path, const vssm_backbone_opts *opts,
                                  vssm_vmamba_config *cfg, vssm_preprocess_params *pp, vssm_err *err) {
    *out = NULL;
    file_job j = {ctx, opts, NULL, pp, out, cfg};
    return with_file(path, opts ? opts->key : NULL, load_vmamba_job, &j, err);
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
int64_t vssm_backbone_params(const vssm_backbone *b) { return b->impl->params(b->m); }
size_t vssm_backbone_weight_bytes(const vssm_backbone *b) { return b->impl->weight_bytes(b->m); }
int vssm_backbone_num_classes(const vssm_backbone *b) { return b->impl->num_classes(b->m); }
vssm_cls_input vssm_backbone_cls_input(const vssm_backbone *b) { return b->impl->cls_input(b->m); }

/* ======================================================================= states, forward */

vssm_status vssm_backbone_state_new(vssm_backbone_state **out, vssm_backbone *b, int batch, int h, int w,
                                    vssm_err *err) {
    *out = NULL;
    vssm_backbone_state *st = calloc(1, sizeof *st);
    if (!st) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    st->b = b;
    st->batch = batch;
    vssm_status s = vssm_tuner_init(&st->tuner, vssm_backbone_ctx(b), err);
    if (s == VSSM_OK) s = b->impl->state_new(&st->st, b->m, batch, h, w, err);
    if (s != VSSM_OK) {
        vssm_tuner_free(&st->tuner);
        free(st);
        return s;
    }
    *out = st;
    return VSSM_OK;
}

void vssm_backbone_state_free(vssm_backbone_state *st) {
    if (!st) return;
    st->b->impl->state_free(st->st);
    vssm_tuner_free(&st->tuner);
    free(st);
}

size_t vssm_backbone_state_bytes(const vssm_backbone_state *st) { return st->b->impl->state_bytes(st->st); }
int vssm_backbone_state_batch(const vssm_backbone_state *st) { return st->batch; }

vssm_status vssm_backbone_forward(vssm_backbone *b, vssm_backbone_state *st, const float *input, vssm_err *err) {
    if (!b || !st || st->b != b)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "backbone forward: the state belongs to another backbone");
    vssm_ctx *ctx = vssm_backbone_ctx(b);
    vssm_tuner_begin(ctx, &st->tuner);
    const vssm_status s = b->impl->forward(b->m, st->st, input, err);
    vssm_tuner_end(ctx, &st->tuner);
    return s;
}

vssm_tensor vssm_backbone_cls_token(const vssm_backbone_state *st) {
    vssm_tensor none;
    memset(&none, 0, sizeof none);
    const vssm_backbone_impl *f = st->b->impl;
    return f->cls_input(st->b->m) == VSSM_CLS_TOKEN ? f->cls_token(st->b->m, st->st) : none;
}

vssm_tensor vssm_backbone_feature(const vssm_backbone_state *st, int s) {
    vssm_tensor none;
    memset(&none, 0, sizeof none);
    if (s < 0 || s >= vssm_backbone_stages(st->b)) return none;
    return st->b->impl->feature(st->b->m, st->st, s);
}
