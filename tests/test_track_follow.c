/* tests/test_track_follow.c - the tracker follows a real-photo patch (a 40x40 piece of
 * eagle_387x256_444.jpg) moving over another real photo (dog_400x300_420.jpg) by (+6, +3)
 * px a frame, with the random 3-class tiny backbone (tests/data/cli/tiny_cls.safetensors)
 * and the default config; sanity threshold: mean IoU >= 0.6 and every frame's IoU >= 0.3
 * (measured 0.965 / 0.958 on CPU). Also: bad inputs give named errors, not crashes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vssm/classifier.h"
#include "vssm/track.h"

#define FRAMES 16
#define PS 40

static void paste(vssm_image *dst, const vssm_image *src, int sx, int sy, int dx, int dy) {
    for (int y = 0; y < PS; y++) memcpy(dst->data + ((size_t)(dy + y) * dst->w + dx) * 3, src->data + ((size_t)(sy + y) * src->w + sx) * 3, PS * 3);
}

int main(void) {
    vssm_err err = {0};
    vssm_ctx_opts co = vssm_ctx_default_opts();
    co.n_threads = 2;
    vssm_ctx *ctx;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &co, &err) == VSSM_OK, "%s", err.msg);
    char *wp = test_data_path("cli/tiny_cls.safetensors"), *bp = test_data_path("images/dog_400x300_420.jpg"),
         *pp_ = test_data_path("images/eagle_387x256_444.jpg");
    vssm_vmamba *m;
    vssm_preprocess_params pp;
    TEST_REQUIRE(vssm_vmamba_load_file(&m, ctx, wp, NULL, NULL, &pp, &err) == VSSM_OK, "%s", err.msg);
    vssm_image bg = {0}, src = {0}, frame = {0};
    TEST_REQUIRE(vssm_image_load(&bg, bp, NULL, &err) == VSSM_OK && vssm_image_load(&src, pp_, NULL, &err) == VSSM_OK, "%s", err.msg);
    TEST_REQUIRE(vssm_image_alloc(&frame, bg.w, bg.h, 3, &err) == VSSM_OK, "%s", err.msg);

    vssm_tracker_config cfg = vssm_tracker_config_default();
    vssm_tracker *t;
    TEST_REQUIRE(vssm_tracker_new(&t, m, &pp, &cfg, &err) == VSSM_OK, "%s", err.msg);

    /* bad inputs first: named errors, nothing crashes */
    memcpy(frame.data, bg.data, (size_t)bg.w * bg.h * 3);
    vssm_box out;
    TEST_CHECK(vssm_tracker_update(t, &frame, &out, NULL, &err) == VSSM_ERR_INVALID_ARG && strstr(err.msg, "init"),
               "update before init: %s", err.msg);
    TEST_CHECK(vssm_tracker_init(t, &frame, (vssm_box){10, 10, 0, 20}, &err) == VSSM_ERR_INVALID_ARG && strstr(err.msg, "w, h > 0"),
               "zero-width init box: %s", err.msg);
    TEST_CHECK(vssm_tracker_init(t, &frame, (vssm_box){10, 10, 20, -3}, &err) == VSSM_ERR_INVALID_ARG, "negative height refused");
    TEST_CHECK(vssm_tracker_init(t, &frame, (vssm_box){NAN, 10, 20, 20}, &err) == VSSM_ERR_INVALID_ARG, "NaN refused");
    TEST_CHECK(vssm_tracker_init(t, &frame, (vssm_box){500, 10, 20, 20}, &err) == VSSM_ERR_INVALID_ARG && strstr(err.msg, "outside"),
               "box outside the frame: %s", err.msg);
    vssm_image empty = {0};
    TEST_CHECK(vssm_tracker_init(t, &empty, (vssm_box){10, 10, 20, 20}, &err) == VSSM_ERR_INVALID_ARG, "empty frame refused");
    vssm_tracker_config badc = cfg;
    badc.search_size = 64;
    vssm_tracker *t2 = NULL;
    TEST_CHECK(vssm_tracker_new(&t2, m, &pp, &badc, &err) == VSSM_ERR_INVALID_ARG && !t2, "search smaller than template: %s", err.msg);

    double sum = 0, worst = 1;
    for (int i = 0; i < FRAMES; i++) {
        int x = 60 + 6 * i, y = 60 + 3 * i;
        memcpy(frame.data, bg.data, (size_t)bg.w * bg.h * 3);
        paste(&frame, &src, 170, 60, x, y);
        vssm_box truth = {x, y, PS, PS};
        if (i == 0) {
            TEST_REQUIRE(vssm_tracker_init(t, &frame, truth, &err) == VSSM_OK, "%s", err.msg);
            continue;
        }
        float score;
        TEST_REQUIRE(vssm_tracker_update(t, &frame, &out, &score, &err) == VSSM_OK, "%s", err.msg);
        double iou = vssm_box_iou(out, truth);
        if (iou < 0.5) printf("  frame %d: (%.1f, %.1f, %.1f, %.1f) truth (%d, %d) IoU %.3f score %.3f\n", i, out.x, out.y, out.w, out.h, x, y, iou, score);
        sum += iou;
        worst = iou < worst ? iou : worst;
        TEST_CHECK(score >= -1.0001f && score <= 1.0001f, "score is a cosine (%g)", score);
    }
    double mean = sum / (FRAMES - 1);
    printf("  moving patch, %d frames: mean IoU %.3f, worst %.3f\n", FRAMES, mean, worst);
    TEST_CHECK(mean >= 0.6, "the tracker follows the patch: mean IoU %.3f >= 0.6", mean);
    TEST_CHECK(worst >= 0.3, "never lost: worst IoU %.3f >= 0.3", worst);

    vssm_tracker_free(t);
    vssm_image_free(&frame);
    vssm_image_free(&bg);
    vssm_image_free(&src);
    vssm_vmamba_free(m);
    vssm_ctx_free(ctx);
    free(wp);
    free(bp);
    free(pp_);
    return test_finish("test_track_follow");
}
