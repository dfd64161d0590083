/* tests/test_meta_bounds.c - numbers in a checkpoint's metadata are checked before use.
 *
 * The shipped segmentation and classification models are copied with one metadata value
 * changed at a time (a stranger's file) and loaded: every out-of-range, non-finite or
 * malformed value is a VSSM_ERR_FORMAT naming its key, never a load that goes on with it.
 * Before these checks a pool scale of 2^30 made the UPerHead's pooled buffers' size products
 * wrap to 0 bytes (then a write far past the buffer), 'nan' or 2^31 - 1 as crop or stride
 * reached int conversions and window sums (undefined behaviour), and a NaN std passed the
 * "not 0" test. Unchanged copies load (the test can tell the two apart). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "vssm/classifier.h"
#include "vssm/segment.h"
#include "vssm/weights.h"

/* src copied to dst with metadata key set to value (added when absent; value NULL: as is) */
static void copy_with(const char *src, const char *dst, const char *key, const char *value) {
    vssm_err err = {0};
    vssm_weights *w;
    if (vssm_weights_open(&w, src, NULL, &err) != VSSM_OK) TEST_REQUIRE(0, "%s: %s", src, err.msg);
    const int nt = vssm_weights_count(w), nm = vssm_weights_meta_count(w);
    vssm_st_entry *e = calloc((size_t)nt, sizeof *e);
    vssm_st_meta *m = calloc((size_t)nm + 1, sizeof *m);
    if (!e || !m) TEST_REQUIRE(0, "out of memory");
    for (int i = 0; i < nt; i++) {
        e[i].name = vssm_weights_name(w, i);
        if (vssm_weights_get(w, e[i].name, &e[i].t, &err) != VSSM_OK) TEST_REQUIRE(0, "%s: %s", e[i].name, err.msg);
    }
    int n = 0, found = 0;
    for (int i = 0; i < nm; i++) {
        m[n].key = vssm_weights_meta_key(w, i);
        m[n].value = vssm_weights_meta(w, m[n].key);
        if (key && value && !strcmp(m[n].key, key)) m[n].value = value, found = 1;
        n++;
    }
    if (key && value && !found) m[n].key = key, m[n].value = value, n++;
    if (vssm_safetensors_write(dst, e, nt, m, n, &err) != VSSM_OK) TEST_REQUIRE(0, "%s: %s", dst, err.msg);
    free(e), free(m);
    vssm_weights_close(w);
}

typedef struct {
    const char *key, *value;
} kv;

