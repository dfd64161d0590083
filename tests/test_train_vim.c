/* tests/test_train_vim.c - the Vim classifier's whole-model backward (train/vim_train.c)
 * against PyTorch autograd on our float64 reference (tests/reference/vim_ref.py, vectors by
 * gen_vim_train_grad_vectors.py):
 *   - the loss (cross-entropy, label smoothing 0.1) within 1e-5 relative, the logits 1e-4;
 *   - every parameter's gradient, in its official layout, within 1e-4 relative
 *     (max|a - b| / max|b| per tensor, whole tensors);
 *   - the same gradient bits with 1 and 3 threads;
 *   - a plan at another size than the position grid is refused by name;
 *   - a frozen backbone gives the head's gradients with the same bits and no other; a new head
 *     and a model from scratch start from the official inits (A_log log(1..N), D 1, head bias 0,
 *     head weight std 0.02) and train (finite loss and gradients);
 *   - the family-neutral vssm_trainer gives each family's trainer's bits (Vim: this file's
 *     gradients; VMamba: a reduced config from scratch, against vssm_vmamba_trainer's own).
 * Files: "odd" (overlapping 5x5 patches at stride 4, d_model 20, d_state 3, div2, batch 3) and
 * "long" (71 tokens: past the 64-token blocks and scan chunks, no divide-by-2, batch 2).
 * Usage: test_train_vim [-v]   (-v: every tensor's error) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vim_vectors.h"
#include "vssm/train.h"
#include "vssm/weights.h"

static int verbose;

/* one file at n_threads: loss, logits, gradients; the whole gradient buffer in *grads */
/* the vectors file (its config from the metadata and shapes) and a context of n_threads */
static vssm_weights *open_case(const char *file, int n_threads, vssm_vim_config *cfg, vssm_ctx **ctx) {
    char *path = test_data_path(file);
    vssm_err err = {0};
    vssm_weights *vf = NULL;
    TEST_REQUIRE(vssm_weights_open(&vf, path, NULL, &err) == VSSM_OK, "%s: %s", path, err.msg);
    TEST_REQUIRE(vssm_vim_config_infer(vssm_weights_source(vf), "", cfg, &err) == VSSM_OK, "%s: infer: %s", file,
                 err.msg);
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = n_threads;
    TEST_REQUIRE(vssm_ctx_new(ctx, &o, &err) == VSSM_OK, "context: %s", err.msg);
    free(path);
    return vf;
}

