/* tests/test_vim_tasks.c - the task heads on a Vision Mamba, against our PyTorch reference
 * (tests/reference/gen_vim_task_vectors.py: vimseg_ref.py, uperhead_ref.py, vim_ref.py):
 *   - the backbone interface (vssm/backbone.h) on the official segmentation checkpoint
 *     layout (mmseg .pth, no class token): its stages are the block outputs of out_indices,
 *     <= 1e-5 each;
 *   - segmentation logits (encode_decode) of VisionMambaSeg + fpn neck + UPerHead, at the
 *     training grid and at a resampled one, the patch-8 neck, a single block output for all
 *     levels, and no neck: <= 1e-4;
 *   - the re-ID embedding (mean of the final tokens, BNNeck, L2) <= 1e-4;
 *   - what a head needs and a Vim file lacks is refused with the file named;
 *   - with VSSM_VIM_SEG_FULL=DIR (gen_vim_task_vectors.py --full DIR): a full-size Vim-T
 *     UperNet (random weights) on a 512 x 512 window, logits <= 1e-4.
 * Figures (max|a-b| / max|b|) are printed.
 *
 * Usage: test_vim_tasks [cpu|cuda]   (cuda: the backbone on the GPU, heads on the CPU; exits
 * 77 without a GPU) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "vim_vectors.h"
#include "vssm/backbone.h"
#include "vssm/reid.h"
#include "vssm/segment.h"

#define TOL_LAYER 1e-5
#define TOL_OUT 1e-4

static vssm_ctx *ctx;

static void test_backbone_taps(void) {
    char *pth = test_data_path("vim/seg_p16.pth"), *refp = test_data_path("vim/seg_p16_ref.safetensors");
    vssm_err err = {0};
    vssm_weights *wf = NULL;
    TEST_REQUIRE(vssm_weights_open(&wf, refp, NULL, &err) == VSSM_OK, "%s", err.msg);
    int B, H, W;
    float *x = vimvec_nhwc(wf, "input_a", &B, &H, &W);
    TEST_REQUIRE(x, "input_a");

    vssm_backbone_opts o;
    memset(&o, 0, sizeof o);
    o.key = "state_dict";
    o.n_out = 4;
    const int idx[4] = {1, 3, 5, 7};
    memcpy(o.out_indices, idx, sizeof idx);
    vssm_backbone *bb = NULL;
    vssm_preprocess_params pp;
    TEST_REQUIRE(vssm_backbone_load_file(&bb, ctx, pth, &o, &pp, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(vssm_backbone_get_kind(bb) == VSSM_BACKBONE_VIM && !strcmp(vssm_backbone_prefix(bb), "backbone.") &&
                   vssm_backbone_stages(bb) == 4 && vssm_backbone_stage_channels(bb, 3) == 8 &&
                   vssm_backbone_stage_stride(bb, 0) == 16 && vssm_backbone_stage_offset(bb, 0) == 8.0 &&
                   vssm_backbone_min_side(bb) == 16 && vssm_backbone_stage_channels(bb, 4) == 0,
               "a Vim's stages: 4 block outputs of 8 channels at stride 16, prefix backbone.");
    const vssm_vim_config *vc = vssm_vim_get_config(vssm_backbone_vim(bb));
    TEST_CHECK(vc->no_cls_token == 1 && vc->num_classes == 0 && vc->pos_grid_h == 4 && vc->depth == 8,
               "the segmentation backbone is inferred: no class token, no head, 4 x 4 grid, depth 8");
    vssm_backbone_state *st = NULL;
    TEST_REQUIRE(vssm_backbone_state_new(&st, bb, B, H, W, &err) == VSSM_OK, "%s", err.msg);
    TEST_REQUIRE(vssm_backbone_forward(bb, st, x, &err) == VSSM_OK, "%s", err.msg);
    for (int k = 0; k < 4; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "ref.tap%d_a", k);
        vssm_tensor t = vssm_backbone_feature(st, k);
        TEST_CHECK(t.ndim == 4 && t.shape[0] == 1 && t.shape[1] == 4 && t.shape[2] == 4 && t.shape[3] == 8,
                   "stage %d shape", k);
        float *h = vimvec_to_host(ctx, t);
        vimvec_compare(wf, "seg_p16.pth", nm, h, TOL_LAYER, 1);
        free(h);
    }
    TEST_CHECK(vssm_backbone_feature(st, 4).data == NULL, "no stage 4");
    vssm_backbone_state_free(st);
    vssm_backbone_free(bb);

    /* without out_indices: one stage, the final token grid */
    o.n_out = -1;
    TEST_REQUIRE(vssm_backbone_load_file(&bb, ctx, pth, &o, NULL, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(vssm_backbone_stages(bb) == 1, "a plain Vim has one stage (got %d)", vssm_backbone_stages(bb));
    vssm_backbone_free(bb);
    free(x);
    vssm_weights_close(wf);
    free(pth);
    free(refp);
}

/* encode_decode of the file's segmenter on input NAME (B = 1) against REF: (1, H, W, K) NHWC */
static void seg_parity(vssm_segmenter *sg, vssm_weights *wf, const char *file, const char *input, const char *ref) {
    vssm_err err = {0};
    int B, H, W;
    float *x = vimvec_nhwc(wf, input, &B, &H, &W);
    TEST_REQUIRE(x && B == 1, "%s: %s", file, input);
    const int K = vssm_segmenter_classes(sg);
    float *lg = malloc(sizeof(float) * (size_t)H * W * K);
    TEST_REQUIRE(vssm_segmenter_encode_decode(sg, x, H, W, lg, &err) == VSSM_OK, "%s: %s", file, err.msg);
    vimvec_compare(wf, file, ref, lg, TOL_OUT, 1);
    free(lg);
    free(x);
}

/* path's tensors, less the one named skip, with extra metadata k=v, written to out */
static void write_variant(const char *path, const char *skip, const char *k, const char *v, const char *out) {
    vssm_err err = {0};
    vssm_weights *w = NULL;
    TEST_REQUIRE(vssm_weights_open(&w, path, NULL, &err) == VSSM_OK, "%s", err.msg);
    const int n = vssm_weights_count(w), nm = vssm_weights_meta_count(w);
    vssm_st_entry *e = calloc((size_t)n, sizeof *e);
    vssm_st_meta *m = calloc((size_t)nm + 1, sizeof *m);
    int ne = 0, nmeta = 0;
    for (int i = 0; i < n; i++) {
        const char *name = vssm_weights_name(w, i);
        if (skip && !strcmp(name, skip)) continue;
        e[ne].name = name;
        TEST_REQUIRE(vssm_weights_get(w, name, &e[ne].t, &err) == VSSM_OK, "%s", err.msg);
        ne++;
    }
    for (int i = 0; i < nm; i++) {
        const char *key = vssm_weights_meta_key(w, i);
        if (k && !strcmp(key, k)) continue;
        m[nmeta++] = (vssm_st_meta){key, vssm_weights_meta(w, key)};
    }
    if (k) m[nmeta++] = (vssm_st_meta){k, v};
    TEST_REQUIRE(vssm_safetensors_write(out, e, ne, m, nmeta, &err) == VSSM_OK, "%s", err.msg);
    free(e);
    free(m);
    vssm_weights_close(w);
}

static void test_segment(void) {
    vssm_err err = {0};
    /* the official layout: mmseg .pth (state_dict), patch 16, out_indices by default 1, 3, 5, 7 */
    char *pth = test_data_path("vim/seg_p16.pth"), *refp = test_data_path("vim/seg_p16_ref.safetensors");
    vssm_weights *wf = NULL;
    TEST_REQUIRE(vssm_weights_open(&wf, refp, NULL, &err) == VSSM_OK, "%s", err.msg);
    vssm_segmenter *sg = NULL;
    TEST_REQUIRE(vssm_segmenter_load(&sg, ctx, pth, NULL, &err) == VSSM_OK, "%s", err.msg);
    vssm_seg_preprocess pp = vssm_segmenter_get_preprocess(sg);
    TEST_CHECK(pp.mode == VSSM_SEG_MODE_SLIDE && pp.crop == 512 && pp.stride == 341 && pp.scale_long == 2048 &&
                   pp.scale_short == 512,
               "a Vim UperNet defaults to the official test settings: slide 512 / 341 after Resize(2048, 512)");
    const vssm_seg_head_config *hc = vssm_segmenter_head_config(sg);
    TEST_CHECK(hc->kind == VSSM_SEG_HEAD_UPER && hc->in_channels[0] == 8 && hc->in_channels[3] == 8 &&
                   hc->num_classes == 3,
               "UPerHead on four 8-channel levels, 3 classes");
    seg_parity(sg, wf, "seg_p16.pth", "input_a", "ref.logits_a"); /* 4 x 4 tokens: the training grid */
    seg_parity(sg, wf, "seg_p16.pth", "input_b", "ref.logits_b"); /* 3 x 5 tokens: pos_embed resampled */
    vssm_segmenter_free(sg);
    vssm_weights_close(wf);

    /* patch 8 neck with one block output for every level; no neck */
    const char *small[2] = {"seg_p8", "seg_nofpn"};
    for (int i = 0; i < 2; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "vim/%s.safetensors", small[i]);
        char *path = test_data_path(rel);
        TEST_REQUIRE(vssm_weights_open(&wf, path, NULL, &err) == VSSM_OK, "%s", err.msg);
        TEST_REQUIRE(vssm_segmenter_load(&sg, ctx, path, NULL, &err) == VSSM_OK, "%s", err.msg);
        seg_parity(sg, wf, small[i], "input", "ref.logits");
        vssm_segmenter_free(sg);
        vssm_weights_close(wf);
        free(path);
    }

    /* what the head needs and the file lacks: named, with the file */
    char *cls = test_data_path("vim/sq_b2.safetensors");
    TEST_CHECK(vssm_segmenter_load(&sg, ctx, cls, NULL, &err) == VSSM_ERR_FORMAT && !sg && strstr(err.msg, cls) &&
                   strstr(err.msg, "conv_seg"),
               "a classification Vim has no decode head: %s", err.msg);
    char tmp[] = "/tmp/vssm_vim_seg_XXXXXX";
    TEST_REQUIRE(mkdtemp(tmp), "mkdtemp");
    char bad[96], *p8 = test_data_path("vim/seg_p8.safetensors");
    snprintf(bad, sizeof bad, "%s/no_fpn2.safetensors", tmp);
    write_variant(pth, "backbone.fpn2.0.weight", NULL, NULL, bad);
    TEST_CHECK(vssm_segmenter_load(&sg, ctx, bad, NULL, &err) == VSSM_ERR_FORMAT && !sg && strstr(err.msg, bad) &&
                   strstr(err.msg, "backbone.fpn2.0.weight"),
               "a neck tensor missing is named: %s", err.msg);
    remove(bad);
    snprintf(bad, sizeof bad, "%s/two_outs.safetensors", tmp);
    write_variant(p8, NULL, "out_indices", "0,2", bad);
    TEST_CHECK(vssm_segmenter_load(&sg, ctx, bad, NULL, &err) == VSSM_ERR_FORMAT && !sg && strstr(err.msg, bad) &&
                   strstr(err.msg, "out_indices"),
               "two block outputs cannot feed four levels: %s", err.msg);
    remove(bad);
    TEST_REQUIRE(vssm_segmenter_load(&sg, ctx, p8, NULL, &err) == VSSM_OK, "%s", err.msg);
    float x[24 * 24 * 3] = {0}, lg[24 * 24 * 3];
    TEST_CHECK(vssm_segmenter_encode_decode(sg, x, 24, 24, lg, &err) == VSSM_ERR_SHAPE && strstr(err.msg, "level 3"),
               "a 3 x 3 token grid has no stride-32 level after MaxPool2d(4): %s", err.msg);
    vssm_segmenter_free(sg);
    rmdir(tmp);
    free(p8);
    free(cls);
    free(pth);
    free(refp);
}

