/* tests/test_weights_st.c - the safetensors writer (exact bytes, atomic write, refusals) and
 * the reader's refusal of malformed headers (overlaps, out-of-range offsets, header length
 * past the end, non-UTF-8 names, bad dtypes, shape/size mismatches, holes); and every F16 and
 * BF16 value's conversion to float. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "vssm/weights.h"

static char tmp[256];

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void test_writer_bytes(void) {
    int64_t c_data[2] = {-5, 7};
    float b_data[4] = {1.0f, -2.5f, 3.0f, 0.125f};
    uint16_t a_data[3] = {0x3c00, 0xc000, 0x7bff};
    vssm_st_entry e[3] = {
        {"b", {b_data, VSSM_DTYPE_F32, 2, {2, 2}, VSSM_DEVICE_CPU}},
        {"a", {a_data, VSSM_DTYPE_F16, 1, {3}, VSSM_DEVICE_CPU}},
        {"c", {c_data, VSSM_DTYPE_I64, 1, {2}, VSSM_DEVICE_CPU}},
    };
    vssm_st_meta m[2] = {{"k", "v"}, {"a\"q", "x\n"}};
    vssm_err err = {0};
    TEST_REQUIRE(vssm_safetensors_write(tmp, e, 3, m, 2, &err) == VSSM_OK, "write: %s", err.msg);
    /* the safetensors crate's layout: metadata first, then widest dtype first, then name */
    const char *json = "{\"__metadata__\":{\"a\\\"q\":\"x\\n\",\"k\":\"v\"},"
                       "\"c\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]},"
                       "\"a\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[32,38]}}";
    size_t jl = strlen(json), hl = (jl + 7) / 8 * 8, n;
    unsigned char *f = slurp(tmp, &n);
    TEST_REQUIRE(f != NULL, "cannot read back %s", tmp);
    uint64_t got_hl = 0;
    for (int i = 7; i >= 0; i--) got_hl = got_hl << 8 | f[i];
    TEST_CHECK(got_hl == hl, "header length %llu, expected %zu", (unsigned long long)got_hl, hl);
    TEST_CHECK(n == 8 + hl + 38, "file size %zu, expected %zu", n, 8 + hl + 38);
    TEST_CHECK(n >= 8 + jl && memcmp(f + 8, json, jl) == 0, "header JSON differs:\n got %.*s\nwant %s", (int)jl, f + 8,
               json);
    int pad_ok = 1;
    for (size_t i = 8 + jl; i < 8 + hl && i < n; i++) pad_ok &= f[i] == ' ';
    TEST_CHECK(pad_ok, "header padding is not spaces");
    if (n == 8 + hl + 38) {
        TEST_CHECK(!memcmp(f + 8 + hl, c_data, 16) && !memcmp(f + 8 + hl + 16, b_data, 16) &&
                       !memcmp(f + 8 + hl + 32, a_data, 6),
                   "tensor bytes differ");
    }
    free(f);
    /* and the reader gives the same bits back */
    vssm_weights *w = NULL;
    TEST_REQUIRE(vssm_weights_open(&w, tmp, NULL, &err) == VSSM_OK, "reopen: %s", err.msg);
    vssm_tensor t;
    TEST_CHECK(vssm_weights_get(w, "a", &t, &err) == VSSM_OK && t.dtype == VSSM_DTYPE_F16 && t.ndim == 1 &&
                   t.shape[0] == 3 && !memcmp(t.data, a_data, 6),
               "tensor a did not round-trip");
    TEST_CHECK(vssm_weights_get(w, "b", &t, &err) == VSSM_OK && t.ndim == 2 && !memcmp(t.data, b_data, 16),
               "tensor b did not round-trip");
    const char *mv = vssm_weights_meta(w, "a\"q");
    TEST_CHECK(mv && !strcmp(mv, "x\n"), "metadata with escapes did not round-trip: %s", mv ? mv : "(null)");
    vssm_weights_close(w);
    remove(tmp);
}

