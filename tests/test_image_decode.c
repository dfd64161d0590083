/* Decoding equals PIL's Image.open(f).convert("RGB") byte for byte on every fixture
 * (JPEG 4:2:0/4:2:2/4:4:4, progressive, gray, CMYK, EXIF-rotated; PNG of every colour
 * type incl. palette, tRNS, alpha, 1/4/16-bit; BMP, GIF, PNM, TGA), and broken inputs are
 * refused with a message naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_image_util.h"
#include "testutil.h"

static uint8_t *read_all(const char *rel, size_t *n) {
    char *path = test_data_path(rel);
    FILE *f = fopen(path, "rb");
    TEST_REQUIRE(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    TEST_REQUIRE(b && fread(b, 1, *n, f) == *n, "cannot read %s", path);
    fclose(f);
    free(path);
    return b;
}

static void test_fixtures(const cJSON *ref) {
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ref, "images")) {
        const char *file = json_str(e, "file");
        vssm_err err = {0};
        vssm_image im = {0};
        vssm_status st = ref_image_load(file, &im, &err);
        TEST_CHECK(st == VSSM_OK, "%s: decode failed: %s", file, err.msg);
        if (st != VSSM_OK) continue;
        TEST_CHECK(im.w == json_int(e, "w") && im.h == json_int(e, "h") && im.c == 3, "%s: size %dx%dx%d, PIL %dx%d",
                   file, im.w, im.h, im.c, json_int(e, "w"), json_int(e, "h"));
        char hex[17], dump[256];
        fnv1a64_hex(im.data, (size_t)im.w * im.h * 3, hex);
        int same = strcmp(hex, json_str(e, "decode")) == 0;
        TEST_CHECK(same, "%s (PIL mode %s): RGB bytes differ from PIL's (hash %s, PIL %s; wrote %s)", file,
                   json_str(e, "pil_mode"), hex, json_str(e, "decode"),
                   same ? "" : dump_image(&im, file, dump, sizeof(dump)));

        /* the same bytes from memory, under a misleading name: content decides */
        char rel[300];
        snprintf(rel, sizeof(rel), "images/%s", file);
        size_t len;
        uint8_t *buf = read_all(rel, &len);
        const char *fmt = json_str(e, "format");
        const char *want = strcmp(fmt, "ppm") == 0 ? "pnm" : fmt;
        TEST_CHECK(strcmp(vssm_image_format_name(vssm_image_sniff(buf, len)), want) == 0, "%s: sniffed %s, expected %s",
                   file, vssm_image_format_name(vssm_image_sniff(buf, len)), want);
        vssm_image im2 = {0};
        st = vssm_image_decode_mem(&im2, buf, len, "wrong_extension.txt", NULL, &err);
        TEST_CHECK(st == VSSM_OK && im2.w == im.w && im2.h == im.h &&
                       memcmp(im2.data, im.data, (size_t)im.w * im.h * 3) == 0,
                   "%s: decode from memory differs from decode from file (%s)", file, err.msg);
        vssm_image_free(&im2);
        free(buf);
        vssm_image_free(&im);
        TEST_CHECK(im.data == NULL && im.w == 0, "vssm_image_free leaves an empty image");
        n++;
    }
    TEST_CHECK(n >= 30, "expected at least 30 fixtures in ref.json, found %d", n);
}

static vssm_status status_from_name(const char *s) {
    if (strcmp(s, "VSSM_ERR_FORMAT") == 0) return VSSM_ERR_FORMAT;
    if (strcmp(s, "VSSM_ERR_IO") == 0) return VSSM_ERR_IO;
    if (strcmp(s, "VSSM_ERR_UNSUPPORTED") == 0) return VSSM_ERR_UNSUPPORTED;
    return VSSM_OK;
}

