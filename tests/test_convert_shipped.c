/* test_convert_shipped: `vssm convert` on every shipped model (weights/fashion_mnist,
 * weights/reid_demo, weights/seg_demo) changes nothing a user can see:
 *   - metadata: every key of the input is in the output with the same value, except the
 *     keys convert owns (format, source, source_key, prefix); the output has no key the
 *     input lacks but those (no preprocessing invented for a file that states its own);
 *   - tensors: the same names, dtypes, shapes and bytes;
 *   - results: `classify --json --topk 10` (labels, probabilities, logits), `reid extract`
 *     (every embedding, bit for bit) and `segment` (label PNGs, palette included, byte for
 *     byte) are identical before and after.
 * The binary is VSSM_BIN, or argv[1] (to run this test against another build). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "vssm/reid_data.h"
#include "vssm/weights.h"

static const char *bin = VSSM_BIN;
static char tmp[] = "/tmp/vssm_convert_shipped_XXXXXX";
static char out[1 << 20], errb[1 << 14];

static int owned(const char *k) {
    return !strcmp(k, "format") || !strcmp(k, "source") || !strcmp(k, "source_key") || !strcmp(k, "prefix");
}

static void check_meta(const char *name, const vssm_weights *a, const vssm_weights *b) {
    int lost = 0, changed = 0, added = 0;
    for (int i = 0, n = vssm_weights_meta_count(a); i < n; i++) {
        const char *k = vssm_weights_meta_key(a, i), *vb = vssm_weights_meta(b, k);
        if (!vb) {
            lost++;
            fprintf(stderr, "  %s: key '%s' lost\n", name, k);
        } else if (!owned(k) && strcmp(vb, vssm_weights_meta(a, k))) {
            changed++;
            fprintf(stderr, "  %s: key '%s' was '%.60s', is '%.60s'\n", name, k, vssm_weights_meta(a, k), vb);
        }
    }
    for (int i = 0, n = vssm_weights_meta_count(b); i < n; i++) {
        const char *k = vssm_weights_meta_key(b, i);
        if (!owned(k) && !vssm_weights_meta(a, k)) {
            added++;
            fprintf(stderr, "  %s: key '%s' added\n", name, k);
        }
    }
    TEST_CHECK(!lost && !changed && !added, "%s: metadata kept (%d of %d keys lost, %d changed, %d added)", name, lost,
               vssm_weights_meta_count(a), changed, added);
}

static void check_tensors(const char *name, const vssm_weights *a, const vssm_weights *b) {
    int n = vssm_weights_count(a), differ = 0;
    TEST_CHECK(vssm_weights_count(b) == n, "%s: %d tensors, converted %d", name, n, vssm_weights_count(b));
    for (int i = 0; i < n; i++) {
        const char *t = vssm_weights_name(a, i);
        vssm_tensor ta, tb;
        vssm_err err = {0};
        if (vssm_weights_get(a, t, &ta, &err) != VSSM_OK || vssm_weights_get(b, t, &tb, &err) != VSSM_OK ||
            ta.dtype != tb.dtype || ta.ndim != tb.ndim || memcmp(ta.shape, tb.shape, sizeof ta.shape) ||
            memcmp(ta.data, tb.data, (size_t)vssm_tensor_numel(&ta) * 4)) {
            if (!differ++) fprintf(stderr, "  %s: tensor %s differs\n", name, t);
        }
    }
    TEST_CHECK(!differ, "%s: every tensor identical (%d differ)", name, differ);
}

/* Converts src into tmp/<tag>.safetensors (path in dst) and checks metadata and tensors. */
static int convert(const char *tag, const char *src, char *dst, size_t n) {
    char cmd[1024];
    snprintf(dst, n, "%s/%s.safetensors", tmp, tag);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s'", bin, src, dst);
    int rc = test_run_cmd(cmd, out, sizeof out, errb, sizeof errb);
    TEST_CHECK(rc == 0, "%s: convert exits 0 (got %d): %s", tag, rc, errb);
    if (rc) return -1;
    vssm_weights *a = NULL, *b = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_weights_open(&a, src, NULL, &err) == VSSM_OK, "%s", err.msg);
    TEST_REQUIRE(vssm_weights_open(&b, dst, NULL, &err) == VSSM_OK, "%s", err.msg);
    check_meta(tag, a, b);
    check_tensors(tag, a, b);
    vssm_weights_close(a);
    vssm_weights_close(b);
    return 0;
}