static void test_writer_refusals(void) {
    float x[2] = {1, 2};
    vssm_err err = {0};
    char tmp2[300];
    snprintf(tmp2, sizeof tmp2, "%s.tmp", tmp);
    struct {
        const char *n1, *n2;
        vssm_dtype d2;
        const char *why;
    } cases[] = {
        {"w", "w", VSSM_DTYPE_F32, "twice"},
        {"w", "w", VSSM_DTYPE_F16, "twice"}, /* same name, different dtypes */
        {"w", "\xff\xfe", VSSM_DTYPE_F32, "UTF-8"},
        {"w", "__metadata__", VSSM_DTYPE_F32, "reserved"},
        {"w", "", VSSM_DTYPE_F32, "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vssm_st_entry e[2] = {{cases[i].n1, {x, VSSM_DTYPE_F32, 1, {2}, VSSM_DEVICE_CPU}},
                              {cases[i].n2, {x, cases[i].d2, 1, {1}, VSSM_DEVICE_CPU}}};
        remove(tmp);
        vssm_status s = vssm_safetensors_write(tmp, e, 2, NULL, 0, &err);
        TEST_CHECK(s == VSSM_ERR_INVALID_ARG && strstr(err.msg, cases[i].why), "case %zu: status %d, message '%s'", i,
                   s, err.msg);
        TEST_CHECK(access(tmp, F_OK) != 0 && access(tmp2, F_OK) != 0, "case %zu left a file behind", i);
    }
    vssm_st_meta m = {"k", "\xc0\xaf"};
    vssm_st_entry e = {"w", {x, VSSM_DTYPE_F32, 1, {2}, VSSM_DEVICE_CPU}};
    TEST_CHECK(vssm_safetensors_write(tmp, &e, 1, &m, 1, &err) == VSSM_ERR_INVALID_ARG,
               "overlong UTF-8 metadata accepted");
    TEST_CHECK(vssm_safetensors_write("/nonexistent-dir/x.safetensors", &e, 1, NULL, 0, &err) == VSSM_ERR_IO,
               "unwritable path: %s", err.msg);
    /* an empty file is legal: "{}" padded */
    TEST_CHECK(vssm_safetensors_write(tmp, NULL, 0, NULL, 0, &err) == VSSM_OK, "empty write: %s", err.msg);
    size_t n;
    unsigned char *f = slurp(tmp, &n);
    TEST_CHECK(f && n == 16 && !memcmp(f + 8, "{}      ", 8), "empty file layout wrong");
    free(f);
    remove(tmp);
}

