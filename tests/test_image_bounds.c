/* tests/test_image_bounds.c - images from strangers (issue 16): a header that promises far
 * more than the file holds is refused as truncated BEFORE the pixels are allocated, stb's
 * formats cut short are refused instead of zero-filled, and Resize + CenterCrop computes
 * only the pixels the crop keeps (same bytes as the full resize, bounded memory).
 *
 * Reproducers: tests/data/images/bad/gen_hostile.py writes them. Where the process runs
 * without AddressSanitizer (which reserves terabytes of address space), the hostile files
 * are decoded under an address-space cap of the current size + 256 MB, so an implementation
 * that allocates first and checks later fails here with VSSM_ERR_NOMEM. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "vssm/image.h"
#include "vssm/seg_eval.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static struct rlimit saved_as;
static int capped;

/* Caps the address space at what the process uses now plus extra bytes. */
static void cap_memory(size_t extra) {
    if (UNDER_ASAN) return;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f) return;
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
    if (!pages || getrlimit(RLIMIT_AS, &saved_as) != 0) return;
    struct rlimit r = saved_as;
    rlim_t want = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + extra;
    if (r.rlim_max != RLIM_INFINITY && want > r.rlim_max) return;
    r.rlim_cur = want;
    capped = setrlimit(RLIMIT_AS, &r) == 0;
}

static void uncap_memory(void) {
    if (capped) setrlimit(RLIMIT_AS, &saved_as);
    capped = 0;
}

static char *bad_path(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "images/bad/%s", name);
    return test_data_path(rel);
}

/* The file must be refused as VSSM_ERR_FORMAT, with a message naming it and containing want. */
static void expect_refused(const char *name, const char *want) {
    char *path = bad_path(name);
    vssm_err err = {0};
    vssm_image im = {0};
    cap_memory((size_t)256 << 20);
    vssm_status st = vssm_image_load(&im, path, NULL, &err);
    uncap_memory();
    TEST_CHECK(st == VSSM_ERR_FORMAT && strstr(err.msg, name) && strstr(err.msg, want),
               "%s: expected VSSM_ERR_FORMAT with '%s', got %s: %s", name, want, vssm_status_str(st), err.msg);
    TEST_CHECK(!im.data && !im.w && !im.h, "%s: a refused image leaves nothing behind", name);
    printf("  %-28s -> %s\n", name, err.msg);
    vssm_image_free(&im);
    free(path);
}

static void test_hostile_headers(void) {
    /* header claims 13000x13000 (under the pixel limit); the data is a 37x29 image's */
    expect_refused("short_13000x13000.jpg", "truncated JPEG");
    expect_refused("short_13000x13000.png", "truncated PNG");
    expect_refused("short_13000x13000.bmp", "truncated bmp");
    /* stb's formats cut at 60 %: refused, not zero-filled */
    expect_refused("truncated_60.bmp", "truncated bmp");
    expect_refused("truncated_60.tga", "truncated tga");
    expect_refused("truncated_60.ppm", "pnm");
    expect_refused("truncated_60_rle.tga", "truncated tga");
    expect_refused("truncated_tail.ppm", "pnm");
}

static void test_label_map_bomb(void) {
    char *path = bad_path("label_short_13000x13000.png");
    vssm_err err = {0};
    vssm_label_map m = {0};
    cap_memory((size_t)256 << 20);
    vssm_status st = vssm_label_map_load(&m, path, &err);
    uncap_memory();
    TEST_CHECK(st == VSSM_ERR_FORMAT && strstr(err.msg, "label_short_13000x13000.png") && strstr(err.msg, "truncated"),
               "a label map whose header promises 13000x13000 in 152 bytes is refused before allocating: %s: %s",
               vssm_status_str(st), err.msg);
    TEST_CHECK(!m.data, "nothing left behind");
    printf("  %-28s -> %s\n", "label_short_13000x13000.png", err.msg);
    free(path);
}

/* The user's limit applies before anything is allocated, for every decoder. */
static void test_limit_option(void) {
    char *path = bad_path("wide_400000x1.png");
    vssm_err err = {0};
    vssm_image im = {0};
    vssm_image_limits lim = {399999};
    TEST_CHECK(vssm_image_load(&im, path, &lim, &err) == VSSM_ERR_FORMAT && strstr(err.msg, "limit of 399999"),
               "max_pixels 399999 refuses a 400000-pixel image: %s", err.msg);
    lim.max_pixels = 400000;
    TEST_CHECK(vssm_image_load(&im, path, &lim, &err) == VSSM_OK, "max_pixels 400000 allows it: %s", err.msg);
    vssm_image_free(&im);
    free(path);
}