/* VSSM_VIM_SEG_FULL=DIR (gen_vim_task_vectors.py --full DIR): a full-size Vim-T UperNet on
 * one 512 x 512 window, the first 8 classes' logits <= 1e-4, labels over all 150 */
static void test_segment_full(const char *dir) {
    char pth[1024], refp[1024];
    snprintf(pth, sizeof pth, "%s/vim_tiny_upernet.pth", dir);
    snprintf(refp, sizeof refp, "%s/vim_tiny_upernet_ref.safetensors", dir);
    vssm_err err = {0};
    vssm_weights *wf = NULL;
    vssm_segmenter *sg = NULL;
    TEST_REQUIRE(vssm_weights_open(&wf, refp, NULL, &err) == VSSM_OK, "%s", err.msg);
    TEST_REQUIRE(vssm_segmenter_load(&sg, ctx, pth, NULL, &err) == VSSM_OK, "%s", err.msg);
    int B, H, W;
    float *x = vimvec_nhwc(wf, "input", &B, &H, &W);
    const int K = vssm_segmenter_classes(sg);
    float *lg = malloc(sizeof(float) * (size_t)H * W * K), *c8 = malloc(sizeof(float) * (size_t)H * W * 8);
    TEST_REQUIRE(x && lg && c8 && K == 150, "input, 150 classes");
    TEST_REQUIRE(vssm_segmenter_encode_decode(sg, x, H, W, lg, &err) == VSSM_OK, "%s", err.msg);
    size_t differ = 0;
    vssm_tensor lt;
    TEST_REQUIRE(vssm_weights_get(wf, "ref.labels", &lt, &err) == VSSM_OK, "%s", err.msg);
    for (size_t p = 0; p < (size_t)H * W; p++) {
        memcpy(c8 + p * 8, lg + p * K, 8 * sizeof(float));
        int best = 0;
        for (int k = 1; k < K; k++) best = lg[p * K + k] > lg[p * K + best] ? k : best;
        differ += best != ((const uint8_t *)lt.data)[p];
    }
    vimvec_compare(wf, "Vim-T UperNet", "ref.logits_c8", c8, TOL_OUT, 1);
    printf("  %-18s %zu of %d argmax labels differ\n", "Vim-T UperNet", differ, H * W);
    TEST_CHECK(differ <= (size_t)H * W / 1000, "labels equal the reference's but for near-ties (%zu differ)", differ);
    free(x), free(lg), free(c8);
    vssm_segmenter_free(sg);
    vssm_weights_close(wf);
}

