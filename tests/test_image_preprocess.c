/* The whole chain equals torchvision 0.14 (Resize(size, BICUBIC|BILINEAR) of the shorter
 * side -> CenterCrop -> ToTensor -> Normalize) on PIL images: the uint8 image after the
 * crop is identical, and so is the float tensor, bit for bit (torch's is tensor_table[c][u8]
 * exactly, checked by the generator; a tolerance of 1e-6 let a reciprocal in place of the
 * division by 255 or by std, one ulp off, pass). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_image_util.h"
#include "testutil.h"

static float table[3][256];

static void load_table(const cJSON *ref) {
    const cJSON *rows = cJSON_GetObjectItem(ref, "tensor_table");
    TEST_REQUIRE(cJSON_GetArraySize(rows) == 3, "tensor_table must have 3 rows");
    for (int c = 0; c < 3; c++) {
        const cJSON *row = cJSON_GetArrayItem(rows, c);
        TEST_REQUIRE(cJSON_GetArraySize(row) == 256, "tensor_table row %d must have 256 values", c);
        for (int v = 0; v < 256; v++) table[c][v] = (float)cJSON_GetArrayItem(row, v)->valuedouble;
    }
}

static double max_abs_diff_vs_table(const float *x, const vssm_image *u8, size_t *n_exact) {
    double m = 0;
    size_t n = (size_t)u8->w * u8->h * 3;
    *n_exact = 0;
    for (size_t i = 0; i < n; i++) {
        float want = table[i % 3][u8->data[i]];
        double d = fabs((double)x[i] - (double)want);
        if (!(d <= m)) m = d; /* NaN propagates */
        *n_exact += x[i] == want;
    }
    return m;
}

static void test_against_torchvision(const cJSON *ref) {
    vssm_preprocess_params p = vssm_preprocess_imagenet();
    const cJSON *e;
    int n = 0;
    size_t total = 0, exact = 0;
    double worst = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ref, "images")) {
        const char *file = json_str(e, "file");
        vssm_err err = {0};
        vssm_image im = {0};
        if (ref_image_load(file, &im, &err) != VSSM_OK) {
            TEST_CHECK(0, "%s: %s", file, err.msg);
            continue;
        }
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(e, "pipelines")) {
            p.resize = json_int(c, "resize");
            p.crop = json_int(c, "crop");
            p.interp = (vssm_interp)vssm_interp_from_name(json_str(c, "interp"));
            int ow = 0, oh = 0;
            vssm_status st = vssm_preprocess_output_size(&p, im.w, im.h, &ow, &oh, &err);
            TEST_CHECK(st == VSSM_OK && ow == json_int(c, "w") && oh == json_int(c, "h"),
                       "%s resize %d crop %d: output size %dx%d, torchvision %dx%d (%s)", file, p.resize, p.crop, ow,
                       oh, json_int(c, "w"), json_int(c, "h"), err.msg);
            vssm_image u8 = {0};
            st = vssm_preprocess_u8(&im, &p, &u8, &err);
            TEST_CHECK(st == VSSM_OK, "%s: %s", file, err.msg);
            if (st != VSSM_OK) continue;
            char hex[17], tag[300], dump[400];
            fnv1a64_hex(u8.data, (size_t)u8.w * u8.h * 3, hex);
            int same = u8.w == ow && u8.h == oh && strcmp(hex, json_str(c, "hash")) == 0;
            snprintf(tag, sizeof(tag), "%s.r%d.c%d.%s", file, p.resize, p.crop, vssm_interp_name(p.interp));
            TEST_CHECK(same, "%s resize %d crop %d %s: u8 image differs from torchvision's (wrote %s)", file, p.resize,
                       p.crop, vssm_interp_name(p.interp), same ? "" : dump_image(&u8, tag, dump, sizeof(dump)));
            float *x = malloc((size_t)ow * oh * 3 * sizeof(float) + 64);
            memset((char *)x + (size_t)ow * oh * 3 * sizeof(float), 0xAB, 64); /* guard */
            st = vssm_preprocess(&im, &p, x, &err);
            TEST_CHECK(st == VSSM_OK, "%s: preprocess: %s", file, err.msg);
            size_t ex = 0;
            double d = max_abs_diff_vs_table(x, &u8, &ex);
            TEST_CHECK(d == 0 && ex == (size_t)ow * oh * 3, "%s resize %d crop %d: max |tensor - torch| = %g (want 0)",
                       file, p.resize, p.crop, d);
            unsigned char *g = (unsigned char *)x + (size_t)ow * oh * 3 * sizeof(float);
            int guard_ok = 1;
            for (int i = 0; i < 64; i++) guard_ok &= g[i] == 0xAB;
            TEST_CHECK(guard_ok, "%s: vssm_preprocess wrote past %dx%dx3 floats", file, ow, oh);
            if (d > worst) worst = d;
            total += (size_t)ow * oh * 3;
            exact += ex;
            free(x);
            vssm_image_free(&u8);
            n++;
        }
        vssm_image_free(&im);
    }
    TEST_CHECK(n >= 240, "expected >= 240 pipelines, ran %d", n);
    printf("  %d pipelines: u8 compared with torchvision; tensor max |diff| %g, %zu of %zu values "
           "bit-identical\n",
           n, worst, exact, total);
}