/* A valid 400000x1 PNG with ImageNet preprocessing: resize(256) would be 102400000x256
 * (78 GB, 2.2 GB of filter tables); only the 224x224 the crop keeps is computed. */
static void test_wide_png_preprocess(void) {
    char *path = bad_path("wide_400000x1.png");
    vssm_err err = {0};
    vssm_image im = {0};
    TEST_REQUIRE(vssm_image_load(&im, path, NULL, &err) == VSSM_OK && im.w == 400000 && im.h == 1, "%s", err.msg);
    vssm_preprocess_params p = vssm_preprocess_imagenet();
    int ow = 0, oh = 0;
    TEST_REQUIRE(vssm_preprocess_output_size(&p, im.w, im.h, &ow, &oh, &err) == VSSM_OK && ow == 224 && oh == 224, "%s",
                 err.msg);
    float *x = malloc((size_t)ow * oh * 3 * sizeof(float));
    TEST_REQUIRE(x != NULL, "malloc");
    cap_memory((size_t)256 << 20);
    vssm_status st = vssm_preprocess(&im, &p, x, &err);
    uncap_memory();
    TEST_CHECK(st == VSSM_OK, "400000x1 -> resize 256 -> crop 224 within 256 MB: %s: %s", vssm_status_str(st), err.msg);
    /* the marker band sits at the centre: the crop sees it, and the output varies */
    float lo = x[0], hi = x[0];
    for (size_t i = 0; i < (size_t)ow * oh * 3; i++) lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    TEST_CHECK(st != VSSM_OK || hi > lo, "the crop shows the centre band (min %g max %g)", lo, hi);
    free(x);
    vssm_image_free(&im);
    free(path);
}

/* A tiny image cannot ask for a huge tensor through --resize with no crop. */
static void test_preprocess_output_cap(void) {
    vssm_err err = {0};
    vssm_preprocess_params p = vssm_preprocess_imagenet();
    p.resize = 16384;
    p.crop = 0;
    int ow = 0, oh = 0;
    vssm_status st = vssm_preprocess_output_size(&p, 2, 1, &ow, &oh, &err); /* 32768 x 16384 */
    TEST_CHECK(st == VSSM_ERR_INVALID_ARG && strstr(err.msg, "limit"), "2x1 resized to 32768x16384 is refused: %s",
               err.msg);
    p.resize = 2048;
    TEST_CHECK(vssm_preprocess_output_size(&p, 300, 200, &ow, &oh, &err) == VSSM_OK && ow == 3072 && oh == 2048,
               "300x200 -> 3072x2048 is fine: %s", err.msg);
}

/* A path that streams without end (/dev/zero, a pipe) was read until memory ran out:
 * now at most what an image within the pixel limit can take. In a child, under alarm(). */