static void run_case(const char *file, int n_threads, float **grads, int64_t *ngrads) {
    vssm_err err = {0};
    vssm_vim_config cfg;
    vssm_ctx *ctx = NULL;
    vssm_weights *vf = open_case(file, n_threads, &cfg, &ctx);
    const vssm_source *src = vssm_weights_source(vf);
    const float smoothing = strtof(vssm_weights_meta(vf, "smoothing"), NULL);
    vssm_vim_trainer *t = NULL;
    TEST_REQUIRE(vssm_vim_trainer_create(&t, ctx, &cfg, src, "", NULL, &err) == VSSM_OK, "%s: trainer: %s", file,
                 err.msg);
    int B, H, W;
    float *x = vimvec_nhwc(vf, "input", &B, &H, &W);
    TEST_REQUIRE(x && B <= 64, "%s: input", file);
    TEST_CHECK(vssm_vim_trainer_plan(t, B, H + cfg.stride, W, &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg, "position grid"),
               "%s: another size than the position grid is refused: %s", file, err.msg);
    TEST_REQUIRE(vssm_vim_trainer_plan(t, B, H, W, &err) == VSSM_OK, "plan: %s", err.msg);
    vssm_tensor lt;
    TEST_REQUIRE(vssm_weights_get(vf, "labels", &lt, &err) == VSSM_OK && lt.dtype == VSSM_DTYPE_I32 &&
                     vssm_tensor_numel(&lt) == B,
                 "%s: labels (I32, B)", file);
    int32_t lab[64];
    memcpy(lab, lt.data, (size_t)B * sizeof(int32_t));
    float *ref_loss = vimvec_f32(vf, "loss", NULL, NULL), loss = 0;
    float *logits = malloc((size_t)B * cfg.num_classes * sizeof(float));
    TEST_REQUIRE(ref_loss && logits, "%s: loss", file);
    vssm_vim_trainer_zero_grad(t);
    TEST_REQUIRE(vssm_vim_trainer_step(t, x, lab, smoothing, &loss, &err) == VSSM_OK, "step: %s", err.msg);
    vssm_vim_trainer_logits(t, logits, &err);
    const double el = fabs(loss - ref_loss[0]) / fabs(ref_loss[0]);
    TEST_CHECK(el <= 1e-5, "%s (%d threads): loss %.7f, PyTorch %.7f: rel err %.3g > 1e-5", file, n_threads, loss,
               ref_loss[0], el);
    const double eg = vimvec_compare(vf, file, "logits", logits, 1e-4, 0);
    double worst = 0;
    const char *wname = "";
    for (int i = 0; i < vssm_vim_trainer_n_tensors(t); i++) {
        const vssm_train_tensor ti = vssm_vim_trainer_tensor(t, i);
        float *got = malloc((size_t)ti.numel * sizeof(float));
        char nm[160];
        snprintf(nm, sizeof nm, "grad.%s", ti.name);
        vssm_vim_trainer_read(t, i, 1, got);
        const double e = vimvec_compare(vf, file, nm, got, 1e-4, verbose);
        if (e >= worst) worst = e, wname = ti.name;
        free(got);
    }
    printf("%s, %d thread(s): loss %.7f (PyTorch %.7f, rel %.1e), logits rel %.1e, %d gradients, "
           "worst rel err %.2e (%s)\n",
           file, n_threads, loss, ref_loss[0], el, eg, vssm_vim_trainer_n_tensors(t), worst, wname);
    printf("  saved activations %.3f MB, scratch %.3f MB\n", vssm_vim_trainer_saved_bytes(t) / 1e6,
           vssm_vim_trainer_scratch_bytes(t) / 1e6);
    size_t sv, sc;
    vssm_vim_train_memory(&cfg, B, &sv, &sc);
    TEST_CHECK(sv == vssm_vim_trainer_saved_bytes(t) && sc == vssm_vim_trainer_scratch_bytes(t),
               "vssm_vim_train_memory %zu + %zu bytes, the plan %zu + %zu", sv, sc, vssm_vim_trainer_saved_bytes(t),
               vssm_vim_trainer_scratch_bytes(t));
    const float *g = vssm_vim_trainer_grads(t, ngrads);
    *grads = malloc((size_t)*ngrads * sizeof(float));
    memcpy(*grads, g, (size_t)*ngrads * sizeof(float));
    free(x), free(ref_loss), free(logits);
    vssm_vim_trainer_free(t);
    vssm_ctx_free(ctx);
    vssm_weights_close(vf);
}

/* tensor name of t (official layout) in a malloc'ed array; n its numel */
static float *read_named(vssm_vim_trainer *t, const char *name, int grad, int64_t *n) {
    for (int i = 0; i < vssm_vim_trainer_n_tensors(t); i++) {
        const vssm_train_tensor ti = vssm_vim_trainer_tensor(t, i);
        if (strcmp(ti.name, name)) continue;
        float *h = malloc((size_t)ti.numel * sizeof(float));
        vssm_vim_trainer_read(t, i, grad, h);
        *n = ti.numel;
        return h;
    }
    TEST_REQUIRE(0, "no tensor %s", name);
    return NULL;
}

