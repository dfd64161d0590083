/* tests/test_weights_fuzz_regress.c - files from strangers that once broke the weights
 * readers or `vssm convert` / `vssm info` (issue 16), each kept as a reproducer under
 * tests/data/weights/fuzz_regress/ (made by gen_fuzz_regress.py there):
 *   - .pth views whose extent offset + (size-1)*stride overflowed int64 and wrapped past the
 *     bounds check (a view 64 MiB before its storage; a strided copy that read far outside
 *     the file and crashed), a zero-size dim next to dims whose product overflows, one
 *     float expanded (stride 0) into a 1 GiB copy;
 *   - the pickle machine's pointer arithmetic on a never-used (NULL) stack, text INTs past
 *     64 bits, memo indices far past anything a real pickle numbers;
 *   - broken zip directories (offsets, lengths, ZIP64 records past the end);
 *   - safetensors data at a misaligned address, shapes whose product overflows;
 *   - config inference from 0-channel tensors (dims 0, ssm_ratio inf) and metadata ratios
 *     that overflow a size when multiplied out;
 *   - the safetensors writer's fixed PATH.tmp name and unchecked sizes;
 *   - `vssm convert` writing a model `vssm classify` refuses (a 5-element head bias for a
 *     10-class head): it must exit 2, name the tensor, and leave nothing at OUT.
 * Run it under ASan + UBSan too: several of these were undefined behaviour that a plain
 * build survives. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testutil.h"
#include "vssm/infer.h"
#include "vssm/source.h"
#include "vssm/weights.h"
#include "weights/pth_internal.h"

static char *fr(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "weights/fuzz_regress/%s", name);
    return test_data_path(rel);
}

/* Opening NAME (both through the generic opener and, for .pth, the .pth reader) must fail
 * with VSSM_ERR_FORMAT and a message naming the file and containing want. */
static void expect_refused(const char *name, const char *want) {
    char *p = fr(name);
    vssm_weights *w = NULL;
    vssm_err err = {0};
    vssm_status s = vssm_weights_open(&w, p, NULL, &err);
    TEST_CHECK(s == VSSM_ERR_FORMAT && w == NULL, "%s: expected a format error, got %s (%s)", name, vssm_status_str(s),
               err.msg);
    TEST_CHECK(strstr(err.msg, p) != NULL, "%s: message '%s' does not name the file", name, err.msg);
    TEST_CHECK(strstr(err.msg, want) != NULL, "%s: message '%s' lacks '%s'", name, err.msg, want);
    vssm_weights_close(w);
    free(p);
}

static void test_pth_views(void) {
    expect_refused("view_before_storage.pth", "overflows 64 bits");
    expect_refused("view_huge_offset.pth", "overflows 64 bits");
    expect_refused("view_stride_overflow.pth", "overflows 64 bits");
    expect_refused("view_zero_dim_huge.pth", "absurdly large");
    expect_refused("view_expand_huge.pth", "1073741824-byte view that must be copied");
    expect_refused("view_negative_stride.pth", "negative or absurd size or stride");
    expect_refused("view_negative_size.pth", "negative or absurd size or stride");
    expect_refused("view_negative_offset.pth", "negative storage offset");
    expect_refused("storage_numel_overflow.pth", "claims 2305843009213693953 F64 elements");
}

/* MARK + TUPLE/LIST/DICT before anything was ever pushed: the stack is still NULL, and the
 * machine used to compute NULL + 0 (UBSan: "applying zero offset to null pointer"). */
static void test_empty_stack(void) {
    expect_refused("empty_stack_ops.pth", "no entries");
    static const char *const raw[] = {"\x80\x02(t.", "\x80\x02(l.", "\x80\x02(d."};
    for (int i = 0; i < 3; i++) {
        vssm_pk_machine *m = NULL;
        vssm_pk_val *v = NULL;
        vssm_err err = {0};
        vssm_status s = vssm_pk_run(&m, (const uint8_t *)raw[i], strlen(raw[i]), NULL, NULL, &v, &err);
        TEST_CHECK(s == VSSM_OK && v && v->n == 0, "empty-stack op %d: %s", i, err.msg);
        vssm_pk_free(m);
    }
}

static vssm_status run_pickle(const void *b, size_t n, vssm_err *err) {
    vssm_pk_machine *m = NULL;
    vssm_pk_val *v = NULL;
    vssm_status s = vssm_pk_run(&m, b, n, NULL, NULL, &v, err);
    vssm_pk_free(m);
    return s;
}

