/* tests/test_track_files.c - tracking files from strangers and the files tracking writes
 * (issue 16):
 *   - a box file with more than VSSM_BOXES_MAX boxes is a named FORMAT error, not a
 *     multi-GB allocation (generated here: 33 MB is too big to commit);
 *   - meta_info.ini's resolution: a number past int (4294967297 read by sscanf %d as 1)
 *     is refused naming the file, not a 1-pixel-wide image that clips every box
 *     (tests/data/track/bad/meta/Wrap);
 *   - every output file (results, SVG and PNG plots, PNG frames) goes through
 *     vssm/outfile.h: a leftover fixed temp name PATH.tmp<pid> (a folder here, so fopen
 *     of it fails) does not stop the write, and no temp file is left beside the output. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "vssm/track.h"

static char tmp[64];

static void test_box_count(void) {
    vssm_err err = {0};
    char p[128];
    snprintf(p, sizeof p, "%s/many.txt", tmp);
    FILE *f = fopen(p, "w");
    TEST_REQUIRE(f, "create %s", p);
    for (int i = 0; i <= VSSM_BOXES_MAX; i++) fputs("0 0 1 1\n", f);
    TEST_REQUIRE(fclose(f) == 0, "write %s", p);
    vssm_box *b = NULL;
    int n = -1;
    TEST_CHECK(vssm_boxes_read(p, &b, &n, &err) == VSSM_ERR_FORMAT && strstr(err.msg, "many.txt") &&
                   strstr(err.msg, "more than"),
               "more than VSSM_BOXES_MAX boxes refused, named: %s", err.msg);
    TEST_CHECK(!b && n == 0, "nothing returned");
    free(b);
    remove(p);
}

static void test_resolution(void) {
    vssm_err err = {0};
    char *dir = test_data_path("track/bad/meta/Wrap");
    vssm_seq s;
    TEST_CHECK(vssm_seq_load(&s, dir, VSSM_SEQ_FORMAT_GOT10K, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "Wrap/meta_info.ini") && strstr(err.msg, "resolution"),
               "a resolution past int is refused naming meta_info.ini, not a 1-pixel image: %s", err.msg);
    /* the GT alone (OTB reads no meta_info.ini): its path and lines */
    TEST_REQUIRE(vssm_seq_load(&s, dir, VSSM_SEQ_FORMAT_OTB, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(s.gt_path && strstr(s.gt_path, "Wrap/groundtruth.txt") && s.gt_line && s.gt_line[1] == 3,
               "GT path and lines kept (blank line 2 skipped)");
    vssm_seq_free(&s);
    free(dir);
}

/* no file but the expected ones (no temp left behind) */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static void test_outputs(void) {
    vssm_err err = {0};
    char p[128], blocker[192], dir[96];
    snprintf(dir, sizeof dir, "%s/out", tmp);
    TEST_REQUIRE(mkdir(dir, 0777) == 0, "mkdir");
    const char *names[3] = {"res.txt", "plot.svg", "plot.png"};
    /* the old fixed temp names, taken (by a folder, so opening them for writing fails) */
    for (int k = 0; k < 3; k++) {
        snprintf(blocker, sizeof blocker, "%s/%s.tmp%ld", dir, names[k], (long)getpid());
        TEST_REQUIRE(mkdir(blocker, 0777) == 0, "mkdir %s", blocker);
    }
    vssm_box b[2] = {{1, 2, 3, 4}, {5, 6, 7, 8}};
    snprintf(p, sizeof p, "%s/res.txt", dir);
    TEST_CHECK(vssm_boxes_write(p, b, 2, &err) == VSSM_OK, "results written past a taken temp name: %s", err.msg);
    double y[3] = {100, 50, 0};
    vssm_track_curve c = {"x", y, 3};
    snprintf(p, sizeof p, "%s/plot.svg", dir);
    TEST_CHECK(vssm_track_plot(p, &c, 1, &c, 1, "t", &err) == VSSM_OK, "SVG plot written: %s", err.msg);
    snprintf(p, sizeof p, "%s/plot.png", dir);
    TEST_CHECK(vssm_track_plot(p, &c, 1, NULL, 0, "t", &err) == VSSM_OK, "PNG plot written: %s", err.msg);
    TEST_CHECK(count_entries(dir) == 6, "3 outputs + 3 blockers, no temp file left (%d entries)", count_entries(dir));
    /* a failed write leaves nothing behind and names the path */
    snprintf(p, sizeof p, "%s/nodir/plot.svg", dir);
    TEST_CHECK(vssm_track_plot(p, &c, 1, NULL, 0, "t", &err) == VSSM_ERR_IO && strstr(err.msg, "nodir/plot.svg"),
               "unwritable named: %s", err.msg);
    for (int k = 0; k < 3; k++) {
        snprintf(blocker, sizeof blocker, "%s/%s.tmp%ld", dir, names[k], (long)getpid());
        rmdir(blocker);
        snprintf(p, sizeof p, "%s/%s", dir, names[k]);
        remove(p);
    }
    rmdir(dir);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/vssm_track_files_XXXXXX");
    TEST_REQUIRE(mkdtemp(tmp), "mkdtemp");
    test_resolution();
    test_outputs();
    test_box_count();
    rmdir(tmp);
    return test_finish("test_track_files");
}
