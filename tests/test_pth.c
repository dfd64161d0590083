/* tests/test_pth.c - the torch .pth reader: bit identity with torch.save's tensors, key
 * selection, and refusal (never a crash, never a call) of malicious and broken files.
 * Fixtures: the .pth and .manifest files of tests/data/weights, from tests/reference/gen_pth_fixtures.py
 * (misaligned.pth: gen_pth_misaligned.py). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "test_weights_util.h"
#include "vssm/weights.h"
#include "weights/pth_internal.h"
#include "weights/weights_internal.h"

/* A fixture under tests/data/weights/ (caller frees). */
static char *wdata(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "weights/%s", name);
    return test_data_path(rel);
}

static void spit(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    TEST_REQUIRE(f != NULL, "cannot write %s", path);
    fwrite(b, 1, n, f);
    fclose(f);
}

/* Opens PTH with KEY and checks it against MANIFEST (bit identity with torch's tensors). */
static void check_manifest(const char *pth, const char *key, const char *manifest) {
    char *pp = wdata(pth), *mp = wdata(manifest), label[128];
    vssm_weights_opts opts = {key};
    vssm_weights *w = NULL;
    vssm_err err = {0};
    snprintf(label, sizeof label, "%s [%s]", pth, key ? key : "default");
    TEST_CHECK(vssm_weights_open(&w, pp, &opts, &err) == VSSM_OK, "%s: open failed: %s", label, err.msg);
    if (w) test_weights_check_manifest(w, mp, label);
    vssm_weights_close(w);
    free(pp);
    free(mp);
}

/* Opening PATH must fail with status st and a message containing want. */
static void expect_refusal_at(const char *path, const char *key, vssm_status st, const char *want) {
    vssm_weights_opts opts = {key};
    vssm_weights *w = NULL;
    vssm_err err = {0};
    vssm_status s = vssm_pth_open(&w, path, &opts, &err);
    TEST_CHECK(s == st && w == NULL, "%s: expected status %s, got %s (%s)", path, vssm_status_str(st),
               vssm_status_str(s), err.msg);
    TEST_CHECK(!want || strstr(err.msg, want) != NULL, "%s: message '%s' lacks '%s'", path, err.msg, want);
    if (w) vssm_weights_close(w);
}
static void expect_refusal(const char *rel, const char *want) {
    char *p = wdata(rel);
    expect_refusal_at(p, NULL, VSSM_ERR_FORMAT, want);
    free(p);
}

static void test_round_trips(void) {
    check_manifest("ckpt_tiny.pth", NULL, "ckpt_tiny.model.manifest");
    check_manifest("ckpt_tiny.pth", "model", "ckpt_tiny.model.manifest");
    check_manifest("ckpt_tiny.pth", "model_ema", "ckpt_tiny.model_ema.manifest");
    check_manifest("plain_fp16.pth", NULL, "plain_fp16.manifest");
    check_manifest("proto4.pth", NULL, "proto4.manifest");
    check_manifest("mmseg_tiny.pth", NULL, "mmseg_tiny.manifest");
    check_manifest("mmseg_tiny.pth", "state_dict", "mmseg_tiny.manifest");
    check_manifest("mixed.pth", NULL, "mixed.manifest");
}

/* Contiguous tensors are views into the map; strided ones are owned copies. */
static void test_zero_copy(void) {
    char *p = wdata("mixed.pth");
    vssm_weights *w = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_pth_open(&w, p, NULL, &err) == VSSM_OK, "mixed.pth: %s", err.msg);
    const char *lo = w->map, *hi = lo + w->map_size;
    vssm_tensor a, b, c;
    vssm_weights_get(w, "base", &a, &err);
    vssm_weights_get(w, "slice_offset", &b, &err);
    vssm_weights_get(w, "transposed", &c, &err);
    TEST_CHECK((const char *)a.data >= lo && (const char *)a.data < hi,
               "contiguous tensor should be a view into the file");
    TEST_CHECK((const char *)b.data == (const char *)a.data + 6 * sizeof(float),
               "offset view should point 6 floats in");
    TEST_CHECK(!((const char *)c.data >= lo && (const char *)c.data < hi), "transposed tensor should be an owned copy");
    TEST_CHECK(c.ndim == 2 && c.shape[0] == 6 && c.shape[1] == 4 && ((float *)c.data)[1] == ((float *)a.data)[6],
               "transposed copy has wrong layout");
    vssm_weights_close(w);
    free(p);
}

/* misaligned.pth (tests/reference/gen_pth_misaligned.py): a float storage 0..7 at byte 42 of
 * the file, so no tensor on it may be a view into the map; each copy must follow its offset
 * and strides, and come back aligned for its type. */