static void test_pickle_ints_and_memo(void) {
    vssm_err err = {0};
    /* a text INT past 64 bits used to saturate silently to INT64_MAX */
    static const char big[] = "\x80\x02I99999999999999999999\n.";
    TEST_CHECK(run_pickle(big, sizeof big - 1, &err) == VSSM_ERR_FORMAT && strstr(err.msg, "INT"),
               "a 20-digit INT was accepted: %s", err.msg);
    static const char neg[] = "\x80\x02I-9223372036854775809\n.";
    TEST_CHECK(run_pickle(neg, sizeof neg - 1, &err) == VSSM_ERR_FORMAT, "INT below INT64_MIN was accepted");
    static const char ok[] = "\x80\x02I-9223372036854775808\n.";
    TEST_CHECK(run_pickle(ok, sizeof ok - 1, &err) == VSSM_OK, "INT64_MIN refused: %s", err.msg);
    /* a memo index of 5M in a 6 MB pickle: the memo table was sized by the largest index
     * the file names (8 bytes a slot, up to the pickle's length: a 1 GB pickle could ask for
     * 8 GB); now an index past the machine's object limit (4M) is refused */
    size_t n = 6u << 20, at = 0;
    uint8_t *b = malloc(n);
    TEST_REQUIRE(b != NULL, "out of memory");
    b[at++] = 0x80;
    b[at++] = 2;
    b[at++] = 'N';
    uint32_t idx = 5u << 20;
    b[at++] = 'r';
    memcpy(b + at, &idx, 4); /* little-endian host (the reader requires one too) */
    at += 4;
    b[at++] = '.';
    memset(b + at, 'N', n - at); /* padding after STOP: only the length matters */
    vssm_status s = run_pickle(b, n, &err);
    TEST_CHECK(s == VSSM_ERR_FORMAT && strstr(err.msg, "memo index out of range"), "memo index 5M accepted (%s)",
               err.msg);
    free(b);
}

static void test_zips(void) {
    expect_refused("zip_cd_past_end.pth", "lies outside the");
    expect_refused("zip_name_past_cd.pth", "runs past the directory");
    expect_refused("zip_extra_past_cd.pth", "runs past the directory");
    expect_refused("zip_local_past_end.pth", "local header offset");
    expect_refused("zip64_locator_bad.pth", "zip64 end-of-directory record");
    expect_refused("zip64_count_huge.pth", "claims 18446744073709551615 entries");
}

static void test_safetensors(void) {
    /* data at an odd address: the tensor must come back aligned (a copy), values intact */
    char *p = fr("st_misaligned.safetensors");
    vssm_weights *w = NULL;
    vssm_err err = {0};
    TEST_CHECK(vssm_weights_open(&w, p, NULL, &err) == VSSM_OK, "st_misaligned: %s", err.msg);
    if (w) {
        vssm_tensor t;
        TEST_CHECK(vssm_weights_get(w, "a", &t, &err) == VSSM_OK, "st_misaligned: %s", err.msg);
        TEST_CHECK((uintptr_t)t.data % 4 == 0, "st_misaligned: F32 tensor at a misaligned address %p", t.data);
        if ((uintptr_t)t.data % 4 == 0) {
            const float *f = t.data;
            TEST_CHECK(t.ndim == 1 && t.shape[0] == 3 && f[0] == 1.5f && f[1] == -2.0f && f[2] == 3.25f,
                       "st_misaligned: wrong values");
        }
    }
    vssm_weights_close(w);
    free(p);
    expect_refused("st_zero_dim_huge.safetensors", "impossibly large");
    expect_refused("st_shape_overflow.safetensors", "impossibly large");
    expect_refused("st_offsets_huge.safetensors", "outside the data area");
}

/* ---- config inference and metadata: sizes a model would be built from */
static void test_infer(void) {
    char *p = fr("infer_zero_dim.safetensors");
    vssm_weights *w = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_weights_open(&w, p, NULL, &err) == VSSM_OK, "infer_zero_dim: %s", err.msg);
    vssm_vmamba_config c;
    /* block norms of 0 channels gave dims 0,0,0,0 and ssm_ratio inf (a cast of inf to a size
     * further on is undefined) */
    vssm_status s = vssm_vmamba_config_infer(vssm_weights_source(w), "", &c, &err);
    TEST_CHECK(s == VSSM_ERR_SHAPE && strstr(err.msg, "layers.0.blocks.0.norm.weight") &&
                   strstr(err.msg, "every dimension"),
               "zero-channel norms: %s (%s)", vssm_status_str(s), err.msg);
    vssm_weights_close(w);
    free(p);
    p = fr("meta_ratio_huge.safetensors");
    TEST_REQUIRE(vssm_weights_open(&w, p, NULL, &err) == VSSM_OK, "meta_ratio_huge: %s", err.msg);
    s = vssm_vmamba_config_from_meta(vssm_weights_source(w), &c, NULL, &err);
    TEST_CHECK(s == VSSM_ERR_FORMAT && strstr(err.msg, "ssm_ratio"), "ssm_ratio 1e30 in metadata: %s (%s)",
               vssm_status_str(s), err.msg);
    vssm_weights_close(w);
    free(p);
}

