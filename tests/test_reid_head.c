/* tests/test_reid_head.c - the re-ID embedding head (heads/reid.c): global average pooling,
 * BNNeck (BatchNorm1d eval: (x - mean) / sqrt(var + eps) * w + b) found under each accepted
 * naming, affine-less BNNeck, the optional final LayerNorm and L2 normalisation, against a
 * naive double computation; refusals named. */
#include <math.h>
#include <string.h>
#include "testutil.h"
#include "vssm/reid.h"

enum { C = 5 };
typedef struct {
    const char *names[8];
    float data[8][C];
    int n;
} mem_src;

static vssm_status mem_get(void *user, const char *name, const int64_t *e, int en, vssm_tensor *out, vssm_err *err) {
    mem_src *m = user;
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->names[i], name)) {
            memset(out, 0, sizeof *out);
            out->data = m->data[i];
            out->dtype = VSSM_DTYPE_F32;
            out->ndim = 1;
            out->shape[0] = C;
            return VSSM_OK;
        }
    return vssm_err_set(err, VSSM_ERR_FORMAT, "tensor '%s' is missing", name);
}
static int mem_count(void *user) { return ((mem_src *)user)->n; }
static const char *mem_name(void *user, int i) { return ((mem_src *)user)->names[i]; }

static void add(mem_src *m, const char *name, const float *v) {
    m->names[m->n] = name;
    memcpy(m->data[m->n++], v, sizeof(float) * C);
}

static const float mean[C] = {0.1f, -0.2f, 0.3f, 0.f, 1.f}, var[C] = {1.f, 0.5f, 2.f, 0.25f, 4.f},
                   w[C] = {1.f, 2.f, 0.5f, -1.f, 1.5f}, b[C] = {0.f, 0.1f, -0.1f, 0.2f, 0.3f};

static void test_bnneck_names(void) {
    const char *bases[3] = {"backbone.bnneck.", "backbone.bottleneck.", "backbone.heads.bottleneck.0."};
    for (int k = 0; k < 3; k++) {
        mem_src m = {{0}, {{0}}, 0};
        char n[4][96];
        const char *f[4] = {"running_mean", "running_var", "weight", "bias"};
        const float *v[4] = {mean, var, w, b};
        for (int i = 0; i < 4; i++) {
            snprintf(n[i], sizeof n[i], "%s%s", bases[k], f[i]);
            add(&m, n[i], v[i]);
        }
        vssm_source src = {&m, mem_get, mem_count, mem_name, NULL};
        vssm_reid_head *h;
        vssm_err err = {0};
        TEST_REQUIRE(vssm_reid_head_load(&h, C, &src, "backbone.", NULL, &err) == VSSM_OK, "%s", err.msg);
        TEST_CHECK(vssm_reid_head_bnneck(h) && !strcmp(vssm_reid_head_bnneck(h), bases[k] + 9), "BNNeck found as %s",
                   bases[k]);
        float x[C] = {1, 2, 3, 4, 5}, ref[C];
        for (int c = 0; c < C; c++) ref[c] = (float)((x[c] - mean[c]) / sqrt(var[c] + 1e-5) * w[c] + b[c]);
        vssm_reid_head_apply(h, x, 1);
        TEST_CHECK(test_rel_err(x, ref, C) < 1e-6, "BatchNorm1d eval formula (rel %.2g)", test_rel_err(x, ref, C));
        vssm_reid_head_free(h);
    }
    /* affine=False: running stats only; plus L2 */
    mem_src m = {{0}, {{0}}, 0};
    add(&m, "bnneck.running_mean", mean);
    add(&m, "bnneck.running_var", var);
    vssm_source src = {&m, mem_get, mem_count, mem_name, NULL};
    vssm_reid_head_opts o = vssm_reid_head_default_opts();
    o.l2norm = 1;
    vssm_reid_head *h;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_reid_head_load(&h, C, &src, "", &o, &err) == VSSM_OK, "%s", err.msg);
    float x[C] = {1, 2, 3, 4, 5}, ref[C];
    double nn = 0;
    for (int c = 0; c < C; c++) {
        ref[c] = (float)((x[c] - mean[c]) / sqrt(var[c] + 1e-5));
        nn += (double)ref[c] * ref[c];
    }
    for (int c = 0; c < C; c++) ref[c] = (float)(ref[c] / sqrt(nn));
    vssm_reid_head_apply(h, x, 1);
    TEST_CHECK(test_rel_err(x, ref, C) < 1e-6, "affine-less BNNeck + L2 (rel %.2g)", test_rel_err(x, ref, C));
    vssm_reid_head_free(h);
    /* off: no BNNeck even when present; on: required */
    o = vssm_reid_head_default_opts();
    o.bnneck = 0;
    TEST_REQUIRE(vssm_reid_head_load(&h, C, &src, "", &o, &err) == VSSM_OK && !vssm_reid_head_bnneck(h),
                 "--bnneck off");
    vssm_reid_head_free(h);
    o.bnneck = 1;
    mem_src empty = {{0}, {{0}}, 0};
    vssm_source esrc = {&empty, mem_get, mem_count, mem_name, NULL};
    TEST_CHECK(vssm_reid_head_load(&h, C, &esrc, "", &o, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "bnneck.running_mean"),
               "--bnneck on without one: %s", err.msg);
}