int main(void) {
    vssm_err err = {0};
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 1;
    vssm_ctx *ctx;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "%s", err.msg);
    char dst[256];
    snprintf(dst, sizeof dst, "/tmp/vssm_test_meta_bounds_%d.safetensors", (int)getpid());

    const char *seg = VSSM_SOURCE_DIR "/weights/seg_demo/vmamba_seg_demo.safetensors";
    const kv bad_seg[] = {
        {"seg_pool_scales", "1,2,3,1073741824"}, /* the 0-byte buffers */
        {"seg_pool_scales", "1,2,3,0"},
        {"seg_pool_scales", "1,2,3,6,1,2,3,6,1"}, /* 9 scales: more than VSSM_SEG_MAX_POOL */
        {"seg_pool_scales", "1.5"},
        {"seg_crop", "nan"},
        {"seg_crop", "1e10"},
        {"seg_stride", "2147483647"},
        {"seg_stride", "-inf"},
        {"seg_scale", "1e300,512"},
        {"seg_scale", "0,512"}, /* one side 0: neither a scale nor "none" */
        {"seg_std", "nan,1,1"},
        {"seg_std", "1,0,1"},
        {"seg_mean", "1,inf,1"},
        {"seg_palette", "0,0,nan"},
        {"seg_palette", "0,0,256"},
        {"seg_reduce_zero_label", "yes"},
        {"seg_reduce_zero_label", "2"},
    };
    for (size_t i = 0; i < sizeof bad_seg / sizeof *bad_seg; i++) {
        copy_with(seg, dst, bad_seg[i].key, bad_seg[i].value);
        vssm_segmenter *sg = NULL;
        err.msg[0] = 0;
        vssm_status st = vssm_segmenter_load(&sg, ctx, dst, NULL, &err);
        const char *named = strcmp(bad_seg[i].key, "seg_scale") && strcmp(bad_seg[i].key, "seg_std") ? bad_seg[i].key
                                                                                                     : "";
        TEST_CHECK(st == VSSM_ERR_FORMAT && !sg && strstr(err.msg, named),
                   "segmenter with %s = '%s': refused, naming it (status %d: %s)", bad_seg[i].key, bad_seg[i].value,
                   (int)st, err.msg);
        vssm_segmenter_free(sg);
    }
    const kv good_seg[] = {{NULL, NULL},
                           {"seg_pool_scales", "1,2,3,6"},
                           {"seg_mode", "slide"},
                           {"seg_crop", "64"},
                           {"seg_stride", "48"},
                           {"seg_reduce_zero_label", "1"},
                           {"seg_palette", "0,0,255,255,0,0"}};
    for (size_t i = 0; i < sizeof good_seg / sizeof *good_seg; i++) {
        copy_with(seg, dst, good_seg[i].key, good_seg[i].value);
        vssm_segmenter *sg = NULL;
        vssm_status st = vssm_segmenter_load(&sg, ctx, dst, NULL, &err);
        TEST_CHECK(st == VSSM_OK, "segmenter with %s = '%s' loads: %s", good_seg[i].key ? good_seg[i].key : "nothing",
                   good_seg[i].value ? good_seg[i].value : "changed", st == VSSM_OK ? "" : err.msg);
        if (st == VSSM_OK && good_seg[i].key && !strcmp(good_seg[i].key, "seg_crop"))
            TEST_CHECK(vssm_segmenter_get_preprocess(sg).crop == 64, "crop 64 read");
        if (st == VSSM_OK && good_seg[i].key && !strcmp(good_seg[i].key, "seg_mode")) {
            /* slide windows stride apart: a stride over the crop leaves pixels uncovered (their
             * logits were 0/0, labelled class 0); the same check as the metadata's */
            vssm_seg_preprocess pp = vssm_segmenter_get_preprocess(sg);
            pp.crop = 32, pp.stride = 48;
            TEST_CHECK(vssm_segmenter_set_preprocess(sg, &pp, &err) == VSSM_ERR_INVALID_ARG &&
                           strstr(err.msg, "stride 48 is larger than its crop 32"),
                       "slide stride 48 over crop 32 refused: %s", err.msg);
            pp.stride = 32;
            TEST_CHECK(vssm_segmenter_set_preprocess(sg, &pp, &err) == VSSM_OK, "stride 32 = crop 32 taken: %s",
                       err.msg);
        }
        vssm_segmenter_free(sg);
    }

    /* VMamba's keys and Vim's (whose resize and crop went through atoi and its mean and std
     * through sscanf, trailing text and NaN accepted, before one parser served both) */
    const char *files[2] = {VSSM_SOURCE_DIR "/weights/fashion_mnist/vmamba_fashion.safetensors",
                            VSSM_TEST_DATA "/vim/nodiv_d20.safetensors"};
    const kv bad_cls[] = {{"resize", "4294967520"}, {"resize", "-1"}, {"crop", "224.5"},   {"crop", "nan"},
                          {"std", "nan,1,1"},       {"std", "1,1"},   {"mean", "0,0,inf"}, {"mean", "0,0,0,x"}};
    for (int f = 0; f < 2; f++) {
        for (size_t i = 0; i < sizeof bad_cls / sizeof *bad_cls; i++) {
            copy_with(files[f], dst, bad_cls[i].key, bad_cls[i].value);
            vssm_classifier *c = NULL;
            err.msg[0] = 0;
            vssm_status st = vssm_classifier_load(&c, ctx, dst, NULL, &err);
            TEST_CHECK(st == VSSM_ERR_FORMAT && !c && strstr(err.msg, bad_cls[i].key),
                       "%s classifier with %s = '%s': refused, naming it (status %d: %s)", f ? "Vim" : "VMamba",
                       bad_cls[i].key, bad_cls[i].value, (int)st, err.msg);
            vssm_classifier_free(c);
        }
        copy_with(files[f], dst, "crop", "28");
        vssm_classifier *c = NULL;
        TEST_CHECK(vssm_classifier_load(&c, ctx, dst, NULL, &err) == VSSM_OK, "%s classifier with crop 28 loads: %s",
                   f ? "Vim" : "VMamba", err.msg);
        vssm_classifier_free(c);
    }
    remove(dst);
    vssm_ctx_free(ctx);
    return test_finish("test_meta_bounds");
}