/* ---- the random source: shapes come from a config (which may come from a file) */
static void test_random_source(void) {
    vssm_source *src = vssm_random_source_new(7);
    TEST_REQUIRE(src != NULL, "out of memory");
    vssm_tensor t;
    vssm_err err = {0};
    /* a leading 0 dim: n / shape[0] was an integer division by zero (SIGFPE) */
    const int64_t empty[2] = {0, 5};
    TEST_CHECK(src->get(src->user, "x.weight", empty, 2, &t, &err) == VSSM_OK && t.ndim == 2 && t.shape[0] == 0,
               "random (0, 5): %s", err.msg);
    const int64_t neg[1] = {-3}, huge[4] = {(int64_t)1 << 31, (int64_t)1 << 31, (int64_t)1 << 31, 4};
    TEST_CHECK(src->get(src->user, "n.weight", neg, 1, &t, &err) == VSSM_ERR_INVALID_ARG, "random (-3) not refused");
    TEST_CHECK(src->get(src->user, "h.weight", huge, 4, &t, &err) == VSSM_ERR_INVALID_ARG,
               "random 2^95 elements not refused");
    vssm_random_source_free(src);
}

/* ---- the writer */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_writer(const char *dir) {
    char path[600], blocker[700];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    snprintf(blocker, sizeof blocker, "%s.tmp", path);
    /* a folder sitting at the old fixed temp name PATH.tmp made every write fail */
    TEST_REQUIRE(mkdir(blocker, 0755) == 0, "cannot make %s", blocker);
    float x[4] = {1, 2, 3, 4};
    vssm_st_entry e = {"x", {x, VSSM_DTYPE_F32, 1, {4}, VSSM_DEVICE_CPU}};
    vssm_st_meta m = {"k", "v"};
    vssm_err err = {0};
    TEST_CHECK(vssm_safetensors_write(path, &e, 1, &m, 1, &err) == VSSM_OK, "write beside a PATH.tmp folder: %s",
               err.msg);
    vssm_weights *w = NULL;
    TEST_CHECK(vssm_safetensors_open(&w, path, &err) == VSSM_OK && vssm_weights_count(w) == 1 &&
                   !strcmp(vssm_weights_meta(w, "k"), "v"),
               "written file does not read back: %s", err.msg);
    vssm_weights_close(w);
    TEST_CHECK(count_entries(dir) == 2, "temp files left beside the output (%d entries)", count_entries(dir));
    rmdir(blocker);
    /* a shape whose byte count overflows 64 bits used to wrap to 0 and write a file no
     * reader accepts; now it is refused and nothing is written */
    char path2[620];
    snprintf(path2, sizeof path2, "%s/huge.safetensors", dir);
    vssm_st_entry h = {
        "h", {x, VSSM_DTYPE_F32, 4, {(int64_t)1 << 31, (int64_t)1 << 31, (int64_t)1 << 31, 4}, VSSM_DEVICE_CPU}};
    vssm_status s = vssm_safetensors_write(path2, &h, 1, NULL, 0, &err);
    TEST_CHECK(s == VSSM_ERR_INVALID_ARG && strstr(err.msg, "too large"), "2^95-byte tensor: %s (%s)",
               vssm_status_str(s), err.msg);
    TEST_CHECK(access(path2, F_OK) != 0, "a refused write left %s", path2);
    TEST_CHECK(count_entries(dir) == 1, "temp files left after a refused write (%d entries)", count_entries(dir));
    remove(path);
}

/* ---- the command line */
static char out_buf[1 << 16], err_buf[1 << 14];

static int run(const char *fmt, const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, VSSM_BIN, a, b);
    return test_run_cmd(cmd, out_buf, sizeof out_buf, err_buf, sizeof err_buf);
}

