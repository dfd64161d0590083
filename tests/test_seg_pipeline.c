/* tests/test_seg_pipeline.c - the mmseg test pipeline end to end on an mmseg-style .pth
 * (torch.save of {'meta', 'state_dict'} with backbone. (outnorms), decode_head. and an
 * auxiliary_head. that must be ignored): whole mode with Resize keep_ratio (cv2 linear)
 * and logits resized back, slide mode (grids, windows, averaging); cv2 INTER_LINEAR
 * against OpenCV's own output; the window formula. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vssm/segment.h"
#include "vssm/weights.h"

static void test_cv2_resize(void) {
    vssm_err err = {0};
    char *p = test_data_path("seg/cv2_resize.safetensors");
    vssm_weights *w;
    TEST_REQUIRE(vssm_weights_open(&w, p, NULL, &err) == VSSM_OK, "%s", err.msg);
    int n = atoi(vssm_weights_meta(w, "n"));
    for (int i = 0; i < n; i++) {
        char a[16], b[16];
        snprintf(a, sizeof a, "src_%d", i);
        snprintf(b, sizeof b, "dst_%d", i);
        vssm_tensor ts, td;
        vssm_weights_get(w, a, &ts, &err);
        vssm_weights_get(w, b, &td, &err);
        vssm_image src = {(int)ts.shape[1], (int)ts.shape[0], 3, ts.data}, dst = {0};
        TEST_REQUIRE(vssm_image_resize_cv2(&src, (int)td.shape[1], (int)td.shape[0], &dst, &err) == VSSM_OK, "%s",
                     err.msg);
        int diff = 0;
        for (int64_t k = 0; k < vssm_tensor_numel(&td); k++) diff += dst.data[k] != ((uint8_t *)td.data)[k];
        TEST_CHECK(diff == 0, "cv2 INTER_LINEAR %dx%d -> %dx%d: %d bytes differ from OpenCV", src.w, src.h, dst.w,
                   dst.h, diff);
        vssm_image_free(&dst);
    }
    vssm_weights_close(w);
    free(p);
}

static void test_windows(void) {
    /* python: max(H - crop + stride - 1, 0) // stride + 1, y2 = min(y1 + crop, H), y1 = max(y2 - crop, 0) */
    TEST_CHECK(vssm_seg_slide_grids(512, 512, 341) == 1 && vssm_seg_slide_grids(683, 512, 341) == 2 &&
                   vssm_seg_slide_grids(100, 512, 341) == 1 && vssm_seg_slide_grids(1024, 512, 341) == 3 &&
                   vssm_seg_slide_grids(513, 512, 341) == 2,
               "grid counts (one row past the crop needs a second window)");
    int a, b;
    vssm_seg_slide_window(683, 512, 341, 1, &a, &b);
    TEST_CHECK(a == 171 && b == 683, "last window is pushed back inside: [%d, %d)", a, b);
    vssm_seg_slide_window(100, 512, 341, 0, &a, &b);
    TEST_CHECK(a == 0 && b == 100, "a window larger than the image is the image: [%d, %d)", a, b);
    int rw, rh;
    vssm_seg_rescale_size(683, 512, 2048, 512, &rw, &rh);
    TEST_CHECK(rw == 683 && rh == 512, "ADE-sized image unchanged by (2048, 512): %dx%d", rw, rh);
    vssm_seg_rescale_size(53, 37, 64, 40, &rw, &rh);
    TEST_CHECK(rw == 57 && rh == 40, "mmcv rescale 53x37 by (64, 40) -> 57x40, got %dx%d", rw, rh);
    vssm_seg_rescale_size(3000, 1000, 2048, 512, &rw, &rh);
    TEST_CHECK(rw == 1536 && rh == 512, "3000x1000 by (2048, 512) -> 1536x512, got %dx%d", rw, rh);
    vssm_seg_rescale_size(47, 35, 64, 40, &rw, &rh); /* int(47 * (40 / 35) + 0.5) = int(54.21) */
    TEST_CHECK(rw == 54 && rh == 40, "mmcv rescale rounds half up: 47x35 by (64, 40) -> 54x40, got %dx%d", rw, rh);
}

