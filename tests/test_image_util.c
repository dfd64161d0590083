#include "test_image_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

cJSON *ref_load(void) {
    char *path = test_data_path("images/ref.json");
    FILE *f = path ? fopen(path, "rb") : NULL;
    TEST_REQUIRE(f != NULL, "cannot open %s (run tests/reference/gen_image_vectors.py)", path ? path : "ref.json");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    TEST_REQUIRE(s && fread(s, 1, (size_t)n, f) == (size_t)n, "cannot read %s", path);
    s[n] = 0;
    fclose(f);
    cJSON *j = cJSON_Parse(s);
    TEST_REQUIRE(j != NULL, "%s is not valid JSON", path);
    free(s);
    free(path);
    return j;
}

const char *fnv1a64_hex(const uint8_t *p, size_t n, char *buf) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001B3ULL;
    }
    snprintf(buf, 17, "%016llx", (unsigned long long)h);
    return buf;
}

vssm_status ref_image_load(const char *file, vssm_image *im, vssm_err *err) {
    char rel[512];
    snprintf(rel, sizeof(rel), "images/%s", file);
    char *path = test_data_path(rel);
    vssm_status st = vssm_image_load(im, path, NULL, err);
    free(path);
    return st;
}

const char *dump_image(const vssm_image *im, const char *tag, char *name, size_t n) {
    snprintf(name, n, "%s.%dx%dx%d.u8", tag, im->w, im->h, im->c);
    for (char *p = name; *p; p++)
        if (*p == '/') *p = '_';
    FILE *f = fopen(name, "wb");
    if (f) {
        fwrite(im->data, 1, (size_t)im->w * im->h * im->c, f);
        fclose(f);
    }
    return name;
}

int json_int(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

const char *json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}
