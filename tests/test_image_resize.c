/* vssm_image_resize gives the same bytes as PIL's Image.resize (BICUBIC and BILINEAR):
 * downscale (antialiased), upscale, one-pass-only (horizontal or vertical) and mixed
 * cases on every fixture; plus the invariants that need no reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_image_util.h"
#include "testutil.h"

static void test_against_pil(const cJSON *ref) {
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ref, "images")) {
        const char *file = json_str(e, "file");
        vssm_err err = {0};
        vssm_image im = {0};
        if (ref_image_load(file, &im, &err) != VSSM_OK) {
            TEST_CHECK(0, "%s: %s", file, err.msg);
            continue;
        }
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItem(e, "resizes")) {
            int w = json_int(r, "w"), h = json_int(r, "h");
            const char *interp = json_str(r, "interp");
            vssm_image out = {0};
            vssm_status st = vssm_image_resize(&im, w, h, (vssm_interp)vssm_interp_from_name(interp), &out, &err);
            TEST_CHECK(st == VSSM_OK, "%s -> %dx%d %s: %s", file, w, h, interp, err.msg);
            if (st != VSSM_OK) continue;
            char hex[17], tag[300], dump[400];
            fnv1a64_hex(out.data, (size_t)w * h * 3, hex);
            int same = strcmp(hex, json_str(r, "hash")) == 0;
            snprintf(tag, sizeof(tag), "%s.%s", file, interp);
            TEST_CHECK(same, "%s %dx%d -> %dx%d %s: bytes differ from PIL (wrote %s)", file, im.w, im.h, w, h, interp,
                       same ? "" : dump_image(&out, tag, dump, sizeof(dump)));
            vssm_image_free(&out);
            n++;
        }
        vssm_image_free(&im);
    }
    TEST_CHECK(n >= 200, "expected >= 200 PIL resize cases, ran %d", n);
    printf("  %d resizes compared with PIL\n", n);
}

static void test_invariants(void) {
    vssm_err err = {0};
    /* a constant image stays constant at any size (weights sum to 1 in fixed point) */
    vssm_image c = {0}, out = {0};
    TEST_REQUIRE(vssm_image_alloc(&c, 37, 23, 3, &err) == VSSM_OK, "%s", err.msg);
    for (int i = 0; i < 37 * 23 * 3; i++) c.data[i] = (uint8_t)(i % 3 == 0 ? 200 : i % 3 == 1 ? 0 : 255);
    int sizes[][2] = {{1, 1}, {256, 300}, {5, 91}, {37, 5}, {36, 23}};
    for (int s = 0; s < 5; s++)
        for (int it = 0; it < 2; it++) {
            TEST_CHECK(vssm_image_resize(&c, sizes[s][0], sizes[s][1], (vssm_interp)it, &out, &err) == VSSM_OK, "%s",
                       err.msg);
            int ok = 1;
            for (int i = 0; i < sizes[s][0] * sizes[s][1] && ok; i++)
                ok = out.data[3 * i] == 200 && out.data[3 * i + 1] == 0 && out.data[3 * i + 2] == 255;
            TEST_CHECK(ok, "constant image not constant after resize to %dx%d (%s)", sizes[s][0], sizes[s][1],
                       vssm_interp_name((vssm_interp)it));
            vssm_image_free(&out);
        }
    /* same size: an exact copy; gray (c = 1) and RGBA (c = 4) images work too */
    TEST_CHECK(vssm_image_resize(&c, 37, 23, VSSM_INTERP_BICUBIC, &out, &err) == VSSM_OK &&
                   memcmp(out.data, c.data, 37 * 23 * 3) == 0,
               "same-size resize is not a copy");
    vssm_image_free(&out);
    vssm_image g = {0};
    vssm_image_alloc(&g, 9, 4, 1, &err);
    memset(g.data, 77, 36);
    TEST_CHECK(vssm_image_resize(&g, 3, 11, VSSM_INTERP_BICUBIC, &out, &err) == VSSM_OK && out.c == 1 &&
                   out.data[0] == 77 && out.data[32] == 77,
               "1-channel resize: %s", err.msg);
    vssm_image_free(&out);
    vssm_image_free(&g);
    /* bad arguments */
    TEST_CHECK(vssm_image_resize(&c, 0, 5, VSSM_INTERP_BICUBIC, &out, &err) == VSSM_ERR_INVALID_ARG,
               "zero width accepted");
    TEST_CHECK(vssm_image_resize(&c, 5, 5, (vssm_interp)9, &out, &err) == VSSM_ERR_INVALID_ARG,
               "unknown interpolation accepted");
    TEST_CHECK(vssm_interp_from_name("bicubic") == VSSM_INTERP_BICUBIC &&
                   vssm_interp_from_name("bilinear") == VSSM_INTERP_BILINEAR && vssm_interp_from_name("nearest") == -1,
               "interp names");
    vssm_image_free(&c);
}

int main(void) {
    cJSON *ref = ref_load();
    test_against_pil(ref);
    test_invariants();
    cJSON_Delete(ref);
    return test_finish("test_image_resize");
}
