/* tests/test_weights_infer.c - VMamba configs from shapes, checks against a stated arch
 * (the first offending tensor and both shapes), and the metadata round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vssm/infer.h"
#include "vssm/weights.h"

static vssm_weights *open_fixture(const char *name, const char *key) {
    char rel[128];
    snprintf(rel, sizeof rel, "weights/%s", name);
    char *p = test_data_path(rel);
    vssm_weights_opts opts = {key};
    vssm_weights *w = NULL;
    vssm_err err = {0};
    vssm_status s = vssm_pth_open(&w, p, &opts, &err);
    free(p);
    TEST_REQUIRE(s == VSSM_OK, "%s: %s", name, err.msg);
    return w;
}

static void test_infer_ckpt(void) {
    vssm_weights *w = open_fixture("ckpt_tiny.pth", NULL);
    const vssm_source *src = vssm_weights_source(w);
    vssm_vmamba_config c;
    vssm_err err = {0};
    char prefix[64];
    TEST_CHECK(vssm_vmamba_find_prefix(src, prefix, sizeof prefix, &err) == VSSM_OK && !prefix[0], "prefix: '%s' %s",
               prefix, err.msg);
    TEST_REQUIRE(vssm_vmamba_config_infer(src, "", &c, &err) == VSSM_OK, "infer: %s", err.msg);
    const int dims[4] = {2, 4, 8, 16}, depths[4] = {1, 1, 2, 1};
    TEST_CHECK(!memcmp(c.dims, dims, sizeof dims), "dims %d,%d,%d,%d", c.dims[0], c.dims[1], c.dims[2], c.dims[3]);
    TEST_CHECK(!memcmp(c.depths, depths, sizeof depths), "depths %d,%d,%d,%d", c.depths[0], c.depths[1], c.depths[2],
               c.depths[3]);
    TEST_CHECK(c.ssm_ratio == 2.0f && c.d_state == 1 && c.dt_rank == 0 && c.mlp_ratio == 4.0f && c.num_classes == 10 &&
                   c.in_chans == 3,
               "ssm_ratio %g d_state %d dt_rank %d mlp %g classes %d in %d", (double)c.ssm_ratio, c.d_state, c.dt_rank,
               (double)c.mlp_ratio, c.num_classes, c.in_chans);
    TEST_CHECK(!strcmp(c.forward_type, "v05_noz") && !strcmp(c.arch, "custom"), "forward %s arch %s", c.forward_type,
               c.arch);
    TEST_CHECK(vssm_vmamba_config_check(&c, src, "", &err) == VSSM_OK, "check of the inferred config: %s", err.msg);

    vssm_vmamba_config bad = c;
    bad.ssm_ratio = 1.0f;
    TEST_CHECK(vssm_vmamba_config_check(&bad, src, "", &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg,
                          "'layers.0.blocks.0.op.in_proj.weight' has shape (4, 2) in the file, the arch needs (2, 2)"),
               "ssm_ratio mismatch message: %s", err.msg);
    bad = c;
    bad.depths[2] = 1;
    TEST_CHECK(vssm_vmamba_config_check(&bad, src, "", &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg, "layers.2.blocks.1.") && strstr(err.msg, "beyond"),
               "extra block message: %s", err.msg);
    bad = c;
    bad.depths[3] = 2;
    TEST_CHECK(vssm_vmamba_config_check(&bad, src, "", &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg, "layers.3.blocks.1.norm.weight") && strstr(err.msg, "lacks"),
               "missing block message: %s", err.msg);
    vssm_vmamba_config tiny;
    TEST_REQUIRE(vssm_vmamba_config_preset(&tiny, "vmamba-tiny", &err) == VSSM_OK, "preset: %s", err.msg);
    TEST_CHECK(vssm_vmamba_config_check(&tiny, src, "", &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg, "arch vmamba-tiny: tensor 'patch_embed.0.weight' has shape (1, 3, 3, 3) in the "
                                   "file, the arch needs (48, 3, 3, 3)"),
               "preset mismatch message: %s", err.msg);
    vssm_weights_close(w);
}

static void test_infer_mmseg(void) {
    vssm_weights *w = open_fixture("mmseg_tiny.pth", NULL);
    const vssm_source *src = vssm_weights_source(w);
    vssm_vmamba_config c;
    vssm_err err = {0};
    char prefix[64];
    TEST_CHECK(vssm_vmamba_find_prefix(src, prefix, sizeof prefix, &err) == VSSM_OK && !strcmp(prefix, "backbone."),
               "mmseg prefix '%s'", prefix);
    TEST_CHECK(vssm_vmamba_config_infer(src, prefix, &c, &err) == VSSM_OK && c.num_classes == 0 && c.depths[2] == 1,
               "mmseg infer: %s (classes %d)", err.msg, c.num_classes);
    TEST_CHECK(vssm_vmamba_config_check(&c, src, prefix, &err) == VSSM_OK, "mmseg check: %s", err.msg);
    TEST_CHECK(vssm_vmamba_config_infer(src, "", &c, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "patch_embed.0.weight"),
               "no-prefix infer should name the missing tensor: %s", err.msg);
    vssm_weights_close(w);
}

/* ---- a shape-only source with the full vmamba-small layout: the arch gets its name */
typedef struct fake {
    char names[600][80];
    int64_t shapes[600][4];
    int nd[600];
    int n;
} fake;
static int fk_count(void *u) { return ((fake *)u)->n; }
static const char *fk_name(void *u, int i) { return ((fake *)u)->names[i]; }
static vssm_status fk_get(void *u, const char *name, const int64_t *e, int en, vssm_tensor *out, vssm_err *err) {
    fake *f = u;
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->names[i], name)) {
            memset(out, 0, sizeof *out);
            out->ndim = f->nd[i];
            memcpy(out->shape, f->shapes[i], sizeof f->shapes[i]);
            return VSSM_OK;
        }
    return vssm_err_set(err, VSSM_ERR_FORMAT, "missing %s", name);
}
static void fk_add(fake *f, const char *name, int nd, int64_t a, int64_t b, int64_t c, int64_t d) {
    snprintf(f->names[f->n], sizeof f->names[0], "%s", name);
    int64_t s[4] = {a, b, c, d};
    memcpy(f->shapes[f->n], s, sizeof s);
    f->nd[f->n++] = nd;
}