static void test_cli(const char *dir) {
    char out[600];
    snprintf(out, sizeof out, "%s/converted.safetensors", dir);
    /* the overflowing view: info and convert refuse it (exit 2, naming the file), convert
     * writes nothing (it used to exit 0 with 64 MiB of memory from before the storage) */
    const char *bad = "tests/data/weights/fuzz_regress/view_before_storage.pth";
    int rc = run("'%s' info %s", bad, "");
    TEST_CHECK(rc == 2 && strstr(err_buf, "view_before_storage.pth") && strstr(err_buf, "overflows"),
               "info on the overflowing view: exit %d, stderr: %s", rc, err_buf);
    rc = run("'%s' convert %s %s", bad, out);
    TEST_CHECK(rc == 2 && strstr(err_buf, "view_before_storage.pth"),
               "convert on the overflowing view: exit %d, stderr: %s", rc, err_buf);
    TEST_CHECK(access(out, F_OK) != 0 && count_entries(dir) == 0, "convert of a refused file left a file in %s", dir);
    rc = run("'%s' convert %s %s", "tests/data/weights/fuzz_regress/view_stride_overflow.pth", out);
    TEST_CHECK(rc == 2 && strstr(err_buf, "overflows"), "convert on the strided overflow: exit %d, stderr: %s", rc,
               err_buf);
    rc = run("'%s' convert %s %s", "tests/data/weights/fuzz_regress/infer_zero_dim.safetensors", out);
    TEST_CHECK(rc == 2 && strstr(err_buf, "norm.weight") && access(out, F_OK) != 0,
               "convert of zero-channel norms: exit %d, stderr: %s", rc, err_buf);
    /* a batch: the good file is described, the bad one named, exit 1 */
    rc = run("'%s' info --no-tensors %s %s", "tests/data/weights/mixed.pth",
             "tests/data/weights/fuzz_regress/view_huge_offset.pth");
    TEST_CHECK(rc == 1 && strstr(out_buf, "mixed.pth") && strstr(err_buf, "view_huge_offset.pth"),
               "info batch with one bad file: exit %d, stderr: %s", rc, err_buf);

    /* convert runs classify's loader before writing: a 5-element bias for a 10-class head
     * is refused with exit 2, naming the tensor, and nothing (not even a temp file) is left */
    rc = run("'%s' convert %s %s", "tests/data/weights/fuzz_regress/bad_head_bias.pth", out);
    TEST_CHECK(rc == 2 && strstr(err_buf, "bad_head_bias.pth") && strstr(err_buf, "classifier.head.bias"),
               "convert of a bad head bias: exit %d, stderr: %s", rc, err_buf);
    TEST_CHECK(access(out, F_OK) != 0 && count_entries(dir) == 0, "convert of a bad head left a file in %s", dir);
    /* the same model with a good head converts, and classify's loader reads the result */
    rc = run("'%s' convert %s %s", "tests/data/weights/ckpt_tiny.pth", out);
    TEST_CHECK(rc == 0 && access(out, F_OK) == 0 && count_entries(dir) == 1,
               "convert ckpt_tiny.pth: exit %d, stderr: %s", rc, err_buf);
    remove(out);

    /* metadata the input states (labels, task, preprocessing, re-ID settings) survives, as
     * does the BNNeck a re-ID model needs */
    rc = run("'%s' convert %s %s", "weights/reid_demo/vmamba_reid_demo.safetensors", out);
    TEST_CHECK(rc == 0, "convert reid demo: exit %d, stderr: %s", rc, err_buf);
    vssm_weights *w = NULL;
    vssm_err err = {0};
    if (rc == 0 && vssm_weights_open(&w, out, NULL, &err) == VSSM_OK) {
        const char *t = vssm_weights_meta(w, "task"), *l2 = vssm_weights_meta(w, "reid_l2norm"),
                   *rs = vssm_weights_meta(w, "resize"), *a = vssm_weights_meta(w, "arch");
        vssm_tensor bn;
        TEST_CHECK(t && !strcmp(t, "reid") && l2 && !strcmp(l2, "1") && rs && !strcmp(rs, "64") && a &&
                       !strcmp(a, "vmamba-reid-demo"),
                   "converted re-ID demo lost metadata: task %s reid_l2norm %s resize %s arch %s", t ? t : "-",
                   l2 ? l2 : "-", rs ? rs : "-", a ? a : "-");
        TEST_CHECK(vssm_weights_get(w, "bnneck.running_var", &bn, &err) == VSSM_OK,
                   "converted re-ID demo lost its BNNeck");
        vssm_weights_close(w);
    }
    remove(out);
}

int main(void) {
    char dir[256], wdir[300], cdir[300];
    snprintf(dir, sizeof dir, "%s/vssm_fuzz_regress_%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    snprintf(wdir, sizeof wdir, "%s/w", dir);
    snprintf(cdir, sizeof cdir, "%s/c", dir);
    TEST_REQUIRE(mkdir(dir, 0755) == 0 && mkdir(wdir, 0755) == 0 && mkdir(cdir, 0755) == 0, "cannot make %s", dir);
    test_pth_views();
    test_empty_stack();
    test_pickle_ints_and_memo();
    test_zips();
    test_safetensors();
    test_infer();
    test_random_source();
    test_writer(wdir);
    test_cli(cdir);
    rmdir(wdir);
    rmdir(cdir);
    rmdir(dir);
    return test_finish("test_weights_fuzz_regress");
}