/* stdout of `bin ARGS` with W replaced by weights (a malloc'ed copy), NULL on failure */
static char *run_with(const char *fmt, const char *weights, const char *tag) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, bin, weights, tmp, tag);
    int rc = test_run_cmd(cmd, out, sizeof out, errb, sizeof errb);
    TEST_CHECK(rc == 0, "'%s' exits 0 (got %d): %s", cmd, rc, errb);
    return rc == 0 ? strdup(out) : NULL;
}

static void fashion(void) {
    const char *w = "weights/fashion_mnist/vmamba_fashion.safetensors";
    char c[512];
    if (convert("fashion", w, c, sizeof c)) return;
    const char *fmt = "'%s' classify --weights '%s' --json --topk 10 weights/fashion_mnist/sample #%s%s";
    char *a = run_with(fmt, w, ""), *b = run_with(fmt, c, "");
    TEST_CHECK(a && b && strstr(a, "\"label\": \"Ankle boot\"") && !strcmp(a, b),
               "fashion: classify --json on the 100 sample images is identical after convert");
    free(a);
    free(b);
}

static void reid(void) {
    const char *w = "weights/reid_demo/vmamba_reid_demo.safetensors";
    char c[512], pa[600], pb[600];
    if (convert("reid", w, c, sizeof c)) return;
    const char *fmt = "'%s' reid extract --weights '%s' --data weights/reid_demo/sample --out '%s/%s.feats'";
    free(run_with(fmt, w, "a"));
    free(run_with(fmt, c, "b"));
    snprintf(pa, sizeof pa, "%s/a.feats", tmp);
    snprintf(pb, sizeof pb, "%s/b.feats", tmp);
    vssm_reid_features fa, fb;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_reid_features_load(&fa, pa, &err) == VSSM_OK, "%s", err.msg);
    TEST_REQUIRE(vssm_reid_features_load(&fb, pb, &err) == VSSM_OK, "%s", err.msg);
    int same = fa.dim == fb.dim && fa.nq == fb.nq && fa.ng == fb.ng && fa.nq + fa.ng == 6 &&
               !memcmp(fa.query, fb.query, (size_t)(fa.nq * fa.dim) * sizeof(float)) &&
               !memcmp(fa.gallery, fb.gallery, (size_t)(fa.ng * fa.dim) * sizeof(float));
    TEST_CHECK(same, "reid: the 6 sample embeddings are bit-identical after convert");
    vssm_reid_features_free(&fa);
    vssm_reid_features_free(&fb);
}

static long read_all(const char *path, unsigned char **buf) {
    FILE *f = fopen(path, "rb");
    *buf = NULL;
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n) n = -1;
    fclose(f);
    return n;
}

static void seg(void) {
    const char *w = "weights/seg_demo/vmamba_seg_demo.safetensors";
    const char *img[] = {"0001_c6s1_000001_00", "0002_c1s1_000010_00"};
    char c[512];
    if (convert("seg", w, c, sizeof c)) return;
    const char *fmt = "'%s' segment --weights '%s' --out '%s/seg_%s' weights/reid_demo/sample/query";
    free(run_with(fmt, w, "a"));
    free(run_with(fmt, c, "b"));
    for (size_t i = 0; i < sizeof img / sizeof *img; i++) {
        char pa[600], pb[600];
        unsigned char *a, *b;
        snprintf(pa, sizeof pa, "%s/seg_a/%s.png", tmp, img[i]);
        snprintf(pb, sizeof pb, "%s/seg_b/%s.png", tmp, img[i]);
        long na = read_all(pa, &a), nb = read_all(pb, &b);
        TEST_CHECK(na > 0 && na == nb && !memcmp(a, b, (size_t)na), "seg: %s label PNG identical after convert",
                   img[i]);
        free(a);
        free(b);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) bin = argv[1];
    TEST_REQUIRE(chdir(VSSM_SOURCE_DIR) == 0, "cd %s", VSSM_SOURCE_DIR); /* the shipped paths are the tree's */
    TEST_REQUIRE(mkdtemp(tmp), "mkdtemp");
    fashion();
    reid();
    seg();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    test_run_cmd(cmd, out, sizeof out, errb, sizeof errb);
    return test_finish("test_convert_shipped");
}