/* one pipeline compared against torch's raw float32 output (no hash, no table) */
static void test_raw_tensor(void) {
    char *path = test_data_path("images/tensor_dog_64_56.f32");
    FILE *f = fopen(path, "rb");
    TEST_REQUIRE(f != NULL, "cannot open %s", path);
    static float want[56 * 56 * 3], got[56 * 56 * 3];
    TEST_REQUIRE(fread(want, sizeof(float), 56 * 56 * 3, f) == 56 * 56 * 3, "short %s", path);
    fclose(f);
    free(path);
    vssm_err err = {0};
    vssm_image im = {0};
    TEST_REQUIRE(ref_image_load("dog_128x96.png", &im, &err) == VSSM_OK, "%s", err.msg);
    vssm_preprocess_params p = vssm_preprocess_imagenet();
    p.resize = 64;
    p.crop = 56;
    TEST_CHECK(vssm_preprocess(&im, &p, got, &err) == VSSM_OK, "%s", err.msg);
    double m = 0;
    for (int i = 0; i < 56 * 56 * 3; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= m)) m = d;
    }
    TEST_CHECK(m == 0, "dog_128x96.png resize 64 crop 56: max |diff| vs torch = %g (want 0)", m);
    printf("  raw torch tensor (56x56x3): max |diff| %g\n", m);
    vssm_image_free(&im);
}

/* torchvision's rounding and padding on synthetic images (no reference needed) */
static void test_center_crop_rules(void) {
    vssm_err err = {0};
    vssm_image im = {0}, out = {0};
    /* pixel value = row * 16 + col, in every channel */
    vssm_image_alloc(&im, 9, 7, 3, &err);
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 9; x++) memset(im.data + (y * 9 + x) * 3, y * 16 + x, 3);
    struct {
        int cw, ch, top, left;
    } cases[] = {
        {8, 6, 0, 0}, /* (9-8)/2 = 0.5 -> 0 (half to even), (7-6)/2 = 0.5 -> 0 */
        {6, 4, 2, 2}, /* 1.5 -> 2, 1.5 -> 2 */
        {4, 2, 2, 2}, /* 2.5 -> 2, 2.5 -> 2 */
        {2, 0, 0, 4}, /* (skipped ch=0 below) */
        {1, 1, 3, 4}, /* 3, 4 */
    };
    for (int i = 0; i < 5; i++) {
        if (cases[i].ch == 0) continue;
        TEST_REQUIRE(vssm_image_center_crop(&im, cases[i].cw, cases[i].ch, &out, &err) == VSSM_OK, "%s", err.msg);
        int want = cases[i].top * 16 + cases[i].left;
        TEST_CHECK(out.data[0] == want, "crop %dx%d of 9x7: first pixel %d, expected row %d col %d", cases[i].cw,
                   cases[i].ch, out.data[0], cases[i].top, cases[i].left);
        vssm_image_free(&out);
    }
    /* larger than the image: zero padding, left/top get floor((crop - size) / 2) */
    TEST_REQUIRE(vssm_image_center_crop(&im, 12, 10, &out, &err) == VSSM_OK, "%s", err.msg);
    /* pad left 1 (of 3), top 1 (of 3): source (0,0) lands at (1,1) */
    TEST_CHECK(out.data[(1 * 12 + 1) * 3] == 0 && out.data[(1 * 12 + 2) * 3] == 1 && out.data[(2 * 12 + 1) * 3] == 16 &&
                   out.data[(7 * 12 + 9) * 3] == 6 * 16 + 8,
               "padded crop misplaces the image");
    TEST_CHECK(out.data[0] == 0 && out.data[(9 * 12 + 11) * 3] == 0 && out.data[(8 * 12 + 10) * 3] == 0,
               "padding not zero");
    vssm_image_free(&out);
    /* wider crop, shorter height: pad x only, crop y with rounding */
    TEST_REQUIRE(vssm_image_center_crop(&im, 11, 4, &out, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(out.data[0] == 0 && out.data[3] == 2 * 16 + 0, "mixed pad/crop: %d %d", out.data[0], out.data[3]);
    vssm_image_free(&out);
    vssm_image_free(&im);

    /* the shorter-side rule: int(size * long / short) */
    int w, h;
    vssm_resize_shorter_side(500, 375, 256, &w, &h);
    TEST_CHECK(w == 341 && h == 256, "500x375 -> %dx%d, expected 341x256", w, h);
    vssm_resize_shorter_side(333, 500, 256, &w, &h);
    TEST_CHECK(w == 256 && h == 384, "333x500 -> %dx%d, expected 256x384", w, h);
    vssm_resize_shorter_side(300, 300, 256, &w, &h);
    TEST_CHECK(w == 256 && h == 256, "square -> %dx%d", w, h);
    vssm_preprocess_params p = vssm_preprocess_imagenet();
    TEST_CHECK(p.resize == 256 && p.crop == 224 && p.interp == VSSM_INTERP_BICUBIC && p.mean[0] == 0.485f &&
                   p.std[2] == 0.225f,
               "imagenet defaults");
    p.std[1] = 0;
    TEST_CHECK(vssm_preprocess_output_size(&p, 10, 10, &w, &h, &err) == VSSM_ERR_INVALID_ARG, "zero std accepted");
}

int main(void) {
    cJSON *ref = ref_load();
    load_table(ref);
    test_against_torchvision(ref);
    test_raw_tensor();
    test_center_crop_rules();
    cJSON_Delete(ref);
    return test_finish("test_image_preprocess");
}
