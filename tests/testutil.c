#include "testutil.h"
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int test_n_pass = 0, test_n_fail = 0;

void test_record(int ok, const char *file, int line, const char *fmt, ...) {
    if (ok) {
        test_n_pass++;
        return;
    }
    test_n_fail++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int test_cpu_runs_bf16(void) {
#if defined(__x86_64__) && defined(VSSM_TEST_BF16_BUILT)
    const char *isa = getenv("VSSM_CPU_ISA");
    if (isa && *isa && strcmp(isa, "avx512") != 0) return 0;
    const char *kind = getenv("VSSM_CPU_BF16"); /* "amx" needs more than this checks */
    if (kind && *kind && strcmp(kind, "avx512bf16") != 0) return 0;
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    if (a < 7) return 0;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if (!(c >> 27 & 1) || !(c >> 12 & 1)) return 0; /* OSXSAVE, FMA */
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 0xe6) != 0xe6) return 0; /* XMM, YMM, opmask, ZMM state */
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    /* AVX2 (b5), AVX512F (b16), DQ (b17), BW (b30), VL (b31) */
    if (!(b >> 5 & 1) || !(b >> 16 & 1) || !(b >> 17 & 1) || !(b >> 30 & 1) || !(b >> 31 & 1)) return 0;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
    return a >> 5 & 1; /* AVX512_BF16 */
#else
    return 0;
#endif
}

int test_short(void) {
    const char *s = getenv("VSSM_TEST_SHORT");
    return s && *s && strcmp(s, "0") != 0;
}

double test_rel_err(const float *a, const float *b, size_t n) {
    double maxd = 0, maxb = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > maxd) maxd = d;
        if (fabs((double)b[i]) > maxb) maxb = fabs((double)b[i]);
    }
    if (maxb == 0) return maxd == 0 ? 0 : INFINITY;
    return maxd / maxb;
}

int test_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, test_n_pass, test_n_fail);
    return test_n_fail ? 1 : 0;
}

void test_skip(const char *why) {
    printf("skipped: %s\n", why);
    exit(77);
}

char *test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = NULL;
    long sz = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (sz >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)sz + 1)) &&
        fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[sz] = 0, *n = (size_t)sz;
    return b;
}

char *test_data_path(const char *rel) {
    size_t n = strlen(VSSM_TEST_DATA) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", VSSM_TEST_DATA, rel);
    return p;
}

int test_run_cmd(const char *cmd, char *out, size_t nout, char *err, size_t nerr) {
    char ep[] = "/tmp/vssm_test_stderr_XXXXXX", full[8192];
    int fd = mkstemp(ep);
    if (fd < 0) return -1;
    close(fd);
    snprintf(full, sizeof full, "cd '%s' && %s 2>%s", VSSM_SOURCE_DIR, cmd, ep);
    FILE *p = popen(full, "r");
    size_t n = p ? fread(out, 1, nout - 1, p) : 0;
    out[n] = 0;
    int st = p ? pclose(p) : -1;
    FILE *e = fopen(ep, "r");
    n = e ? fread(err, 1, nerr - 1, e) : 0;
    err[n] = 0;
    if (e) fclose(e);
    remove(ep);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A small random VMamba (dims 16..128, depths 1 2 1 1, 9 classes) or Vim (embed 48, d_inner
 * 96, depth 3, 7 classes) classifier: the same weights for the same seed on any context. */
vssm_classifier *test_small_classifier(vssm_ctx *ctx, int vim, uint64_t seed) {
    vssm_err err = {0};
    vssm_source *src = vssm_random_source_new(seed);
    TEST_REQUIRE(src, "random source");
    vssm_classifier *c = NULL;
    vssm_backbone *bb = NULL;
    if (vim) {
        vssm_vim_config im;
        TEST_REQUIRE(vssm_vim_config_preset(&im, "vim-tiny", &err) == VSSM_OK, "%s", err.msg);
        strcpy(im.arch, "custom");
        im.embed_dim = 48, im.d_inner = 96, im.depth = 3, im.num_classes = 7;
        TEST_REQUIRE(vssm_backbone_from_vim_config(&bb, ctx, &im, src, "", &err) == VSSM_OK &&
                         vssm_classifier_from_backbone(&c, bb, src, &err) == VSSM_OK,
                     "vim: %s", err.msg);
    } else {
        vssm_vmamba_config vc;
        TEST_REQUIRE(vssm_vmamba_config_preset(&vc, "vmamba-tiny", &err) == VSSM_OK, "%s", err.msg);
        static const int dims[4] = {16, 32, 64, 128}, depths[4] = {1, 2, 1, 1}; /* VMamba-T, smaller */
        memcpy(vc.dims, dims, sizeof dims), memcpy(vc.depths, depths, sizeof depths);
        strcpy(vc.arch, "custom"), vc.num_classes = 9;
        TEST_REQUIRE(vssm_backbone_from_vmamba_config(&bb, ctx, &vc, src, "", &err) == VSSM_OK &&
                         vssm_classifier_from_backbone(&c, bb, src, &err) == VSSM_OK,
                     "vmamba: %s", err.msg);
    }
    vssm_random_source_free(src);
    return c;
}