/* ---- reader: malformed files (weights/safetensors.c) */
static void write_raw(const char *json, uint64_t claimed_len, const void *data, size_t dn) {
    size_t jl = strlen(json), hl = (jl + 7) / 8 * 8;
    FILE *f = fopen(tmp, "wb");
    TEST_REQUIRE(f != NULL, "cannot write %s", tmp);
    uint64_t L = claimed_len ? claimed_len : hl;
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(L >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(json, 1, jl, f);
    for (size_t i = jl; i < hl; i++) fputc(' ', f);
    if (dn) fwrite(data, 1, dn, f);
    fclose(f);
}

static void expect_bad(const char *what, const char *json, uint64_t claimed, size_t dn) {
    static const unsigned char zeros[64];
    write_raw(json, claimed, zeros, dn);
    vssm_weights *w = NULL;
    vssm_err err = {0};
    vssm_status s = vssm_safetensors_open(&w, tmp, &err);
    TEST_CHECK(s != VSSM_OK && w == NULL && err.msg[0], "safetensors reader accepted %s", what);
    if (s != VSSM_OK) printf("  refused %-34s %s\n", what, err.msg);
    if (w) vssm_weights_close(w);
}

static void test_reader_refusals(void) {
#define T(name, shape, b, e) "\"" name "\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"
    /* a valid one first, so the refusals below are about the defect they name */
    write_raw("{" T("a", "[2]", 0, 8) "," T("b", "[1]", 8, 12) "}", 0, "\0\0\x80?\0\0\0@\0\0@@", 12);
    vssm_weights *w = NULL;
    vssm_err err = {0};
    TEST_CHECK(vssm_safetensors_open(&w, tmp, &err) == VSSM_OK, "valid file refused: %s", err.msg);
    vssm_weights_close(w);
    expect_bad("overlapping offsets", "{" T("a", "[2]", 0, 8) "," T("b", "[2]", 4, 12) "}", 0, 12);
    expect_bad("offsets past the data", "{" T("a", "[2]", 0, 8) "}", 0, 4);
    expect_bad("end before begin", "{" T("a", "[0]", 8, 0) "}", 0, 8);
    expect_bad("header length past the file", "{" T("a", "[2]", 0, 8) "}", 1000000, 8);
    expect_bad("header length 2^63", "{" T("a", "[2]", 0, 8) "}", (uint64_t)1 << 63, 8);
    expect_bad("non-UTF-8 name", "{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8);
    expect_bad("unknown dtype", "{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8);
    expect_bad("shape/size mismatch", "{" T("a", "[3]", 0, 8) "}", 0, 8);
    expect_bad("negative dimension", "{" T("a", "[-2]", 0, 8) "}", 0, 8);
    expect_bad("non-integer dimension", "{" T("a", "[2.5]", 0, 8) "}", 0, 8);
    expect_bad("overflowing shape", "{" T("a", "[4611686018427387904,4]", 0, 8) "}", 0, 8);
    expect_bad("malformed JSON", "{\"a\":{\"dtype\":\"F32\",", 0, 8);
    expect_bad("header not an object", "[1,2]", 0, 0);
    expect_bad("metadata value not a string", "{\"__metadata__\":{\"k\":1}," T("a", "[2]", 0, 8) "}", 0, 8);
    expect_bad("missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0, 8);
    expect_bad("hole between tensors", "{" T("a", "[1]", 0, 4) "," T("b", "[1]", 8, 12) "}", 0, 12);
    expect_bad("duplicate names", "{" T("a", "[1]", 0, 4) "," T("a", "[1]", 4, 8) "}", 0, 8);
    /* a file shorter than the 8-byte length */
    FILE *f = fopen(tmp, "wb");
    fwrite("\x10\0\0", 1, 3, f);
    fclose(f);
    TEST_CHECK(vssm_safetensors_open(&w, tmp, &err) != VSSM_OK, "3-byte file accepted");
    remove(tmp);
#undef T
}

/* All 65536 half floats against their value from the IEEE 754 binary16 definition, in double
 * (exact): (-1)^s 2^(e-15) (1 + m/1024), subnormals 2^-14 m/1024, infinities, NaNs; and every
 * bf16 (a float's upper half). fp16 checkpoints hold many subnormals (|w| < 6.1e-5): a wrong
 * exponent there went unseen by the model tests. */
static void test_half_values(void) {
    int bad = 0, badb = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        const float got = vssm_f16_to_f32((uint16_t)h);
        if (e == 31) {
            const int ok = m ? isnan(got) : isinf(got) && (signbit(got) != 0) == s;
            if (!ok && bad++ < 5) TEST_CHECK(0, "f16 0x%04x: %g (want %s)", h, got, m ? "NaN" : s ? "-inf" : "inf");
            continue;
        }
        double want = e ? ldexp(1.0 + m / 1024.0, e - 15) : ldexp(m / 1024.0, -14);
        if (s) want = -want;
        /* equal as floats, and -0 stays -0 */
        if (((double)got != want || (signbit(got) != 0) != s) && bad++ < 5)
            TEST_CHECK(0, "f16 0x%04x: %.9g (want %.9g)", h, got, want);
    }
    for (uint32_t h = 0; h < 65536; h++) {
        const uint32_t bits = h << 16;
        float want;
        memcpy(&want, &bits, 4);
        const float got = vssm_bf16_to_f32((uint16_t)h);
        if (memcmp(&got, &want, 4) != 0 && badb++ < 5) TEST_CHECK(0, "bf16 0x%04x: %g (want %g)", h, got, want);
    }
    TEST_CHECK(bad == 0 && badb == 0, "%d f16 and %d bf16 values converted wrong", bad, badb);
}

int main(void) {
    test_half_values();
    snprintf(tmp, sizeof tmp, "%s/vssm_test_st_%d.safetensors", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    test_writer_bytes();
    test_writer_refusals();
    test_reader_refusals();
    return test_finish("test_weights_st");
}
