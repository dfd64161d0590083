/* tests/test_track_crop.c - OSTrack sample_target crops against a numpy re-implementation
 * (tests/reference/gen_track_crop.py: round half to even, zero padding incl. OSTrack's
 * right/bottom pad quirk, boxes partly outside the image, up- and downscaling), hand-
 * computed geometry, crop <-> image and feature -> image mapping, and batched crop
 * features equal to one-by-one features. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vssm/classifier.h"
#include "vssm/track.h"

static int hexval(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

static void test_reference(void) {
    vssm_err err = {0};
    vssm_image im = {0};
    char *ip = test_data_path("images/dog_128x96.png"), *rp = test_data_path("track/crop_ref.txt");
    TEST_REQUIRE(vssm_image_load(&im, ip, NULL, &err) == VSSM_OK, "%s", err.msg);
    FILE *f = fopen(rp, "r");
    TEST_REQUIRE(f, "open %s (made by tests/reference/gen_track_crop.py)", rp);
    static char hex[1 << 16];
    int cases = 0;
    double x, y, w, h, fac;
    int out, x1, y1, cs;
    while (fscanf(f, "%lf %lf %lf %lf %lf %d %d %d %d %65535s", &x, &y, &w, &h, &fac, &out, &x1, &y1, &cs, hex) == 10) {
        vssm_box b = {x, y, w, h};
        uint8_t *crop = malloc((size_t)out * out * 3);
        vssm_crop_info ci;
        TEST_REQUIRE(vssm_crop_sample(&im, b, fac, out, crop, &ci, &err) == VSSM_OK, "%s", err.msg);
        TEST_CHECK(ci.x1 == x1 && ci.y1 == y1 && ci.crop_sz == cs,
                   "box (%g,%g,%g,%g) x%g: crop at (%d,%d) side %d, reference (%d,%d) %d", x, y, w, h, fac, ci.x1,
                   ci.y1, ci.crop_sz, x1, y1, cs);
        TEST_CHECK(fabs(ci.resize_factor - (double)out / cs) < 1e-15, "resize_factor = out/crop");
        int n = out * out * 3, maxd = 0, ndiff = 0;
        TEST_REQUIRE((int)strlen(hex) == 2 * n, "reference crop size");
        for (int i = 0; i < n; i++) {
            int r = hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]), d = abs(r - crop[i]);
            maxd = d > maxd ? d : maxd;
            ndiff += d != 0;
        }
        /* same float32 formula; only an FMA contraction may move a value sitting on .5 */
        TEST_CHECK(maxd <= 1 && ndiff <= n / 200, "box (%g,%g,%g,%g) x%g -> %d px: max diff %d, %d of %d values differ",
                   x, y, w, h, fac, out, maxd, ndiff, n);
        free(crop);
        cases++;
    }
    fclose(f);
    TEST_CHECK(cases == 9, "9 reference cases (got %d)", cases);
    free(ip);
    free(rp);
    vssm_image_free(&im);
}