static void test_infer_named_arch(void) {
    static fake f;
    const int C = 96, depths[4] = {2, 2, 15, 2};
    fk_add(&f, "patch_embed.0.weight", 4, C / 2, 3, 3, 3);
    char nm[80];
    for (int i = 0; i < 4; i++) {
        int64_t d = (int64_t)C << i, di = 2 * d, R = (d + 15) / 16;
        for (int j = 0; j < depths[i]; j++) {
            snprintf(nm, sizeof nm, "layers.%d.blocks.%d.norm.weight", i, j);
            fk_add(&f, nm, 1, d, 0, 0, 0);
            snprintf(nm, sizeof nm, "layers.%d.blocks.%d.op.conv2d.weight", i, j);
            fk_add(&f, nm, 4, di, 1, 3, 3);
            snprintf(nm, sizeof nm, "layers.%d.blocks.%d.op.in_proj.weight", i, j);
            fk_add(&f, nm, 2, di, d, 0, 0);
            snprintf(nm, sizeof nm, "layers.%d.blocks.%d.op.x_proj_weight", i, j);
            fk_add(&f, nm, 3, 4, R + 2, di, 0);
            snprintf(nm, sizeof nm, "layers.%d.blocks.%d.op.dt_projs_weight", i, j);
            fk_add(&f, nm, 3, 4, di, R, 0);
            snprintf(nm, sizeof nm, "layers.%d.blocks.%d.mlp.fc1.weight", i, j);
            fk_add(&f, nm, 2, 4 * d, d, 0, 0);
        }
    }
    fk_add(&f, "classifier.head.weight", 2, 1000, 768, 0, 0);
    vssm_source src = {&f, fk_get, fk_count, fk_name, NULL};
    vssm_vmamba_config c;
    vssm_err err = {0};
    TEST_CHECK(vssm_vmamba_config_infer(&src, "", &c, &err) == VSSM_OK && !strcmp(c.arch, "vmamba-small") &&
                   c.num_classes == 1000,
               "vmamba-small layout inferred as '%s' (%s)", c.arch, err.msg);
}

/* ---- metadata */
typedef struct kv {
    vssm_config_meta m;
} kv;
static const char *kv_meta(void *u, const char *k) {
    kv *x = u;
    for (int i = 0; i < x->m.n; i++)
        if (!strcmp(x->m.key[i], k)) return x->m.value[i];
    return NULL;
}

static void test_meta(void) {
    vssm_vmamba_config c, back;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_vmamba_config_preset(&c, "vmamba-tiny", &err) == VSSM_OK, "preset: %s", err.msg);
    vssm_preprocess_params pp, pp2;
    vssm_preprocess_default(&pp);
    kv x;
    vssm_vmamba_config_to_meta(&c, &pp, &x.m);
    const char *want[][2] = {{"arch", "vmamba-tiny"},
                             {"forward_type", "v05_noz"},
                             {"dims", "96,192,384,768"},
                             {"depths", "2,2,8,2"},
                             {"ssm_ratio", "1.0"},
                             {"d_state", "1"},
                             {"dt_rank", "0"},
                             {"mlp_ratio", "4.0"},
                             {"num_classes", "1000"},
                             {"in_chans", "3"},
                             {"resize", "256"},
                             {"crop", "224"},
                             {"interpolation", "bicubic"},
                             {"mean", "0.485,0.456,0.406"},
                             {"std", "0.229,0.224,0.225"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *v = kv_meta(&x, want[i][0]);
        TEST_CHECK(v && !strcmp(v, want[i][1]), "meta %s = '%s', expected '%s'", want[i][0], v ? v : "(none)",
                   want[i][1]);
    }
    vssm_source src = {&x, NULL, NULL, NULL, kv_meta};
    TEST_CHECK(vssm_vmamba_config_from_meta(&src, &back, &pp2, &err) == VSSM_OK, "from_meta: %s", err.msg);
    TEST_CHECK(!memcmp(&c, &back, sizeof c), "config changed across the metadata round trip");
    TEST_CHECK(!memcmp(&pp, &pp2, sizeof pp), "preprocessing changed across the metadata round trip");
    snprintf(x.m.value[2], sizeof x.m.value[2], "96,192,384");
    TEST_CHECK(vssm_vmamba_config_from_meta(&src, &back, NULL, &err) == VSSM_ERR_FORMAT && strstr(err.msg, "dims"),
               "3 dims accepted: %s", err.msg);
}

int main(void) {
    test_infer_ckpt();
    test_infer_mmseg();
    test_infer_named_arch();
    test_meta();
    return test_finish("test_weights_infer");
}
