/* tests/test_vim_errors.c - Vim refuses what it cannot run, with errors that name what and
 * why: tensors whose shapes differ from the config, missing tensors, unsupported variants
 * (bimamba v1, LayerNorm blocks, no middle class token), inputs smaller than one patch;
 * config inference and presets (parameter counts equal the reference model's: Vim-Ti
 * 7,148,008, Vim-S 25,796,584, Vim-B 97,598,440 = the published 7M/26M/98M); and the
 * classifier dispatching a Vim weights file, safetensors or an official-style .pth with a
 * 'model' key (logits equal the reference). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vssm/classifier.h"
#include "vssm/vim.h"
#include "vssm/weights.h"

/* A source over a file that hides names containing `hide` and serves `alias` (a copy of
 * the tensor `alias_of`) as an extra name: simulates other Vim variants' checkpoints. */
typedef struct {
    const vssm_source *inner;
    const char *hide, *alias, *alias_of;
    int n;
    const char **names;
} filt;

static vssm_status f_get(void *u, const char *name, const int64_t *e, int en, vssm_tensor *out, vssm_err *err) {
    filt *f = u;
    if (f->hide && strstr(name, f->hide)) return vssm_err_set(err, VSSM_ERR_FORMAT, "tensor '%s' is missing", name);
    if (f->alias && !strcmp(name, f->alias)) name = f->alias_of;
    return f->inner->get(f->inner->user, name, e, en, out, err);
}
static int f_count(void *u) { return ((filt *)u)->n; }
static const char *f_name(void *u, int i) { return ((filt *)u)->names[i]; }
static const char *f_meta(void *u, const char *k) {
    filt *f = u;
    return f->inner->meta ? f->inner->meta(f->inner->user, k) : NULL;
}
static vssm_source filt_source(filt *f, const vssm_source *inner, const char *hide, const char *alias,
                               const char *alias_of) {
    f->inner = inner;
    f->hide = hide;
    f->alias = alias;
    f->alias_of = alias_of;
    int n = inner->count(inner->user);
    f->names = malloc(((size_t)n + 1) * sizeof *f->names);
    f->n = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = inner->name_at(inner->user, i);
        if (!hide || !strstr(nm, hide)) f->names[f->n++] = nm;
    }
    if (alias) f->names[f->n++] = alias;
    vssm_source s = {f, f_get, f_count, f_name, f_meta};
    return s;
}

static vssm_ctx *ctx;

static void test_presets(void) {
    vssm_err err = {0};
    vssm_vim_config c;
    static const struct {
        const char *name;
        int64_t params;
    } p[] = {{"vim-tiny", 7148008}, {"vim-small", 25796584}, {"vim-base", 97598440}, {"vim-tiny-stride8", 7250344}};
    for (int i = 0; i < 4; i++) {
        TEST_REQUIRE(vssm_vim_config_preset(&c, p[i].name, &err) == VSSM_OK, "%s", err.msg);
        TEST_CHECK(vssm_vim_param_count(&c) == p[i].params, "%s: %lld params, expected %lld", p[i].name,
                   (long long)vssm_vim_param_count(&c), (long long)p[i].params);
    }
    TEST_CHECK(vssm_vim_config_preset(&c, "vim-huge", &err) == VSSM_ERR_INVALID_ARG && strstr(err.msg, "vim-huge"),
               "unknown preset: %s", err.msg);
    vssm_vim_config_preset(&c, "vim-small", &err);
    int gh, gw;
    vssm_vim_grid(&c, 224, 224, &gh, &gw);
    TEST_CHECK(gh == 14 && gw == 14, "vim-small grid at 224: %dx%d", gh, gw);
    vssm_vim_config_preset(&c, "vim-small-stride8", &err);
    vssm_vim_grid(&c, 224, 224, &gh, &gw);
    TEST_CHECK(gh == 27 && gw == 27 && c.pos_grid_h == 27, "stride-8 grid at 224: %dx%d", gh, gw);
    double macs = vssm_vim_macs(&c, 224, 224);
    TEST_CHECK(macs > 1e9, "stride-8 small: %.3g MACs", macs);
    /* variants */
    vssm_vim_config_preset(&c, "vim-tiny", &err);
    strcpy(c.bimamba_type, "v1");
    TEST_CHECK(vssm_vim_config_validate(&c, &err) == VSSM_ERR_UNSUPPORTED && strstr(err.msg, "'v1'"), "v1: %s",
               err.msg);
    vssm_vim_config_preset(&c, "vim-tiny", &err);
    c.rms_norm = 0;
    TEST_CHECK(vssm_vim_config_validate(&c, &err) == VSSM_ERR_UNSUPPORTED && strstr(err.msg, "rms_norm"),
               "rms_norm: %s", err.msg);
    vssm_vim_config_preset(&c, "vim-tiny", &err);
    c.cls_token_middle = 0;
    TEST_CHECK(vssm_vim_config_validate(&c, &err) == VSSM_ERR_UNSUPPORTED && strstr(err.msg, "middle"), "cls: %s",
               err.msg);
    vssm_vim_config_preset(&c, "vim-tiny", &err);
    c.d_state = 65;
    TEST_CHECK(vssm_vim_config_validate(&c, &err) == VSSM_ERR_INVALID_ARG && strstr(err.msg, "d_state"), "d_state: %s",
               err.msg);
}