static void test_misaligned(void) {
    char *p = wdata("misaligned.pth");
    vssm_weights *w = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_pth_open(&w, p, NULL, &err) == VSSM_OK, "misaligned.pth: %s", err.msg);
    static const struct {
        const char *name;
        int n;
        float want[8];
    } cases[] = {{"full", 8, {0, 1, 2, 3, 4, 5, 6, 7}},
                 {"off3", 4, {3, 4, 5, 6}},
                 {"every2", 2, {1, 3}},
                 {"t32", 6, {0, 3, 1, 4, 2, 5}},
                 {"empty", 0, {0}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vssm_tensor t;
        TEST_CHECK(vssm_weights_get(w, cases[i].name, &t, &err) == VSSM_OK, "%s: %s", cases[i].name, err.msg);
        if (err.msg[0]) continue;
        const int n = (int)vssm_tensor_numel(&t);
        TEST_CHECK(n == cases[i].n && t.dtype == VSSM_DTYPE_F32, "%s: %d elements (want %d)", cases[i].name, n,
                   cases[i].n);
        TEST_CHECK(n == 0 || (uintptr_t)t.data % sizeof(float) == 0, "%s: data at a misaligned address", cases[i].name);
        for (int j = 0; j < n && j < cases[i].n; j++)
            TEST_CHECK(((const float *)t.data)[j] == cases[i].want[j], "%s[%d] = %g (want %g)", cases[i].name, j,
                       ((const float *)t.data)[j], cases[i].want[j]);
    }
    vssm_weights_close(w);
    free(p);
}

static void test_keys(void) {
    char *p = wdata("ckpt_tiny.pth");
    expect_refusal_at(p, "optimizer", VSSM_ERR_FORMAT, "not a tensor");
    expect_refusal_at(p, "nope", VSSM_ERR_FORMAT, "no entry 'nope' in the checkpoint");
    expect_refusal_at(p, "epoch", VSSM_ERR_FORMAT, "is a int, not a dict");
    free(p);
}

static void test_malicious(void) {
    expect_refusal("evil_os_system.pth", "global 'os.system' is not on the allow-list");
    expect_refusal("evil_eval.pth", "global 'builtins.eval' is not on the allow-list");
    expect_refusal("evil_stack_global.pth", "global 'subprocess.Popen' is not on the allow-list");
    expect_refusal("evil_build.pth", "BUILD on a global is not allowed");
    expect_refusal("evil_inst.pth", "INST is not allowed");
    expect_refusal("evil_obj.pth", "OBJ is not allowed");
    expect_refusal("evil_ext1.pth", "EXT1/2/4");
    expect_refusal("evil_reduce_storage.pth", "REDUCE on this global is not allowed");
    expect_refusal("bad_memo.pth", "memo index 200 out of range");
    expect_refusal("deep_nest.pth", "holds a list, not a dict");
    expect_refusal("recursive.pth", "entry 'w' is a list, not a tensor");
    expect_refusal("no_stop.pth", "no STOP");
    expect_refusal("short_storage.pth", "needs 100 elements of its storage, which holds only 6");
    expect_refusal("short_entry.pth", "claims 6 F32 elements but its entry holds only 8 bytes");
    expect_refusal("missing_storage.pth", "storage '9' is missing");
    expect_refusal("compressed.pth", "compressed");
}

/* ---- broken containers made from a good file */
static uint32_t rd32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i);
}

static void test_broken_zip(const char *tmp) {
    char *p = wdata("mixed.pth");
    size_t n;
    unsigned char *good = (unsigned char *)test_read_file(p, &n), *b = malloc(n);
    TEST_REQUIRE(good && b, "cannot read mixed.pth");
    /* truncated at many lengths: refused every time */
    int refused = 0, tries = 0;
    for (size_t len = 1; len < n; len += 37, tries++) {
        spit(tmp, good, len);
        vssm_weights *w = NULL;
        vssm_err err = {0};
        if (vssm_pth_open(&w, tmp, NULL, &err) != VSSM_OK)
            refused++;
        else
            vssm_weights_close(w);
    }
    TEST_CHECK(refused == tries, "truncated copies: %d of %d refused", refused, tries);
    spit(tmp, good, n - 1);
    expect_refusal_at(tmp, NULL, VSSM_ERR_FORMAT, "not found");
    /* a flipped byte inside a storage: CRC mismatch */
    vssm_zip z;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_zip_open(&z, good, n, &err) == VSSM_OK, "zip_open(mixed.pth): %s", err.msg);
    int k = vssm_zip_find(&z, "mixed/data/0");
    TEST_REQUIRE(k >= 0, "mixed.pth has no mixed/data/0");
    memcpy(b, good, n);
    b[z.e[k].data_off + 1] ^= 0x40;
    spit(tmp, b, n);
    expect_refusal_at(tmp, NULL, VSSM_ERR_FORMAT, "CRC-32 mismatch");
    /* the central directory offset pointed past the end */
    size_t eocd = n - 22;
    TEST_REQUIRE(rd32(good + eocd) == 0x06054b50u, "mixed.pth has a comment or zip64 record");
    memcpy(b, good, n);
    wr32(b + eocd + 16, (uint32_t)n + 1000);
    if (rd32(good + eocd - 20) == 0x07064b50u) { /* torch writes ZIP64 records too */
        uint32_t z64 = rd32(good + eocd - 20 + 8);
        wr32(b + z64 + 48, (uint32_t)n + 1000);
    }
    spit(tmp, b, n);
    expect_refusal_at(tmp, NULL, VSSM_ERR_FORMAT, "outside the");
    /* a directory record whose local header offset is wrong */
    memcpy(b, good, n);
    uint32_t cd = rd32(good + eocd + 16);
    wr32(b + cd + 42, rd32(good + cd + 42) + 3);
    spit(tmp, b, n);
    expect_refusal_at(tmp, NULL, VSSM_ERR_FORMAT, "local header");
    /* random byte flips: accepted or refused, never a crash */
    uint64_t rng = 12345;
    int ok = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(b, good, n);
        for (int f = 0; f < 4; f++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            b[(rng >> 33) % n] ^= (unsigned char)(1u << ((rng >> 20) & 7));
        }
        spit(tmp, b, n);
        vssm_weights *w = NULL;
        vssm_err e2 = {0};
        if (vssm_pth_open(&w, tmp, NULL, &e2) == VSSM_OK) {
            ok++;
            vssm_weights_close(w);
        } else
            TEST_CHECK(e2.msg[0] != 0, "a refusal without a message");
    }
    printf("fuzz: %d of 300 mutated files still loaded (CRC-clean flips in unused bytes)\n", ok);
    vssm_zip_close(&z);
    remove(tmp);
    free(good);
    free(b);
    free(p);
}