static void test_endless_stream(void) {
    if (access("/dev/zero", R_OK) != 0) {
        printf("  (no /dev/zero: endless-stream check skipped)\n");
        return;
    }
    pid_t pid = fork();
    TEST_REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
        alarm(20);
        cap_memory((size_t)512 << 20); /* an unbounded reader fails fast instead of eating the machine */
        vssm_err err = {0};
        vssm_image im = {0};
        vssm_image_limits lim = {1000}; /* => at most 9000 bytes + 64 MB of metadata */
        /* no image's first bytes: refused at once (it read 1.7 GB before the decoder looked) */
        vssm_status st = vssm_image_load(&im, "/dev/zero", &lim, &err);
        if (st != VSSM_ERR_FORMAT || !strstr(err.msg, "/dev/zero: not an image")) _exit(1);
        /* a PNG signature, then zeros without end (a pipe): refused after a bounded read */
        int fd[2];
        if (pipe(fd) != 0) _exit(2);
        const pid_t wr = fork();
        if (wr == 0) {
            close(fd[0]);
            static char zeros[1 << 16];
            if (write(fd[1], "\x89PNG\r\n\x1a\n", 8) != 8) _exit(0);
            for (;;)
                if (write(fd[1], zeros, sizeof zeros) < 0) _exit(0); /* the reader gave up: EPIPE */
        }
        close(fd[1]);
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd[0]);
        st = vssm_image_load(&im, path, &lim, &err);
        close(fd[0]);
        kill(wr, SIGKILL);
        waitpid(wr, NULL, 0);
        _exit(st == VSSM_ERR_FORMAT && strstr(err.msg, "larger than any image") ? 0 : 3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    TEST_CHECK(
        WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "/dev/zero refused at its first bytes, a PNG header then endless zeros after a bounded read (child %s %d)",
        WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* vssm_image_load on a named pipe nobody writes to blocked forever in fopen: now the open
 * does not wait, and the pipe reads as an empty file. In a child, under alarm(). */
static void test_fifo(void) {
    char path[] = "/tmp/vssm_fifo_XXXXXX";
    TEST_REQUIRE(mkdtemp(path), "mkdtemp");
    char fifo[64];
    snprintf(fifo, sizeof fifo, "%s/p.jpg", path);
    if (mkfifo(fifo, 0600) != 0) {
        printf("  (mkfifo failed: FIFO check skipped)\n");
        rmdir(path);
        return;
    }
    pid_t pid = fork();
    TEST_REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
        alarm(10);
        vssm_err err = {0};
        vssm_image im = {0};
        vssm_status st = vssm_image_load(&im, fifo, NULL, &err);
        _exit(st == VSSM_ERR_FORMAT && strstr(err.msg, "p.jpg") && strstr(err.msg, "empty") ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "a FIFO without a writer: refused at once as empty (child %s %d)", WIFEXITED(status) ? "exit" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    unlink(fifo);
    rmdir(path);
}

static uint8_t *read_file(const char *rel, size_t *n) {
    char *path = test_data_path(rel);
    FILE *f = fopen(path, "rb");
    TEST_REQUIRE(f != NULL, "open %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    TEST_REQUIRE(b && fread(b, 1, *n, f) == *n, "read %s", path);
    fclose(f);
    free(path);
    return b;
}

/* A progressive JPEG whose smallest scan is repeated 600 times (built here from a fixture):
 * each scan is a pass over the coefficients, so many tiny scans are a CPU bomb; more than
 * 500 are refused (libjpeg-turbo's scan limit). The fixture itself still decodes. */
static void test_many_scans(void) {
    size_t n;
    uint8_t *j = read_file("images/giraffe_333_progressive.jpg", &n);
    size_t best_s = 0, best_e = 0;
    for (size_t i = 2; i + 4 <= n;) {
        if (j[i] != 0xFF) break;
        int m = j[i + 1];
        if (m == 0xD9) break;
        size_t L = (size_t)j[i + 2] << 8 | j[i + 3];
        if (m != 0xDA) {
            i += 2 + L;
            continue;
        }
        size_t k = i + 2 + L;
        while (k + 1 < n && !(j[k] == 0xFF && j[k + 1] != 0 && !(j[k + 1] >= 0xD0 && j[k + 1] <= 0xD7))) k++;
        if (!best_e || k - i < best_e - best_s) best_s = i, best_e = k;
        i = k;
    }
    TEST_REQUIRE(best_e > best_s, "found the scans of the fixture");
    size_t sl = best_e - best_s, total = n + 600 * sl;
    uint8_t *b = malloc(total);
    TEST_REQUIRE(b != NULL, "malloc");
    memcpy(b, j, best_e);
    for (int r = 0; r < 600; r++) memcpy(b + best_e + (size_t)r * sl, j + best_s, sl);
    memcpy(b + best_e + 600 * sl, j + best_e, n - best_e);
    vssm_err err = {0};
    vssm_image im = {0};
    vssm_status st = vssm_image_decode_mem(&im, b, total, "manyscans.jpg", NULL, &err);
    TEST_CHECK(st == VSSM_ERR_FORMAT && strstr(err.msg, "manyscans.jpg") && strstr(err.msg, "500 scans"),
               "610 scans refused: %s: %s", vssm_status_str(st), err.msg);
    printf("  %-28s -> %s\n", "610-scan progressive JPEG", err.msg);
    vssm_image_free(&im);
    TEST_CHECK(vssm_image_decode_mem(&im, j, n, "giraffe", NULL, &err) == VSSM_OK, "the fixture still decodes: %s",
               err.msg);
    vssm_image_free(&im);
    free(b);
    free(j);
}

static uint32_t rng = 12345u;
static uint8_t rnd8(void) {
    rng = rng * 1664525u + 1013904223u;
    return (uint8_t)(rng >> 24);
}

/* Resize + CenterCrop through the window equals the full resize then the crop, byte for
 * byte, on shapes that exercise every branch: down- and upscale, one pass only, extreme
 * aspect ratios, and a crop larger than the resized image (zero padding). */
static void test_window_equals_full(void) {
    static const int shapes[][2] = {{400, 1},   {1, 300},   {37, 29}, {300, 200}, {7, 500},
                                    {224, 224}, {256, 300}, {1, 1},   {513, 257}, {256, 256}};
    static const int rc[][2] = {{256, 224}, {32, 224}, {224, 224}, {256, 17}, {300, 300}, {64, 80}};
    int cases = 0, same = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        vssm_image im = {0};
        vssm_err err = {0};
        TEST_REQUIRE(vssm_image_alloc(&im, shapes[s][0], shapes[s][1], 3, &err) == VSSM_OK, "%s", err.msg);
        for (size_t i = 0; i < (size_t)im.w * im.h * 3; i++) im.data[i] = rnd8();
        for (size_t r = 0; r < sizeof rc / sizeof rc[0]; r++)
            for (int it = 0; it < 2; it++) {
                vssm_preprocess_params p = vssm_preprocess_imagenet();
                p.resize = rc[r][0];
                p.crop = rc[r][1];
                p.interp = it ? VSSM_INTERP_BILINEAR : VSSM_INTERP_BICUBIC;
                int nw, nh;
                vssm_resize_shorter_side(im.w, im.h, p.resize, &nw, &nh);
                vssm_image full = {0}, ref = {0}, got = {0};
                vssm_status a = vssm_image_resize(&im, nw, nh, p.interp, &full, &err);
                vssm_status b = a == VSSM_OK ? vssm_image_center_crop(&full, p.crop, p.crop, &ref, &err) : a;
                vssm_status c = vssm_preprocess_u8(&im, &p, &got, &err);
                cases++;
                int ok = b == VSSM_OK && c == VSSM_OK && got.w == ref.w && got.h == ref.h &&
                         memcmp(got.data, ref.data, (size_t)ref.w * ref.h * 3) == 0;
                same += ok;
                TEST_CHECK(ok, "%dx%d resize %d crop %d %s: the window differs from resize-then-crop (%s)", im.w, im.h,
                           p.resize, p.crop, it ? "bilinear" : "bicubic", err.msg);
                vssm_image_free(&full);
                vssm_image_free(&ref);
                vssm_image_free(&got);
            }
        vssm_image_free(&im);
    }
    printf("  windowed resize+crop == full resize then crop: %d/%d cases\n", same, cases);
}

/* Binary PNM is decoded by us since stb 2.27 had two bugs fuzz_image found: a header
 * field of 10+ digits overflowed an int (UB), and every 16-bit P5 was read past its
 * buffer. The first is refused by name; the second decodes (high byte, gray as RGB). */
static void test_pnm_fuzz_finds(void) {
    expect_refused("pnm_width_10_digits.pgm", "too large");
    char *path = bad_path("pgm16_gray_4x4.pgm");
    vssm_err err = {0};
    vssm_image im = {0};
    vssm_status st = vssm_image_load(&im, path, NULL, &err);
    TEST_CHECK(st == VSSM_OK && im.w == 4 && im.h == 4 && im.c == 3, "16-bit P5 decodes: %s", err.msg);
    int ok = st == VSSM_OK;
    for (int j = 0; ok && j < 16; j++)
        for (int c = 0; c < 3; c++) ok &= im.data[j * 3 + c] == (uint8_t)(0x10 * j);
    TEST_CHECK(ok, "16-bit P5 samples keep their high byte, gray replicated to RGB");
    vssm_image_free(&im);
    free(path);
    /* the same file cut short by one byte: truncated, named */
    size_t n = 0;
    uint8_t *b = read_file("images/bad/pgm16_gray_4x4.pgm", &n);
    TEST_REQUIRE(b && n == 45, "read the PGM");
    st = vssm_image_decode_mem(&im, b, n - 1, "cut.pgm", NULL, &err);
    TEST_CHECK(st == VSSM_ERR_FORMAT && strstr(err.msg, "cut.pgm") && strstr(err.msg, "truncated"), "cut: %s", err.msg);
    const char *hdr[] = {"P5\n4 4\n0\n", "P6\n4 4\n70000\n", "P5\n4 4 255", "P5\n# only a comment\n"};
    for (int k = 0; k < 4; k++) {
        st = vssm_image_decode_mem(&im, hdr[k], strlen(hdr[k]), "h.pgm", NULL, &err);
        TEST_CHECK(st == VSSM_ERR_FORMAT && strstr(err.msg, "h.pgm"), "bad header %d refused: %s", k, err.msg);
    }
    free(b);
}

int main(void) {
    if (UNDER_ASAN) printf("  (AddressSanitizer: no address-space cap; the checks on results still run)\n");
    test_hostile_headers();
    test_label_map_bomb();
    test_limit_option();
    test_wide_png_preprocess();
    test_preprocess_output_cap();
    test_endless_stream();
    test_fifo();
    test_many_scans();
    test_window_equals_full();
    test_pnm_fuzz_finds();
    return test_finish("test_image_bounds");
}
