/* test_outfile: output files appear whole or not at all, two writers never share a temp
 * file, a failed or aborted write leaves the old file and no temp file behind. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testutil.h"
#include "vssm/outfile.h"

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static char *slurp(const char *p) {
    static char buf[256];
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

int main(void) {
    char dir[] = "/tmp/vssm_outfile_XXXXXX";
    TEST_REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    vssm_err err = {0};

    /* two writers of one output at once: distinct temp files, both commit, one wins whole */
    vssm_outfile a, b;
    TEST_REQUIRE(vssm_outfile_open(&a, path, &err) == VSSM_OK, "open a: %s", err.msg);
    TEST_REQUIRE(vssm_outfile_open(&b, path, &err) == VSSM_OK, "open b: %s", err.msg);
    TEST_CHECK(strcmp(a.tmp, b.tmp) != 0, "two writers got the same temp name %s", a.tmp);
    TEST_CHECK(access(path, F_OK) != 0, "the final path exists before any commit");
    fputs("writer a\n", a.f);
    fputs("writer b\n", b.f);
    TEST_CHECK(vssm_outfile_commit(&b, &err) == VSSM_OK, "commit b: %s", err.msg);
    TEST_CHECK(vssm_outfile_commit(&a, &err) == VSSM_OK, "commit a: %s", err.msg);
    const char *got = slurp(path);
    TEST_CHECK(got && !strcmp(got, "writer a\n"), "last commit wins whole, got '%s'", got ? got : "(none)");
    TEST_CHECK(count_entries(dir) == 1, "temp files left: %d entries", count_entries(dir));

    /* the mode a plain fopen would give, not mkstemp's 0600 */
    struct stat st;
    mode_t um = umask(022);
    umask(um);
    TEST_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == (0666 & ~um), "mode %o, umask %o",
               (unsigned)(st.st_mode & 0777), (unsigned)um);

    /* abort: the old file stays as it was, the temp file goes */
    vssm_outfile c;
    TEST_REQUIRE(vssm_outfile_open(&c, path, &err) == VSSM_OK, "open c: %s", err.msg);
    fputs("half", c.f);
    vssm_outfile_abort(&c);
    vssm_outfile_abort(&c); /* twice is harmless */
    got = slurp(path);
    TEST_CHECK(got && !strcmp(got, "writer a\n"), "abort changed the file: '%s'", got ? got : "(none)");
    TEST_CHECK(count_entries(dir) == 1, "abort left a temp file");

    /* a folder that does not exist: an error naming the path, nothing created */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing/out.txt", dir);
    vssm_outfile d;
    TEST_CHECK(vssm_outfile_open(&d, bad, &err) == VSSM_ERR_IO && strstr(err.msg, bad), "missing folder: '%s'",
               err.msg);
    TEST_CHECK(d.f == NULL && d.tmp == NULL, "failed open leaves a zeroed handle");
    vssm_outfile_abort(&d);

    /* rename onto a directory fails: error, the temp file is removed */
    char sub[300];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    TEST_REQUIRE(mkdir(sub, 0755) == 0, "mkdir");
    char inner[320];
    snprintf(inner, sizeof inner, "%s/x", sub);
    FILE *f = fopen(inner, "w");
    if (f) fclose(f);
    /* a rename that fails (the target became a folder after open): error, no temp file left */
    char late[320];
    snprintf(late, sizeof late, "%s/late", dir);
    vssm_outfile e;
    TEST_REQUIRE(vssm_outfile_open(&e, late, &err) == VSSM_OK, "open e: %s", err.msg);
    TEST_REQUIRE(mkdir(late, 0755) == 0 && (f = fopen(inner, "w")) != NULL, "setup");
    fclose(f);
    char late_inner[340];
    snprintf(late_inner, sizeof late_inner, "%s/y", late);
    f = fopen(late_inner, "w");
    if (f) fclose(f);
    fputs("x", e.f);
    TEST_CHECK(vssm_outfile_commit(&e, &err) == VSSM_ERR_IO && strstr(err.msg, late), "rename onto a folder: '%s'",
               err.msg);
    TEST_CHECK(count_entries(dir) == 3, "failed commit left a temp file (%d entries)", count_entries(dir));
    remove(late_inner);
    rmdir(late);

    /* a device node is written in place, not replaced by a regular file */
    vssm_outfile g;
    TEST_REQUIRE(vssm_outfile_open(&g, "/dev/null", &err) == VSSM_OK, "open /dev/null: %s", err.msg);
    TEST_CHECK(g.tmp == NULL, "no temp file for a device");
    fputs("discarded", g.f);
    TEST_CHECK(vssm_outfile_commit(&g, &err) == VSSM_OK, "commit /dev/null: %s", err.msg);
    TEST_CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "/dev/null is still a character device");
    /* a folder as the target: an error naming it */
    vssm_outfile h;
    TEST_CHECK(vssm_outfile_open(&h, sub, &err) == VSSM_ERR_IO && strstr(err.msg, sub), "a folder: '%s'", err.msg);

    remove(inner);
    rmdir(sub);
    remove(path);
    rmdir(dir);
    return test_finish("test_outfile");
}