/* ---- the pickle machine on raw bytes */
static vssm_status run_pickle(const char *bytes, size_t n, vssm_err *err) {
    vssm_pk_machine *m = NULL;
    vssm_pk_val *v = NULL;
    vssm_status s = vssm_pk_run(&m, (const uint8_t *)bytes, n, NULL, NULL, &v, err);
    vssm_pk_free(m);
    return s;
}

static void test_pickle_raw(void) {
    vssm_err err = {0};
    /* a million nested marks and tuples: no recursion, no crash */
    size_t depth = 1000000;
    char *b = malloc(2 * depth + 3);
    b[0] = (char)0x80;
    b[1] = 2;
    memset(b + 2, '(', depth);
    memset(b + 2 + depth, 't', depth);
    b[2 + 2 * depth] = '.';
    TEST_CHECK(run_pickle(b, 2 * depth + 3, &err) == VSSM_OK, "deep tuple nesting: %s", err.msg);
    free(b);
#define RAW(s) run_pickle(s, sizeof(s) - 1, &err)
    TEST_CHECK(RAW("\x80\x02}r\xff\xff\xff\x7f.") == VSSM_ERR_FORMAT && strstr(err.msg, "memo index out of range"),
               "huge LONG_BINPUT: %s", err.msg);
    TEST_CHECK(RAW("\x80\x02j\x00\x00\x00\x01.") == VSSM_ERR_FORMAT && strstr(err.msg, "memo index"), "LONG_BINGET: %s",
               err.msg);
    TEST_CHECK(RAW("\x80\x02\x8a\x09\x01\x01\x01\x01\x01\x01\x01\x01\x01.") == VSSM_ERR_FORMAT,
               "LONG1 of 9 bytes accepted");
    TEST_CHECK(RAW("\x80\x02X\xff\xff\xff\x00ab.") == VSSM_ERR_FORMAT && strstr(err.msg, "past the end"),
               "string length: %s", err.msg);
    TEST_CHECK(RAW("\x80\x02t.") == VSSM_ERR_FORMAT, "TUPLE without MARK accepted");
    TEST_CHECK(RAW("\x80\x02.") == VSSM_ERR_FORMAT && strstr(err.msg, "underflow"), "STOP on empty stack: %s", err.msg);
    TEST_CHECK(RAW("\x80\x02(.") == VSSM_ERR_FORMAT, "STOP at a mark accepted");
    TEST_CHECK(RAW("\x80\x02K\x01K\x02s.") == VSSM_ERR_FORMAT, "SETITEM on an int accepted");
    TEST_CHECK(RAW("\x80\x02"
                   "ctorch._utils\n_rebuild_tensor_v2\nK\x01\x85R.") == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "_rebuild_tensor_v2"),
               "bad tensor args: %s", err.msg);
    TEST_CHECK(RAW("\x80\x02\x8c\x08"
                   "builtins\x8c\x04"
                   "exec\x93.") == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "builtins.exec"),
               "STACK_GLOBAL exec: %s", err.msg);
    TEST_CHECK(RAW("\x80\x02"
                   "cargparse\nNamespace\n)R}b.") == VSSM_OK,
               "inert Namespace refused: %s", err.msg);
    TEST_CHECK(RAW("\x80\x02"
                   "cargparse\nNamespace\nb.") == VSSM_ERR_FORMAT,
               "BUILD on a class accepted");
    TEST_CHECK(RAW("\x80\x02Q.") == VSSM_ERR_FORMAT, "BINPERSID with an empty stack accepted");
#undef RAW
}

int main(void) {
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s/vssm_test_pth_%d.pth", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    test_round_trips();
    test_zero_copy();
    test_misaligned();
    test_keys();
    test_malicious();
    test_broken_zip(tmp);
    test_pickle_raw();
    return test_finish("test_pth");
}
