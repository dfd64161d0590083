/* tests/test_vim_parity.c - the C Vision Mamba equals our PyTorch reference
 * (tests/reference/vim_ref.py, float64).
 *
 * For each vector file in tests/data/vim: infer the config from the tensors (+ the
 * file's stride/pos_grid/divide_out metadata where shapes cannot tell), load, run, and
 * compare max|a-b|/max|b|: the position embedding used (resampled when the grid differs),
 * the embedded tokens and block 0 <= 1e-5, final tokens / class token <= 1e-5, logits
 * <= 1e-4; the one-stream (tracking) mode's search tokens <= 1e-4. Also: one thread vs
 * two, and each batch item alone equals its slice of the batched run.
 *
 * Usage: test_vim_parity [cpu|cuda]   (cuda exits 77 without a GPU) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vim_vectors.h"
#include "vssm/heads.h"
#include "vssm/vim.h"
#include "vssm/vmamba.h"
#include "vssm/weights.h"

#define TOL_LAYER 1e-5
#define TOL_LOGITS 1e-4

static const char *files[] = {"sq_b2", "rect_resample", "stride8_ds8", "nodiv_d20"};
static vssm_device device = VSSM_DEVICE_CPU;

static int meta_int(vssm_weights *wf, const char *k) {
    const char *v = vssm_weights_meta(wf, k);
    return v ? atoi(v) : -1;
}

/* the class-token head (heads/classify.c) on the state's class token: host (B, classes) */
static float *head_logits(vssm_cls_head *head, const vssm_vim_state *st, int B, int classes) {
    vssm_err err = {0};
    vssm_tensor t = vssm_vim_cls(st);
    float *lg = malloc((size_t)B * classes * sizeof(float));
    TEST_REQUIRE(lg && vssm_cls_head_forward(head, &t, 1, lg, &err) == VSSM_OK, "head forward: %s", err.msg);
    return lg;
}

