/* test_labels_file: the --labels reader (one class name a line) on files from others:
 * names of any length stay one name each, a count that does not match the model, a binary
 * file and a missing file are errors naming the file; nothing crashes or leaks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "vssm/classifier.h"
#include "vssm/vssm.h"

static vssm_status load_with(vssm_ctx *ctx, const char *labels, vssm_classifier **c, vssm_err *err) {
    char *w = test_data_path("cli/tiny_cls.safetensors"); /* 3 classes */
    vssm_classifier_opts o = {0};
    o.labels_path = labels;
    vssm_status s = vssm_classifier_load(c, ctx, w, &o, err);
    free(w);
    return s;
}

static void write_file(const char *p, const char *a, size_t n) {
    FILE *f = fopen(p, "wb");
    TEST_REQUIRE(f && fwrite(a, 1, n, f) == n && fclose(f) == 0, "write %s", p);
}

int main(void) {
    vssm_ctx_opts co = vssm_ctx_default_opts();
    co.n_threads = 1;
    vssm_ctx *ctx = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_ctx_new(&ctx, &co, &err) == VSSM_OK, "ctx: %s", err.msg);
    char dir[] = "/tmp/vssm_labels_XXXXXX";
    TEST_REQUIRE(mkdtemp(dir), "mkdtemp");
    char p[256];
    snprintf(p, sizeof p, "%s/labels.txt", dir);

    /* a 3000-character name: one label (the reader once split it into three, so a 3-class
     * model was told its 3 names were 5) */
    size_t L = 3000;
    char *buf = malloc(L + 64);
    memset(buf, 'x', L);
    int n = (int)L;
    n += sprintf(buf + n, "\ncat\r\ndog\n");
    write_file(p, buf, (size_t)n);
    vssm_classifier *c = NULL;
    vssm_status s = load_with(ctx, p, &c, &err);
    TEST_CHECK(s == VSSM_OK, "a long name loads: %s", err.msg);
    if (s == VSSM_OK) {
        const char *l0 = vssm_classifier_label(c, 0);
        TEST_CHECK(l0 && strlen(l0) == L, "the long name whole (%zu chars)", l0 ? strlen(l0) : 0);
        TEST_CHECK(vssm_classifier_label(c, 1) && !strcmp(vssm_classifier_label(c, 1), "cat") &&
                       !strcmp(vssm_classifier_label(c, 2), "dog"),
                   "CRLF and LF endings stripped");
        vssm_classifier_free(c);
    }

    /* empty lines at the end (an editor's) are no labels; one in the middle is a name */
    write_file(p, "a\nb\nc\n\n\r\n", 9);
    c = NULL;
    s = load_with(ctx, p, &c, &err);
    TEST_CHECK(s == VSSM_OK && !strcmp(vssm_classifier_label(c, 2), "c"), "trailing empty lines ignored: %s",
               s == VSSM_OK ? "" : err.msg);
    vssm_classifier_free(c);
    write_file(p, "a\n\nc\n", 5);
    c = NULL;
    s = load_with(ctx, p, &c, &err);
    TEST_CHECK(s == VSSM_OK && !strcmp(vssm_classifier_label(c, 1), ""), "an empty name in the middle is a name: %s",
               s == VSSM_OK ? "" : err.msg);
    vssm_classifier_free(c);

    write_file(p, "a\nb\n", 4);
    c = NULL;
    TEST_CHECK(load_with(ctx, p, &c, &err) == VSSM_ERR_FORMAT && strstr(err.msg, p) && strstr(err.msg, "2 labels"),
               "too few names: named (%s)", err.msg);
    vssm_classifier_free(c);

    write_file(p, "a\nb\0c\nd\n", 8);
    c = NULL;
    TEST_CHECK(load_with(ctx, p, &c, &err) == VSSM_ERR_FORMAT && strstr(err.msg, p) && strstr(err.msg, "NUL"),
               "a binary file: named (%s)", err.msg);
    vssm_classifier_free(c);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.txt", dir);
    c = NULL;
    TEST_CHECK(load_with(ctx, missing, &c, &err) == VSSM_ERR_IO && strstr(err.msg, missing), "missing: named (%s)",
               err.msg);
    vssm_classifier_free(c);

    remove(p);
    rmdir(dir);
    free(buf);
    vssm_ctx_free(ctx);
    return test_finish("test_labels_file");
}