static void test_file(void) {
    char *path = test_data_path("vim/sq_b2.safetensors");
    vssm_err err = {0};
    vssm_weights *wf = NULL;
    TEST_REQUIRE(vssm_weights_open(&wf, path, NULL, &err) == VSSM_OK, "%s", err.msg);
    const vssm_source *src = vssm_weights_source(wf);
    vssm_vim_config cfg, bad;
    TEST_REQUIRE(vssm_vim_config_infer(src, "", &cfg, &err) == VSSM_OK, "%s", err.msg);
    vssm_vim *m = NULL;

    /* a shape that differs from the config: named, with both shapes */
    bad = cfg;
    bad.d_state = 8;
    TEST_CHECK(vssm_vim_load(&m, ctx, &bad, src, "", &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg, "layers.0.mixer.x_proj.weight") && strstr(err.msg, "(33, 16)") && !m,
               "d_state 8 on a d_state 16 file: %s", err.msg);
    bad = cfg;
    bad.embed_dim = 12;
    TEST_CHECK(vssm_vim_load(&m, ctx, &bad, src, "", &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg, "patch_embed.proj.weight"),
               "embed_dim 12: %s", err.msg);
    bad = cfg;
    bad.pos_grid_h = 5;
    TEST_CHECK(vssm_vim_load(&m, ctx, &bad, src, "", &err) == VSSM_ERR_SHAPE && strstr(err.msg, "pos_embed"),
               "pos grid: %s", err.msg);
    bad = cfg;
    bad.depth = 3;
    TEST_CHECK(vssm_vim_load(&m, ctx, &bad, src, "", &err) == VSSM_ERR_FORMAT && strstr(err.msg, "layers.2."),
               "depth 3: %s", err.msg);
    TEST_CHECK(vssm_vim_load(&m, ctx, &cfg, src, "backbone.", &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "backbone.patch_embed"),
               "wrong prefix: %s", err.msg);

    /* variants seen in the tensors */
    filt f;
    vssm_source s1 = filt_source(&f, src, "conv1d_b", NULL, NULL);
    TEST_CHECK(vssm_vim_config_infer(&s1, "", &bad, &err) == VSSM_ERR_UNSUPPORTED && strstr(err.msg, "bimamba"),
               "no conv1d_b: %s", err.msg);
    free(f.names);
    vssm_source s2 = filt_source(&f, src, NULL, "layers.0.norm.bias", "layers.0.norm.weight");
    TEST_CHECK(vssm_vim_config_infer(&s2, "", &bad, &err) == VSSM_ERR_UNSUPPORTED && strstr(err.msg, "rms_norm"),
               "LayerNorm: %s", err.msg);
    free(f.names);
    vssm_source s3 = filt_source(&f, src, "cls_token", NULL, NULL);
    TEST_CHECK(vssm_vim_config_infer(&s3, "", &bad, &err) == VSSM_ERR_UNSUPPORTED && strstr(err.msg, "cls_token"),
               "no cls: %s", err.msg);
    free(f.names);
    vssm_source s4 = filt_source(&f, src, "layers.1.mixer.D_b", NULL, NULL);
    TEST_CHECK(vssm_vim_load(&m, ctx, &cfg, &s4, "", &err) == VSSM_ERR_FORMAT && strstr(err.msg, "layers.1.mixer.D_b"),
               "missing: %s", err.msg);
    free(f.names);

    /* inputs */
    TEST_REQUIRE(vssm_vim_load(&m, ctx, &cfg, src, "", &err) == VSSM_OK, "%s", err.msg);
    vssm_vim_state *st = NULL;
    TEST_CHECK(vssm_vim_state_new(&st, m, 1, 15, 64, &err) == VSSM_ERR_SHAPE && strstr(err.msg, "15x64") && !st,
               "tiny input: %s", err.msg);
    TEST_CHECK(vssm_vim_state_new(&st, m, 0, 64, 64, &err) == VSSM_ERR_INVALID_ARG, "batch 0: %s", err.msg);
    TEST_CHECK(vssm_vim_state_new_onestream(&st, m, 1, 8, 8, 64, 64, &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg, "template"),
               "tiny template: %s", err.msg);
    TEST_REQUIRE(vssm_vim_state_new(&st, m, 1, 16, 16, &err) == VSSM_OK, "one patch: %s", err.msg);
    TEST_CHECK(vssm_vim_forward_onestream(m, st, NULL, NULL, &err) == VSSM_ERR_INVALID_ARG, "NULL inputs");
    float x[16 * 16 * 3] = {0};
    TEST_CHECK(vssm_vim_forward(m, st, x, &err) == VSSM_OK, "one patch forward: %s", err.msg);
    vssm_tensor t = vssm_vim_feature(st);
    TEST_CHECK(t.shape[1] == 1 && t.shape[2] == 1, "one-patch feature grid");
    vssm_vim_state_free(st);
    vssm_vim_free(m);
    vssm_weights_close(wf);

    /* the classifier on a Vim file: dispatch by tensor names, logits equal the reference */
    vssm_classifier *clf = NULL;
    TEST_REQUIRE(vssm_classifier_load(&clf, ctx, path, NULL, &err) == VSSM_OK, "classifier: %s", err.msg);
    TEST_CHECK(vssm_backbone_get_kind(vssm_classifier_backbone(clf)) == VSSM_BACKBONE_VIM &&
                   vssm_classifier_classes(clf) == 10,
               "classifier holds a Vim with 10 classes");
    TEST_CHECK(vssm_classifier_params(clf) == vssm_vim_param_count(&cfg) && vssm_classifier_macs(clf, 64, 64) > 0,
               "params/macs");
    vssm_weights_open(&wf, path, NULL, &err);
    vssm_tensor in, ref;
    vssm_weights_get(wf, "input", &in, &err);
    vssm_weights_get(wf, "ref.logits", &ref, &err);
    const float *nchw = in.data;
    float *nhwc = malloc(2 * 64 * 64 * 3 * sizeof(float)), logits[20];
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 64 * 64; i++)
                nhwc[((size_t)b * 4096 + i) * 3 + c] = nchw[((size_t)b * 3 + c) * 4096 + i];
    TEST_REQUIRE(vssm_classifier_forward(clf, nhwc, 2, 64, 64, logits, &err) == VSSM_OK, "forward: %s", err.msg);
    double e = test_rel_err(logits, ref.data, 20);
    TEST_CHECK(e <= 1e-4, "classifier logits rel err %.3g", e);
    TEST_CHECK(vssm_classifier_forward(clf, nhwc, 1, 8, 64, logits, &err) == VSSM_ERR_SHAPE,
               "too small through the classifier: %s", err.msg);
    vssm_classifier_free(clf);
    /* the same weights as an official-style .pth ({'model': state dict, 'epoch', 'args'}) */
    char *pth = test_data_path("vim/sq_b2_model.pth");
    TEST_REQUIRE(vssm_classifier_load(&clf, ctx, pth, NULL, &err) == VSSM_OK, "classifier from .pth: %s", err.msg);
    TEST_REQUIRE(vssm_classifier_forward(clf, nhwc, 2, 64, 64, logits, &err) == VSSM_OK, "forward: %s", err.msg);
    e = test_rel_err(logits, ref.data, 20);
    TEST_CHECK(e <= 1e-4, "classifier (.pth) logits rel err %.3g", e);
    vssm_classifier_free(clf);
    free(pth);
    free(nhwc);
    vssm_classifier_opts o = {"vim-tiny", NULL, NULL};
    TEST_CHECK(vssm_classifier_load(&clf, ctx, path, &o, &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg, "patch_embed.proj.weight"),
               "stated vim-tiny on a small file: %s", err.msg);
    vssm_weights_close(wf);
    free(path);
}

int main(void) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 2;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "%s", err.msg);
    test_presets();
    test_file();
    vssm_ctx_free(ctx);
    return test_finish("test_vim_errors");
}
