/* tests/test_reid_inputs.c - re-ID files from strangers (issue 16), reproducers in
 * tests/data/reid/bad (features files made by make_bad.py there):
 *   - `vssm eval reid` on a bad features file is exit 2 naming the file and what is wrong:
 *     inconsistent lengths (pids, camids vs feature rows), NaN features, an F64 value past
 *     float32's range, zero-width features (the last three were exit 1 from the metrics);
 *   - MSMT17 list files: a person id below -1 is refused like a Market-1501 name's, an
 *     entry that leaves the image folder ("../") is refused, and a line longer than 4 KiB
 *     is one entry (fgets split it into two and the second was misread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vssm/reid.h"

static char out[1 << 14], err[1 << 14];

static void test_features_cli(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' eval reid --features tests/data/reid/bad/good.safetensors --json", VSSM_BIN);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 0 && strstr(out, "\"rank1\""), "the good file evaluates (rc %d): %s", rc, err);
    struct {
        const char *file, *msg;
    } bad[] = {
        {"lengths_pid", "'query_pid' has 2 entries but 'query' has 3 rows"},
        {"lengths_camid", "'gallery_camid' has 1 entries but 'gallery' has 2 rows"},
        {"nan", "'query' row 1, column 0 is nan"},
        {"f64_overflow", "'gallery' row 1, column 1 is inf"},
        {"dim0", "'query' has 3 x 0 features"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(cmd, sizeof cmd, "'%s' eval reid --features tests/data/reid/bad/%s.safetensors", VSSM_BIN,
                 bad[k].file);
        rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
        char name[96];
        snprintf(name, sizeof name, "bad/%s.safetensors: ", bad[k].file);
        TEST_CHECK(rc == 2 && strstr(err, name) && strstr(err, bad[k].msg),
                   "%s: exit 2 (%d) naming the file and '%s': %s", bad[k].file, rc, bad[k].msg, err);
    }
}

static void test_msmt_lists(void) {
    vssm_err err = {0};
    vssm_reid_dataset d;
    char *root = test_data_path("reid/bad/msmt_negpid");
    TEST_CHECK(vssm_reid_dataset_load(&d, root, VSSM_REID_FORMAT_MSMT, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "list_query.txt:2: person id -5"),
               "pid -5 refused with file:line: %s", err.msg);
    free(root);
    root = test_data_path("reid/bad/msmt_escape");
    TEST_CHECK(vssm_reid_dataset_load(&d, root, VSSM_REID_FORMAT_MSMT, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "list_gallery.txt:1: '../../0000/") && strstr(err.msg, "inside the image folder"),
               "a path out of the image folder refused: %s", err.msg);
    free(root);
    root = test_data_path("reid/bad/msmt_longline");
    vssm_status s = vssm_reid_dataset_load(&d, root, VSSM_REID_FORMAT_MSMT, &err);
    TEST_CHECK(s == VSSM_OK && d.query.n == 1 && d.query.pid[0] == 0 && d.query.camid[0] == 0 &&
                   strlen(d.query.path[0]) > 4200,
               "a 4.2 KB line is one entry: %s", s == VSSM_OK ? "" : err.msg);
    if (s == VSSM_OK) vssm_reid_dataset_free(&d);
    free(root);
}

int main(void) {
    test_features_cli();
    test_msmt_lists();
    return test_finish("test_reid_inputs");
}