static void test_reid(void) {
    char *path = test_data_path("vim/reid.safetensors");
    vssm_err err = {0};
    vssm_weights *wf = NULL;
    TEST_REQUIRE(vssm_weights_open(&wf, path, NULL, &err) == VSSM_OK, "%s", err.msg);
    int B, H, W;
    float *x = vimvec_nhwc(wf, "input", &B, &H, &W);
    TEST_REQUIRE(x, "input");
    for (int l2 = 0; l2 <= 1; l2++) {
        vssm_reid_model_opts o = vssm_reid_model_default_opts();
        o.head.l2norm = l2;
        vssm_reid_model *m = NULL;
        TEST_REQUIRE(vssm_reid_model_load(&m, ctx, path, &o, &err) == VSSM_OK, "%s", err.msg);
        TEST_CHECK(vssm_reid_model_dim(m) == 16 && vssm_reid_head_bnneck(vssm_reid_model_head(m)) &&
                       !strcmp(vssm_reid_head_bnneck(vssm_reid_model_head(m)), "bnneck.") &&
                       vssm_backbone_get_kind(vssm_reid_model_backbone(m)) == VSSM_BACKBONE_VIM,
                   "a Vim re-ID model: 16 dims, the file's BNNeck");
        float emb[2 * 16];
        TEST_REQUIRE(vssm_reid_model_forward(m, x, B, H, W, emb, &err) == VSSM_OK, "%s", err.msg);
        vimvec_compare(wf, "reid", l2 ? "ref.emb_l2" : "ref.emb", emb, TOL_OUT, 1);
        vssm_reid_model_free(m);
    }
    /* what the head needs and a Vim lacks: the file is named */
    vssm_reid_model_opts o = vssm_reid_model_default_opts();
    o.head.final_norm = 1;
    vssm_reid_model *m = NULL;
    TEST_CHECK(vssm_reid_model_load(&m, ctx, path, &o, &err) == VSSM_ERR_UNSUPPORTED && !m && strstr(err.msg, path) &&
                   strstr(err.msg, "norm_f"),
               "final_norm on a Vim is refused naming the file: %s", err.msg);
    char *seg = test_data_path("vim/seg_p8.safetensors");
    o = vssm_reid_model_default_opts();
    o.head.bnneck = 1;
    TEST_CHECK(vssm_reid_model_load(&m, ctx, seg, &o, &err) == VSSM_ERR_FORMAT && !m && strstr(err.msg, seg) &&
                   strstr(err.msg, "bnneck"),
               "a required BNNeck missing from a Vim file is named: %s", err.msg);
    free(seg);
    free(x);
    vssm_weights_close(wf);
    free(path);
}

int main(int argc, char **argv) {
    vssm_err err = {0};
    vssm_ctx_opts co = vssm_ctx_default_opts();
    co.n_threads = 2;
    if (argc > 1 && !strcmp(argv[1], "cuda")) {
        co.device = VSSM_DEVICE_CUDA;
        if (vssm_ctx_new(&ctx, &co, &err) != VSSM_OK) test_skip(err.msg);
    }
    if (!ctx) TEST_REQUIRE(vssm_ctx_new(&ctx, &co, &err) == VSSM_OK, "%s", err.msg);
    test_backbone_taps();
    test_segment();
    if (getenv("VSSM_VIM_SEG_FULL")) test_segment_full(getenv("VSSM_VIM_SEG_FULL"));
    test_reid();
    vssm_ctx_free(ctx);
    return test_finish("test_vim_tasks");
}