/* a linear probe's gradients, a new head's and a fresh model's first values, on the odd file */
static void test_freeze_init(const float *full_grads, int64_t nfull) {
    vssm_err err = {0};
    vssm_vim_config cfg;
    vssm_ctx *ctx = NULL;
    vssm_weights *vf = open_case("train/vim_grad_odd.safetensors", 2, &cfg, &ctx);
    const vssm_source *src = vssm_weights_source(vf);
    int B, H, W;
    float *x = vimvec_nhwc(vf, "input", &B, &H, &W);
    const int32_t lab[3] = {1, 6, 0};
    float loss = 0;
    vssm_tensor lt;
    TEST_REQUIRE(vssm_weights_get(vf, "labels", &lt, &err) == VSSM_OK && B == 3, "labels");
    /* frozen: head.* as the full step's, every other gradient 0 */
    vssm_vim_trainer *t = NULL;
    TEST_REQUIRE(vssm_vim_trainer_create(&t, ctx, &cfg, src, "", NULL, &err) == VSSM_OK, "trainer: %s", err.msg);
    TEST_REQUIRE(vssm_vim_trainer_plan(t, B, H, W, &err) == VSSM_OK, "plan: %s", err.msg);
    vssm_vim_trainer_freeze_backbone(t, 1);
    vssm_vim_trainer_zero_grad(t);
    TEST_REQUIRE(vssm_vim_trainer_step(t, x, (const int32_t *)lt.data, 0.1f, &loss, &err) == VSSM_OK, "step: %s",
                 err.msg);
    int64_t n;
    const float *g = vssm_vim_trainer_grads(t, &n);
    int head_same = n == nfull, rest_zero = 1;
    for (int i = 0; i < vssm_vim_trainer_n_tensors(t) && head_same; i++) {
        const vssm_train_tensor ti = vssm_vim_trainer_tensor(t, i);
        for (int64_t j = ti.offset; j < ti.offset + ti.numel; j++)
            if (!strncmp(ti.name, "head.", 5))
                head_same &= g[j] == full_grads[j];
            else
                rest_zero &= g[j] == 0;
    }
    TEST_CHECK(head_same && rest_zero, "frozen backbone: head gradients as the full step's (%d), others 0 (%d)",
               head_same, rest_zero);
    vssm_vim_trainer_free(t);
    /* a new head, then a model from scratch: official first values, one finite step */
    for (int scratch = 0; scratch < 2; scratch++) {
        const vssm_train_init in = {1, 7};
        TEST_REQUIRE(vssm_vim_trainer_create(&t, ctx, &cfg, scratch ? NULL : src, "", &in, &err) == VSSM_OK,
                     "trainer: %s", err.msg);
        TEST_REQUIRE(vssm_vim_trainer_plan(t, B, H, W, &err) == VSSM_OK, "plan: %s", err.msg);
        int64_t nb, nw, na, nd, nf;
        float *hb = read_named(t, "head.bias", 0, &nb), *hw = read_named(t, "head.weight", 0, &nw);
        float *al = read_named(t, "layers.1.mixer.A_b_log", 0, &na), *dd = read_named(t, "layers.0.mixer.D", 0, &nd);
        float *file_a = vimvec_f32(vf, "layers.1.mixer.A_b_log", NULL, NULL);
        double ss = 0;
        int ok = 1;
        for (int64_t j = 0; j < nb; j++) ok &= hb[j] == 0;
        for (int64_t j = 0; j < nw; j++) ss += (double)hw[j] * hw[j];
        const double sd = sqrt(ss / nw);
        TEST_CHECK(ok && sd > 0.012 && sd < 0.028, "new head: bias 0 (%d), weight std %.4f ~ 0.02", ok, sd);
        ok = 1;
        for (int64_t j = 0; j < na; j++)
            ok &= scratch ? fabsf(al[j] - logf((float)(j % cfg.d_state + 1))) < 1e-6f : al[j] == file_a[j];
        for (int64_t j = 0; j < nd && scratch; j++) ok &= dd[j] == 1.0f;
        TEST_CHECK(ok, "%s: A_b_log %s, D", scratch ? "from scratch" : "new head",
                   scratch ? "log(1..N)" : "the file's");
        vssm_vim_trainer_zero_grad(t);
        TEST_REQUIRE(vssm_vim_trainer_step(t, x, lab, 0.1f, &loss, &err) == VSSM_OK, "step: %s", err.msg);
        const float *gg = vssm_vim_trainer_grads(t, &nf);
        ok = isfinite(loss) && loss > 0;
        for (int64_t j = 0; j < nf; j++) ok &= isfinite(gg[j]);
        TEST_CHECK(ok, "%s: loss %g and gradients finite", scratch ? "from scratch" : "new head", loss);
        free(hb), free(hw), free(al), free(dd), free(file_a);
        vssm_vim_trainer_free(t);
    }
    free(x);
    vssm_ctx_free(ctx);
    vssm_weights_close(vf);
}