/* metadata reid_l2norm: "1" turns L2 on under the default (auto) option; an explicit 0 or 1
 * wins; any other value, or none, leaves it off */
static const char *meta_l2_on(void *user, const char *key) {
    (void)user;
    return !strcmp(key, "reid_l2norm") ? "1" : NULL;
}
static const char *meta_l2_off(void *user, const char *key) {
    (void)user;
    return !strcmp(key, "reid_l2norm") ? "0" : NULL;
}

static void test_l2_from_metadata(void) {
    mem_src m = {{0}, {{0}}, 0};
    add(&m, "bnneck.running_mean", mean);
    add(&m, "bnneck.running_var", var);
    const struct {
        const char *(*meta)(void *, const char *);
        int opt, want;
    } cases[] = {{meta_l2_on, -1, 1}, {meta_l2_on, 0, 0}, {meta_l2_off, -1, 0},
                 {meta_l2_off, 1, 1}, {NULL, -1, 0},      {NULL, 1, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        vssm_source src = {&m, mem_get, mem_count, mem_name, cases[k].meta};
        vssm_reid_head_opts o = vssm_reid_head_default_opts();
        TEST_CHECK(o.l2norm == -1, "default l2norm is auto");
        o.l2norm = cases[k].opt;
        vssm_reid_head *h;
        vssm_err err = {0};
        TEST_REQUIRE(vssm_reid_head_load(&h, C, &src, "", &o, &err) == VSSM_OK, "%s", err.msg);
        TEST_CHECK(vssm_reid_head_l2norm(h) == cases[k].want, "case %zu: l2norm %d, want %d", k,
                   vssm_reid_head_l2norm(h), cases[k].want);
        float x[C] = {1, 2, 3, 4, 5};
        vssm_reid_head_apply(h, x, 1);
        double nn = 0;
        for (int c = 0; c < C; c++) nn += (double)x[c] * x[c];
        TEST_CHECK((fabs(nn - 1) < 1e-6) == cases[k].want, "case %zu: |emb|^2 = %g", k, nn);
        vssm_reid_head_free(h);
    }
}

static void test_forward_pool_norm(void) {
    enum { B = 2, H = 3, W = 2 };
    float feat[B * H * W * C];
    for (int i = 0; i < B * H * W * C; i++) feat[i] = (float)sin(i * 0.7) * 3 + (i % C);
    const float g[C] = {1, 0.5f, 2, 1, -1}, be[C] = {0, 1, 0, -1, 0.5f};
    mem_src m = {{0}, {{0}}, 0};
    add(&m, "classifier.norm.weight", g);
    add(&m, "classifier.norm.bias", be);
    vssm_source src = {&m, mem_get, mem_count, mem_name, NULL};
    vssm_ctx *ctx = NULL;
    vssm_ctx_opts co = vssm_ctx_default_opts();
    vssm_err err = {0};
    TEST_REQUIRE(vssm_ctx_new(&ctx, &co, &err) == VSSM_OK, "%s", err.msg);
    vssm_tensor t = {feat, VSSM_DTYPE_F32, 4, {B, H, W, C}, VSSM_DEVICE_CPU};
    for (int fn = 0; fn < 2; fn++) {
        vssm_reid_head_opts o = vssm_reid_head_default_opts();
        o.final_norm = fn;
        vssm_reid_head *h;
        TEST_REQUIRE(vssm_reid_head_load(&h, C, &src, "", &o, &err) == VSSM_OK, "%s", err.msg);
        float emb[B * C], ref[B * C];
        float copy[B * H * W * C];
        memcpy(copy, feat, sizeof feat);
        vssm_tensor tc = t;
        tc.data = copy;
        TEST_REQUIRE(vssm_reid_head_forward(h, ctx, &tc, 1, emb, &err) == VSSM_OK, "%s", err.msg);
        for (int bb = 0; bb < B; bb++)
            for (int c = 0; c < C; c++) {
                double s = 0;
                for (int l = 0; l < H * W; l++) {
                    const float *tok = feat + ((size_t)bb * H * W + l) * C;
                    double v = tok[c];
                    if (fn) {
                        double mu = 0, va = 0;
                        for (int k = 0; k < C; k++) mu += tok[k];
                        mu /= C;
                        for (int k = 0; k < C; k++) va += (tok[k] - mu) * (tok[k] - mu);
                        v = (v - mu) / sqrt(va / C + 1e-5) * g[c] + be[c];
                    }
                    s += v;
                }
                ref[bb * C + c] = (float)(s / (H * W));
            }
        TEST_CHECK(test_rel_err(emb, ref, B * C) < 1e-6, "%s: GAP%s vs naive (rel %.2g)", fn ? "final norm" : "plain",
                   fn ? " of LayerNorm'd tokens" : "", test_rel_err(emb, ref, B * C));
        vssm_reid_head_free(h);
    }
    vssm_ctx_free(ctx);
}

int main(void) {
    test_bnneck_names();
    test_forward_pool_norm();
    test_l2_from_metadata();
    return test_finish("test_reid_head");
}
