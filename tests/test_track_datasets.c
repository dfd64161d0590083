/* tests/test_track_datasets.c - tracking dataset readers on tiny fixtures
 * (tests/data/track/readers): OTB comma and whitespace (CRLF) boxes kept as written
 * (1-based), LaSOT class folders and visibility, GOT-10k absence / cover / resolution;
 * malformed lines named with file:line; missing frames; the results writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "vssm/track.h"

static int box_eq(vssm_box a, double x, double y, double w, double h) {
    return a.x == x && a.y == y && a.w == w && a.h == h;
}

static void test_otb(void) {
    vssm_err err = {0};
    char *root = test_data_path("track/readers/otb");
    char **dirs;
    int n;
    TEST_REQUIRE(vssm_seq_list(root, VSSM_SEQ_FORMAT_OTB, &dirs, &n, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(n == 2 && strstr(dirs[0], "/Comma") && strstr(dirs[1], "/Spaces"), "2 sorted sequences");
    for (int k = 0; k < n; k++) {
        vssm_seq s;
        TEST_REQUIRE(vssm_seq_load(&s, dirs[k], VSSM_SEQ_FORMAT_OTB, &err) == VSSM_OK, "%s", err.msg);
        TEST_CHECK(s.n_gt == 3, "%s: 3 boxes, blank line skipped (%d)", s.name, s.n_gt);
        TEST_CHECK(box_eq(s.gt[0], 1, 2, 30, 40) && box_eq(s.gt[2], 9, 10, 32, 42),
                   "%s: boxes as written (1-based, unconverted)", s.name);
        TEST_CHECK(!s.visible && !s.cover && s.n_frames == 0, "%s: no labels, no frames", s.name);
        vssm_seq_free(&s);
    }
    vssm_seq_list_free(dirs, n);
    free(root);
    /* a line with 3 numbers: named with file and line */
    char *bad = test_data_path("track/readers/bad/Short");
    vssm_seq s;
    TEST_CHECK(vssm_seq_load(&s, bad, VSSM_SEQ_FORMAT_OTB, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "groundtruth_rect.txt:2") && strstr(err.msg, "4 numbers"),
               "malformed line named: %s", err.msg);
    TEST_CHECK(vssm_seq_load(&s, "/nonexistent/seq", VSSM_SEQ_FORMAT_OTB, &err) == VSSM_ERR_IO &&
                   strstr(err.msg, "/nonexistent/seq"),
               "missing folder named: %s", err.msg);
    free(bad);
}