static void test_checkpoint_pipeline(void) {
    vssm_err err = {0};
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 2;
    vssm_ctx *ctx;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "%s", err.msg);
    char *ck = test_data_path("seg/tiny_upernet.pth");
    vssm_segmenter *sg;
    TEST_REQUIRE(vssm_segmenter_load(&sg, ctx, ck, NULL, &err) == VSSM_OK, "load the mmseg .pth: %s", err.msg);
    TEST_CHECK(vssm_segmenter_classes(sg) == 5 && vssm_segmenter_head_config(sg)->kind == VSSM_SEG_HEAD_UPER &&
                   vssm_segmenter_head_config(sg)->channels == 16,
               "UPerHead 16 ch, 5 classes (auxiliary head ignored)");
    vssm_seg_preprocess pp = vssm_segmenter_get_preprocess(sg);
    TEST_CHECK(pp.scale_long == 2048 && pp.scale_short == 512 && pp.mode == VSSM_SEG_MODE_WHOLE,
               "mmseg ADE20K test defaults");
    char *pr = test_data_path("seg/pipeline.safetensors");
    vssm_weights *w;
    TEST_REQUIRE(vssm_weights_open(&w, pr, NULL, &err) == VSSM_OK, "%s", err.msg);
    vssm_tensor ti, tw, ts, twl, tsl;
    vssm_weights_get(w, "image", &ti, &err);
    vssm_weights_get(w, "whole", &tw, &err);
    vssm_weights_get(w, "slide", &ts, &err);
    vssm_weights_get(w, "whole_labels", &twl, &err);
    vssm_weights_get(w, "slide_labels", &tsl, &err);
    vssm_image im = {(int)ti.shape[1], (int)ti.shape[0], 3, ti.data};
    const size_t npx = (size_t)im.w * im.h, n = npx * 5;
    float *lg = malloc(n * sizeof(float)), *ref_w = malloc(n * sizeof(float)), *ref_s = malloc(n * sizeof(float));
    uint8_t *lab = malloc(npx);
    /* copies: safetensors data after the u8 image need not be 4-byte aligned */
    TEST_REQUIRE(vssm_tensor_numel(&tw) == (int64_t)n && vssm_tensor_numel(&ts) == (int64_t)n &&
                     vssm_tensor_to_f32(&tw, ref_w, &err) == VSSM_OK && vssm_tensor_to_f32(&ts, ref_s, &err) == VSSM_OK,
                 "reference logits: %s", err.msg);

    pp.scale_long = 64, pp.scale_short = 40;
    TEST_REQUIRE(vssm_segmenter_set_preprocess(sg, &pp, &err) == VSSM_OK, "%s", err.msg);
    TEST_REQUIRE(vssm_segmenter_predict(sg, &im, lg, lab, &err) == VSSM_OK, "whole: %s", err.msg);
    double e = test_rel_err(lg, ref_w, n);
    TEST_CHECK(e <= 1e-4, "whole mode (resize 53x37 -> 57x40, back to 53x37) logits: rel err %.3g (<= 1e-4)", e);
    int d = 0;
    for (size_t i = 0; i < npx; i++) d += lab[i] != ((uint8_t *)twl.data)[i];
    TEST_CHECK(d == 0, "whole mode labels: %d of %zu differ", d, npx);

    pp.scale_long = pp.scale_short = 0;
    pp.mode = VSSM_SEG_MODE_SLIDE, pp.crop = 24, pp.stride = 16;
    TEST_REQUIRE(vssm_segmenter_set_preprocess(sg, &pp, &err) == VSSM_OK, "%s", err.msg);
    TEST_REQUIRE(vssm_segmenter_predict(sg, &im, lg, lab, &err) == VSSM_OK, "slide: %s", err.msg);
    e = test_rel_err(lg, ref_s, n);
    TEST_CHECK(e <= 1e-4, "slide mode (crop 24, stride 16: 2x3 windows, averaged) logits: rel err %.3g (<= 1e-4)", e);
    d = 0;
    for (size_t i = 0; i < npx; i++) d += lab[i] != ((uint8_t *)tsl.data)[i];
    TEST_CHECK(d == 0, "slide mode labels: %d of %zu differ", d, npx);
    pp.crop = 0;
    TEST_CHECK(vssm_segmenter_set_preprocess(sg, &pp, &err) == VSSM_ERR_INVALID_ARG, "slide with crop 0 refused");

    free(lg), free(lab), free(ref_w), free(ref_s);
    vssm_weights_close(w);
    vssm_segmenter_free(sg);
    /* a classification checkpoint has no decode head: named error */
    char *cls = test_data_path("cli/tiny_cls.safetensors");
    TEST_CHECK(vssm_segmenter_load(&sg, ctx, cls, NULL, &err) == VSSM_ERR_FORMAT && strstr(err.msg, "conv_seg"),
               "no decode head is a named error: %s", err.msg);
    free(cls), free(ck), free(pr);
    vssm_ctx_free(ctx);
}

int main(void) {
    test_cv2_resize();
    test_windows();
    test_checkpoint_pipeline();
    return test_finish("test_seg_pipeline");
}