static void test_bad_inputs(const cJSON *ref) {
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ref, "bad")) {
        const char *file = json_str(e, "file");
        vssm_err err = {0};
        vssm_image im = {(int)0xdead, 1, 1, (uint8_t *)"x"};
        vssm_status st = ref_image_load(file, &im, &err);
        vssm_status want = status_from_name(json_str(e, "status"));
        TEST_CHECK(st == want, "%s (%s): status %s, expected %s (msg: %s)", file, json_str(e, "why"),
                   vssm_status_str(st), json_str(e, "status"), err.msg);
        TEST_CHECK(im.data == NULL && im.w == 0 && im.h == 0, "%s: failed load left data behind", file);
        const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
        TEST_CHECK(strstr(err.msg, base) != NULL, "%s: message does not name the file: %s", file, err.msg);
        if (strstr(file, "bomb"))
            TEST_CHECK(strstr(err.msg, "pixels") != NULL, "%s: bomb refused for another reason than its size: %s", file,
                       err.msg);
        printf("  %-32s -> %s\n", file, err.msg);
    }
    /* a missing file is an I/O error naming it */
    vssm_err err = {0};
    vssm_image im = {0};
    TEST_CHECK(vssm_image_load(&im, "/nonexistent/dir/x.jpg", NULL, &err) == VSSM_ERR_IO &&
                   strstr(err.msg, "/nonexistent/dir/x.jpg"),
               "missing file: %s", err.msg);
    /* NULL / empty buffers */
    TEST_CHECK(vssm_image_decode_mem(&im, NULL, 0, "null", NULL, &err) == VSSM_ERR_FORMAT, "NULL buffer: %s", err.msg);
}

static void test_limits(void) {
    vssm_err err = {0};
    vssm_image im = {0};
    const char *files[] = {"dog_400x300_420.jpg", "astronaut_201x149_rgb.png", "chelsea_120x81.bmp",
                           "coffee_100x66.gif"};
    for (int i = 0; i < 4; i++) {
        vssm_image_limits lim = {1000};                       /* pixels */
        vssm_status st = ref_image_load(files[i], &im, &err); /* default: fine */
        TEST_CHECK(st == VSSM_OK, "%s: %s", files[i], err.msg);
        int64_t px = (int64_t)im.w * im.h;
        vssm_image_free(&im);
        char rel[300];
        snprintf(rel, sizeof(rel), "images/%s", files[i]);
        char *path = test_data_path(rel);
        st = vssm_image_load(&im, path, &lim, &err);
        TEST_CHECK(st == VSSM_ERR_FORMAT && strstr(err.msg, "limit of 1000 pixels") && !im.data,
                   "%s: 1000-pixel limit not applied: %s", files[i], err.msg);
        lim.max_pixels = px; /* exactly at the limit is allowed */
        st = vssm_image_load(&im, path, &lim, &err);
        TEST_CHECK(st == VSSM_OK, "%s: limit == pixels refused: %s", files[i], err.msg);
        vssm_image_free(&im);
        free(path);
    }
    /* a negative limit switches the guard off */
    vssm_image_limits unlimited = {-1};
    char *path = test_data_path("images/dog_400x300_420.jpg");
    TEST_CHECK(vssm_image_load(&im, path, &unlimited, &err) == VSSM_OK, "unlimited: %s", err.msg);
    vssm_image_free(&im);
    free(path);
}

static void test_jpeg_tolerated_warning(const cJSON *ref) {
    size_t n;
    uint8_t *b = read_all("images/dog_400x300_420.jpg", &n);
    TEST_REQUIRE(n > 2 && b[n - 2] == 0xFF && b[n - 1] == 0xD9, "fixture does not end in EOI");
    uint8_t *c = malloc(n + 5);
    memcpy(c, b, n - 2);
    memcpy(c + n - 2, "\x12\x34\x56\x78\x9a", 5);
    memcpy(c + n + 3, "\xFF\xD9", 2);
    vssm_err err = {0};
    vssm_image a = {0}, d = {0};
    TEST_CHECK(vssm_image_decode_mem(&a, b, n, "orig", NULL, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(vssm_image_decode_mem(&d, c, n + 5, "extraneous", NULL, &err) == VSSM_OK,
               "extraneous bytes before EOI refused: %s", err.msg);
    TEST_CHECK(a.data && d.data && memcmp(a.data, d.data, (size_t)a.w * a.h * 3) == 0,
               "extraneous bytes before EOI changed the pixels");
    vssm_image_free(&a);
    vssm_image_free(&d);
    free(b);
    free(c);
    (void)ref;
}

int main(void) {
    cJSON *ref = ref_load();
    test_fixtures(ref);
    test_bad_inputs(ref);
    test_limits();
    test_jpeg_tolerated_warning(ref);
    cJSON_Delete(ref);
    return test_finish("test_image_decode");
}