static void test_lasot(void) {
    vssm_err err = {0};
    char *root = test_data_path("track/readers/lasot");
    char **dirs;
    int n;
    TEST_REQUIRE(vssm_seq_list(root, VSSM_SEQ_FORMAT_LASOT, &dirs, &n, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(n == 2 && strstr(dirs[0], "cat/cat-1") && strstr(dirs[1], "cat/cat-2"), "<cls>/<cls>-<n> found");
    vssm_seq s;
    TEST_REQUIRE(vssm_seq_load(&s, dirs[0], VSSM_SEQ_FORMAT_LASOT, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(!strcmp(s.name, "cat-1") && s.n_gt == 4 && box_eq(s.gt[3], 106, 53, 21, 31), "cat-1: 4 boxes");
    TEST_CHECK(s.visible && s.visible[0] && s.visible[1] && !s.visible[2] && !s.visible[3],
               "visible = !full_occlusion && !out_of_view: 1 1 0 0");
    vssm_seq_free(&s);
    TEST_REQUIRE(vssm_seq_load(&s, dirs[1], VSSM_SEQ_FORMAT_LASOT, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(!s.visible, "no label files: visibility unknown (NULL)");
    vssm_seq_free(&s);
    vssm_seq_list_free(dirs, n);
    /* one class folder as the root also works */
    char *cls = test_data_path("track/readers/lasot/cat");
    TEST_CHECK(vssm_seq_list(cls, VSSM_SEQ_FORMAT_LASOT, &dirs, &n, &err) == VSSM_OK && n == 2, "class folder as root");
    vssm_seq_list_free(dirs, n);
    free(cls);
    free(root);
}

static void test_got10k(void) {
    vssm_err err = {0};
    char *root = test_data_path("track/readers/got10k/val");
    char **dirs;
    int n;
    TEST_REQUIRE(vssm_seq_list(root, VSSM_SEQ_FORMAT_GOT10K, &dirs, &n, &err) == VSSM_OK && n == 1, "%s", err.msg);
    vssm_seq s;
    TEST_REQUIRE(vssm_seq_load(&s, dirs[0], VSSM_SEQ_FORMAT_GOT10K, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(s.n_gt == 3 && box_eq(s.gt[1], 12.5, 21, 30, 40), "GOT-10k decimals");
    TEST_CHECK(s.visible && s.visible[0] && s.visible[1] && !s.visible[2], "absence.label -> visible 1 1 0");
    TEST_CHECK(s.cover && s.cover[0] == 8 && s.cover[1] == 5 && s.cover[2] == 0, "cover.label 8 5 0");
    TEST_CHECK(s.res_w == 640 && s.res_h == 360, "meta_info.ini resolution (%d, %d)", s.res_w, s.res_h);
    vssm_seq_free(&s);
    vssm_seq_list_free(dirs, n);
    free(root);
    char *otb = test_data_path("track/readers/otb");
    TEST_CHECK(vssm_seq_list(otb, VSSM_SEQ_FORMAT_GOT10K, &dirs, &n, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "no sequences"),
               "wrong layout named: %s", err.msg);
    free(otb);
}

static void copy_file(const char *src, const char *dst) {
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    char buf[8192];
    size_t k;
    while (a && b && (k = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, k, b);
    if (a) fclose(a);
    if (b) fclose(b);
}

static void test_frames_and_writer(void) {
    vssm_err err = {0};
    char dir[] = "/tmp/vssm_track_ds_XXXXXX";
    TEST_REQUIRE(mkdtemp(dir), "mkdtemp");
    char p[600], img[300];
    snprintf(img, sizeof img, "%s/img", dir);
    mkdir(img, 0777);
    char *jpg = test_data_path("images/dog_37x29_tiny.jpg");
    const int nums[3] = {1, 2, 4};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%04d.jpg", img, nums[i]);
        copy_file(jpg, p);
    }
    char **fr;
    int n;
    TEST_CHECK(vssm_seq_frames(dir, &fr, &n, &err) == VSSM_ERR_FORMAT && strstr(err.msg, "frame 3 is missing"),
               "a gap in the numbered frames is named: %s", err.msg);
    snprintf(p, sizeof p, "%s/0003.jpg", img);
    copy_file(jpg, p);
    TEST_REQUIRE(vssm_seq_frames(dir, &fr, &n, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(n == 4 && strstr(fr[0], "img/0001.jpg") && strstr(fr[3], "img/0004.jpg"), "4 sorted frames from img/");
    vssm_seq_list_free(fr, n);
    /* results writer: integers, temp name renamed into place */
    vssm_box b[3] = {{1.4, 2.5, 30.6, -0.2}, {0, 0, 10, 10}, {-3.5, 7.49, 1, 1}};
    snprintf(p, sizeof p, "%s/out.txt", dir);
    TEST_REQUIRE(vssm_boxes_write(p, b, 3, &err) == VSSM_OK, "%s", err.msg);
    FILE *f = fopen(p, "r");
    char txt[256] = {0};
    size_t k = f ? fread(txt, 1, sizeof txt - 1, f) : 0;
    txt[k] = 0;
    if (f) fclose(f);
    TEST_CHECK(!strcmp(txt, "1,3,31,0\n0,0,10,10\n-4,7,1,1\n"), "integer results file: '%s'", txt);
    vssm_box *rb;
    TEST_CHECK(vssm_boxes_read(p, &rb, &n, &err) == VSSM_OK && n == 3 && box_eq(rb[2], -4, 7, 1, 1), "read back");
    free(rb);
    snprintf(p, sizeof p, "%s/nodir/out.txt", dir);
    TEST_CHECK(vssm_boxes_write(p, b, 3, &err) == VSSM_ERR_IO && strstr(err.msg, "nodir"), "unwritable path named: %s",
               err.msg);
    /* clean up */
    for (int i = 1; i <= 4; i++) {
        snprintf(p, sizeof p, "%s/%04d.jpg", img, i);
        remove(p);
    }
    snprintf(p, sizeof p, "%s/out.txt", dir);
    remove(p);
    rmdir(img);
    rmdir(dir);
    free(jpg);
}

int main(void) {
    test_otb();
    test_lasot();
    test_got10k();
    test_frames_and_writer();
    return test_finish("test_track_datasets");
}