/* vssm_trainer over both families: the same bits as the family's own trainer */
static void test_facade(const float *full_grads, int64_t nfull) {
    vssm_err err = {0};
    vssm_vim_config cfg;
    vssm_ctx *ctx = NULL;
    vssm_weights *vf = open_case("train/vim_grad_odd.safetensors", 2, &cfg, &ctx);
    int B, H, W;
    float *x = vimvec_nhwc(vf, "input", &B, &H, &W), loss = 0;
    vssm_tensor lt;
    TEST_REQUIRE(x && vssm_weights_get(vf, "labels", &lt, &err) == VSSM_OK, "input, labels");
    vssm_trainer *t = NULL;
    TEST_REQUIRE(vssm_trainer_create_vim(&t, ctx, &cfg, vssm_weights_source(vf), "", NULL, &err) == VSSM_OK,
                 "trainer: %s", err.msg);
    TEST_REQUIRE(vssm_trainer_plan(t, B, H, W, &err) == VSSM_OK, "plan: %s", err.msg);
    vssm_trainer_zero_grad(t);
    TEST_REQUIRE(vssm_trainer_step(t, x, (const int32_t *)lt.data, 0.1f, &loss, &err) == VSSM_OK, "step: %s", err.msg);
    int64_t n;
    const float *g = vssm_trainer_grads(t, &n);
    TEST_CHECK(n == nfull && !memcmp(g, full_grads, (size_t)n * sizeof(float)) &&
                   !strcmp(vssm_trainer_head_prefix(t), "head.") && vssm_trainer_n_tensors(t) == 41,
               "vssm_trainer over a Vim: the Vim trainer's gradients, head prefix %s", vssm_trainer_head_prefix(t));
    vssm_trainer_free(t);
    free(x);
    /* VMamba: dims 8..24, from scratch (seed 5), 19x23, batch 2 */
    vssm_vmamba_config vc;
    TEST_REQUIRE(vssm_vmamba_config_preset(&vc, "vmamba-tiny", &err) == VSSM_OK, "preset: %s", err.msg);
    const int dims[4] = {8, 12, 16, 24}, depths[4] = {1, 1, 1, 1};
    memcpy(vc.dims, dims, sizeof dims), memcpy(vc.depths, depths, sizeof depths);
    vc.num_classes = 3;
    const vssm_train_init in = {1, 5};
    const int32_t lab[2] = {2, 0};
    float *xv = malloc((size_t)2 * 19 * 23 * 3 * sizeof(float)), *gd[2];
    for (int i = 0; i < 2 * 19 * 23 * 3; i++) xv[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    vssm_vmamba_trainer *d = NULL;
    TEST_REQUIRE(vssm_vmamba_trainer_create(&d, ctx, &vc, NULL, "", &in, &err) == VSSM_OK &&
                     vssm_trainer_create_vmamba(&t, ctx, &vc, NULL, "", &in, &err) == VSSM_OK,
                 "VMamba trainers: %s", err.msg);
    int64_t nd;
    TEST_REQUIRE(vssm_vmamba_trainer_plan(d, 2, 19, 23, &err) == VSSM_OK &&
                     vssm_trainer_plan(t, 2, 19, 23, &err) == VSSM_OK,
                 "plan: %s", err.msg);
    vssm_vmamba_trainer_zero_grad(d), vssm_trainer_zero_grad(t);
    TEST_REQUIRE(vssm_vmamba_trainer_step(d, xv, lab, 0.1f, &loss, &err) == VSSM_OK &&
                     vssm_trainer_step(t, xv, lab, 0.1f, &loss, &err) == VSSM_OK,
                 "step: %s", err.msg);
    gd[0] = vssm_vmamba_trainer_grads(d, &nd), gd[1] = vssm_trainer_grads(t, &n);
    TEST_CHECK(n == nd && !memcmp(gd[0], gd[1], (size_t)n * sizeof(float)) &&
                   !strcmp(vssm_trainer_head_prefix(t), "classifier.head."),
               "vssm_trainer over a VMamba: the VMamba trainer's gradients");
    vssm_vmamba_trainer_free(d), vssm_trainer_free(t);
    free(xv);
    vssm_ctx_free(ctx);
    vssm_weights_close(vf);
}

int main(int argc, char **argv) {
    verbose = argc > 1 && !strcmp(argv[1], "-v");
    const char *files[] = {"train/vim_grad_odd.safetensors", "train/vim_grad_long.safetensors"};
    for (int f = 0; f < 2; f++) {
        float *g1, *g3;
        int64_t n1, n3;
        run_case(files[f], 1, &g1, &n1);
        run_case(files[f], 3, &g3, &n3);
        TEST_CHECK(n1 == n3 && !memcmp(g1, g3, (size_t)n1 * sizeof(float)), "%s: gradients differ at 1 and 3 threads",
                   files[f]);
        if (f == 0) test_freeze_init(g1, n1), test_facade(g1, n1);
        free(g1), free(g3);
    }
    return test_finish("test_train_vim");
}