static void test_geometry(void) {
    vssm_err err = {0};
    vssm_crop_info ci;
    /* OSTrack: template 2x -> 128 px, search 4x -> 256 px for a 32x32 box */
    TEST_REQUIRE(vssm_crop_plan((vssm_box){100, 50, 32, 32}, 2.0, 128, 640, 480, &ci, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(ci.crop_sz == 64 && ci.x1 == 84 && ci.y1 == 34 && ci.resize_factor == 2.0,
               "2x crop of 32x32: side 64 at (84,34)");
    /* ceil: sqrt(20*30)*2 = 48.99 -> 49; x1 = round(10 + 10 - 24.5) = round(-4.5) = -4 (half to even) */
    TEST_REQUIRE(vssm_crop_plan((vssm_box){10, 10, 20, 30}, 2.0, 64, 640, 480, &ci, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(ci.crop_sz == 49 && ci.x1 == -4 && ci.y1 == 0,
               "ceil and half-to-even (y1 = round(0.5) = 0): side %d x1 %d y1 %d", ci.crop_sz, ci.x1, ci.y1);
    /* crop -> image and back; the crop centre is the box centre when the side is even */
    vssm_crop_plan((vssm_box){100, 50, 32, 32}, 4.0, 256, 640, 480, &ci, &err);
    double ix, iy, u, v;
    vssm_crop_to_image(&ci, 128, 128, &ix, &iy);
    TEST_CHECK(fabs(ix - 116) < 1e-12 && fabs(iy - 66) < 1e-12, "crop centre -> box centre (116, 66): (%g, %g)", ix,
               iy);
    vssm_crop_from_image(&ci, 123.25, 40.5, &u, &v);
    vssm_crop_to_image(&ci, u, v, &ix, &iy);
    TEST_CHECK(fabs(ix - 123.25) < 1e-12 && fabs(iy - 40.5) < 1e-12, "image -> crop -> image round trip");
    /* feature cell f of a stride-s map is centred at crop pixel s*f (+0.5 continuous) */
    vssm_crop_feat_to_image(&ci, 8, 0, 0, &ix, &iy);
    TEST_CHECK(fabs(ix - (52 + 0.5 * 128.0 / 256)) < 1e-12, "cell 0 -> x1 + 0.5 * crop/out: %g", ix);
    vssm_crop_feat_to_image(&ci, 8, 16, 16, &ix, &iy);
    TEST_CHECK(fabs(ix - (52 + 128.5 * 0.5)) < 1e-12 && fabs(iy - (2 + 128.5 * 0.5)) < 1e-12,
               "cell 16 of stride 8 -> crop px 128.5: (%g, %g)", ix, iy);
    /* bad boxes are named errors */
    TEST_CHECK(vssm_crop_plan((vssm_box){10, 10, 0, 30}, 2.0, 64, 64, 64, &ci, &err) == VSSM_ERR_INVALID_ARG &&
                   strstr(err.msg, "zero"),
               "zero-size box: %s", err.msg);
    TEST_CHECK(vssm_crop_plan((vssm_box){10, 10, NAN, 30}, 2.0, 64, 64, 64, &ci, &err) == VSSM_ERR_INVALID_ARG,
               "NaN box refused");
    TEST_CHECK(vssm_crop_plan((vssm_box){10, 10, 0.1, 0.1}, 2.0, 64, 64, 64, &ci, &err) == VSSM_OK && ci.crop_sz == 1,
               "tiny box: side 1");
    /* a crop wholly outside the image is all zeros */
    vssm_image im = {0};
    vssm_image_alloc(&im, 8, 8, 3, &err);
    memset(im.data, 200, 8 * 8 * 3);
    uint8_t out[4 * 4 * 3];
    TEST_REQUIRE(vssm_crop_sample(&im, (vssm_box){100, 100, 4, 4}, 1.0, 4, out, NULL, &err) == VSSM_OK, "%s", err.msg);
    int nz = 0;
    for (int i = 0; i < 48; i++) nz += out[i] != 0;
    TEST_CHECK(nz == 0, "crop outside the image is zero padding");
    /* the last column is dropped once the crop reaches the right edge (OSTrack's pad) */
    TEST_REQUIRE(vssm_crop_sample(&im, (vssm_box){4, 0, 4, 4}, 1.0, 4, out, NULL, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(out[0] == 200 && out[2 * 3] == 200 && out[3 * 3] == 0, "columns 4..6 kept, column 7 zero (%d %d %d)",
               out[0], out[6], out[9]);
    vssm_image_free(&im);
}

static void test_batched_features(void) {
    vssm_err err = {0};
    vssm_ctx_opts co = vssm_ctx_default_opts();
    co.n_threads = 2;
    vssm_ctx *ctx;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &co, &err) == VSSM_OK, "%s", err.msg);
    char *wp = test_data_path("cli/tiny_cls.safetensors"), *ip = test_data_path("images/dog_128x96.png");
    vssm_vmamba *m;
    vssm_preprocess_params pp;
    TEST_REQUIRE(vssm_vmamba_load_file(&m, ctx, wp, NULL, NULL, &pp, &err) == VSSM_OK, "%s", err.msg);
    vssm_image im = {0};
    TEST_REQUIRE(vssm_image_load(&im, ip, NULL, &err) == VSSM_OK, "%s", err.msg);
    vssm_crop_feats *cf;
    TEST_REQUIRE(vssm_crop_feats_new(&cf, m, &pp, 1, &err) == VSSM_OK, "%s", err.msg);
    int hs, ws, c, stride;
    vssm_crop_feats_shape(cf, 64, &hs, &ws, &c, &stride);
    TEST_CHECK(hs == 8 && ws == 8 && c == 16 && stride == 8, "stage 1 of a 64 px crop: 8x8x16, stride 8 (%dx%dx%d, %d)",
               hs, ws, c, stride);
    vssm_box boxes[3] = {{40, 30, 20, 16}, {-5, -5, 30, 30}, {100, 70, 25, 20}};
    double fac[3] = {2.0, 4.0, 3.0};
    size_t per = (size_t)hs * ws * c;
    float *all = malloc(per * 3 * sizeof(float)), *one = malloc(per * sizeof(float));
    vssm_crop_info infos[3], ci;
    TEST_REQUIRE(vssm_crop_feats_run(cf, &im, boxes, fac, 3, 64, all, infos, &err) == VSSM_OK, "%s", err.msg);
    double worst = 0;
    for (int i = 0; i < 3; i++) {
        TEST_REQUIRE(vssm_crop_feats_run(cf, &im, &boxes[i], &fac[i], 1, 64, one, &ci, &err) == VSSM_OK, "%s", err.msg);
        TEST_CHECK(ci.x1 == infos[i].x1 && ci.crop_sz == infos[i].crop_sz, "crop %d geometry", i);
        double e = test_rel_err(all + per * i, one, per);
        worst = e > worst ? e : worst;
    }
    TEST_CHECK(worst <= 1e-5, "batched crop features equal one-by-one (rel err %.2e)", worst);
    vssm_box zero = {10, 10, 0, 5};
    TEST_CHECK(vssm_crop_feats_run(cf, &im, &zero, NULL, 1, 64, one, NULL, &err) == VSSM_ERR_INVALID_ARG,
               "zero box: %s", err.msg);
    free(all);
    free(one);
    vssm_crop_feats_free(cf);
    vssm_image_free(&im);
    vssm_vmamba_free(m);
    vssm_ctx_free(ctx);
    free(wp);
    free(ip);
}

int main(void) {
    test_reference();
    test_geometry();
    test_batched_features();
    return test_finish("test_track_crop");
}