static void check_file(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "vim/%s.safetensors", name);
    char *path = test_data_path(rel);
    vssm_err err = {0};
    vssm_weights *wf = NULL;
    TEST_REQUIRE(vssm_weights_open(&wf, path, NULL, &err) == VSSM_OK, "open %s: %s", path, err.msg);
    const vssm_source *src = vssm_weights_source(wf);
    char prefix[64] = "?";
    TEST_CHECK(vssm_vim_detect(src, prefix, sizeof prefix) && prefix[0] == 0, "%s: not detected as a Vim", name);
    vssm_vim_config cfg;
    TEST_REQUIRE(vssm_vim_config_infer(src, "", &cfg, &err) == VSSM_OK, "%s: infer: %s", name, err.msg);
    TEST_CHECK(cfg.embed_dim == meta_int(wf, "embed_dim") && cfg.depth == meta_int(wf, "depth") &&
                   cfg.d_state == meta_int(wf, "d_state") && cfg.stride == meta_int(wf, "stride") &&
                   cfg.patch_size == meta_int(wf, "patch_size") && cfg.num_classes == meta_int(wf, "num_classes") &&
                   cfg.d_inner == 2 * cfg.embed_dim && cfg.d_conv == 4 && cfg.divide_out == meta_int(wf, "divide_out"),
               "%s: inferred config differs from the file's metadata", name);
    int B, H, W;
    float *x = vimvec_nhwc(wf, "input", &B, &H, &W);
    TEST_REQUIRE(x, "%s: input", name);

    for (int threads = 1; threads <= 2; threads++) {
        if (device == VSSM_DEVICE_CUDA && threads == 2) break;
        vssm_ctx_opts co = vssm_ctx_default_opts();
        co.n_threads = threads;
        co.device = device;
        vssm_ctx *ctx = NULL;
        TEST_REQUIRE(vssm_ctx_new(&ctx, &co, &err) == VSSM_OK, "ctx: %s", err.msg);
        vssm_vim *m = NULL;
        vssm_vim_state *st = NULL;
        vssm_cls_head *head = NULL;
        TEST_REQUIRE(vssm_vim_load(&m, ctx, &cfg, src, "", &err) == VSSM_OK, "%s: load: %s", name, err.msg);
        TEST_REQUIRE(vssm_cls_head_load(&head, ctx, VSSM_CLS_TOKEN, cfg.embed_dim, cfg.num_classes, src, "", &err) ==
                         VSSM_OK,
                     "%s: head: %s", name, err.msg);
        TEST_REQUIRE(vssm_vim_state_new(&st, m, B, H, W, &err) == VSSM_OK, "%s: state: %s", name, err.msg);
        TEST_CHECK(vssm_vim_tap(st, "embed").data == NULL, "%s: no taps unless asked for", name);
        TEST_REQUIRE(vssm_vim_state_keep_taps(st, &err) == VSSM_OK, "%s: taps: %s", name, err.msg);
        TEST_REQUIRE(vssm_vim_forward(m, st, x, &err) == VSSM_OK, "%s: forward: %s", name, err.msg);
        const int p = threads == 1;
        float *pos = vimvec_to_host(ctx, vssm_vim_tap(st, "pos")),
              *emb = vimvec_to_host(ctx, vssm_vim_tap(st, "embed"));
        float *b0 = vimvec_to_host(ctx, vssm_vim_tap(st, "block0")), *tok = vimvec_to_host(ctx, vssm_vim_feature(st));
        float *cls = vimvec_to_host(ctx, vssm_vim_cls(st)), *lg = head_logits(head, st, B, cfg.num_classes);
        vssm_tensor ft = vssm_vim_feature(st);
        int gh, gw;
        vssm_vim_grid(&cfg, H, W, &gh, &gw);
        TEST_CHECK(ft.ndim == 4 && ft.shape[0] == B && ft.shape[1] == gh && ft.shape[2] == gw &&
                       ft.shape[3] == cfg.embed_dim,
                   "%s: feature shape", name);
        vimvec_compare(wf, name, "ref.pos", pos, TOL_LAYER, p);
        vimvec_compare(wf, name, "ref.embed", emb, TOL_LAYER, p);
        vimvec_compare(wf, name, "ref.block0", b0, TOL_LAYER, p);
        vimvec_compare(wf, name, "ref.tokens", tok, TOL_LAYER, p);
        vimvec_compare(wf, name, "ref.cls", cls, TOL_LAYER, p);
        vimvec_compare(wf, name, "ref.logits", lg, TOL_LOGITS, p);

        if (B > 1 && threads == 2) { /* the last item alone equals its slice */
            vssm_vim_state *s1 = NULL;
            TEST_REQUIRE(vssm_vim_state_new(&s1, m, 1, H, W, &err) == VSSM_OK, "state 1: %s", err.msg);
            TEST_REQUIRE(vssm_vim_forward(m, s1, x + (size_t)(B - 1) * H * W * 3, &err) == VSSM_OK, "fwd 1: %s",
                         err.msg);
            float *l1 = head_logits(head, s1, 1, cfg.num_classes);
            double e = test_rel_err(l1, lg + (size_t)(B - 1) * cfg.num_classes, (size_t)cfg.num_classes);
            TEST_CHECK(e <= TOL_LAYER, "%s: batch item %d alone differs from the batch by %.3g", name, B - 1, e);
            free(l1);
            vssm_vim_state_free(s1);
        }
        /* one-stream tracking mode */
        int zb, zh, zw, sb, sh, sw;
        float *z = vimvec_nhwc(wf, "os.template", &zb, &zh, &zw),
              *s = z ? vimvec_nhwc(wf, "os.search", &sb, &sh, &sw) : NULL;
        if (z && s) {
            vssm_vim_state *so = NULL;
            TEST_REQUIRE(vssm_vim_state_new_onestream(&so, m, zb, zh, zw, sh, sw, &err) == VSSM_OK,
                         "onestream state: %s", err.msg);
            TEST_CHECK(vssm_vim_forward(m, so, x, &err) == VSSM_ERR_INVALID_ARG,
                       "plain forward on a one-stream state accepted");
            TEST_REQUIRE(vssm_vim_forward_onestream(m, so, z, s, &err) == VSSM_OK, "onestream: %s", err.msg);
            float *os = vimvec_to_host(ctx, vssm_vim_feature(so));
            TEST_CHECK(vssm_vim_cls(so).data == NULL, "one-stream state has no class token");
            vimvec_compare(wf, name, "ref.os_search", os, TOL_LOGITS, p);
            free(os);
            vssm_vim_state_free(so);
        }
        free(z);
        free(s);
        free(pos);
        free(emb);
        free(b0);
        free(tok);
        free(cls);
        free(lg);
        vssm_vim_state_free(st);
        vssm_cls_head_free(head);
        vssm_vim_free(m);
        vssm_ctx_free(ctx);
    }
    free(x);
    vssm_weights_close(wf);
    free(path);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "cuda")) {
        device = VSSM_DEVICE_CUDA;
        vssm_ctx_opts co = vssm_ctx_default_opts();
        co.device = device;
        vssm_ctx *ctx = NULL;
        vssm_err err = {0};
        if (vssm_ctx_new(&ctx, &co, &err) != VSSM_OK) test_skip(err.msg);
        vssm_ctx_free(ctx);
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) check_file(files[i]);
    return test_finish("test_vim_parity");
}
