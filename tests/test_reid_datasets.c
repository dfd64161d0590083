/* tests/test_reid_datasets.c - re-ID dataset readers (datasets/reid.c): the Market-1501,
 * VeRi-776 and MSMT17 name rules (pid -1 dropped, pid 0 kept, camid 0-based), the folder
 * and list layouts, and the features file: round trip and named errors for mismatched
 * lengths, missing tensors and NaN features. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testutil.h"
#include "vssm/reid.h"
#include "vssm/weights.h"

static void test_parsers(void) {
    int64_t p = 0, c = 0;
    vssm_err err = {0};
    const vssm_reid_format M = VSSM_REID_FORMAT_MARKET, V = VSSM_REID_FORMAT_VERI, S = VSSM_REID_FORMAT_MSMT;
    TEST_CHECK(vssm_reid_parse_name(M, "x/query/0002_c1s1_000451_03.jpg", &p, &c, &err) == VSSM_OK && p == 2 && c == 0,
               "market 0002_c1s1: pid 2 cam 0 (got %lld %lld)", (long long)p, (long long)c);
    TEST_CHECK(vssm_reid_parse_name(M, "-1_c3s2_000001_00.jpg", &p, &c, &err) == VSSM_OK && p == -1 && c == 2,
               "market junk pid -1");
    TEST_CHECK(vssm_reid_parse_name(M, "0000_c6s3_094992_01.jpg", &p, &c, &err) == VSSM_OK && p == 0 && c == 5,
               "market distractor 0");
    TEST_CHECK(vssm_reid_parse_name(M, "x_c1/Thumbs_c1.jpg", &p, &c, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "Thumbs_c1.jpg"),
               "a non-Market name is named: %s", err.msg);
    TEST_CHECK(vssm_reid_parse_name(M, "0002_c0s1_000451_03.jpg", &p, &c, &err) == VSSM_ERR_FORMAT, "camera 0 refused");
    TEST_CHECK(vssm_reid_parse_name(M, "-2_c1s1_000451_03.jpg", &p, &c, &err) == VSSM_ERR_FORMAT, "pid -2 refused");
    TEST_CHECK(vssm_reid_parse_name(V, "0002_c002_00030600_0.jpg", &p, &c, &err) == VSSM_OK && p == 2 && c == 1,
               "veri: pid 2 cam 1");
    TEST_CHECK(vssm_reid_parse_name(V, "0776_c020_00030600_0.jpg", &p, &c, &err) == VSSM_OK && p == 776 && c == 19,
               "veri cam 20");
    TEST_CHECK(vssm_reid_parse_name(V, "0002_c02_00030600_0.jpg", &p, &c, &err) == VSSM_ERR_FORMAT,
               "veri needs 3 camera digits");
    TEST_CHECK(vssm_reid_parse_name(S, "0000/0000_000_01_0303morning_0015_0.jpg", &p, &c, &err) == VSSM_OK && c == 0,
               "msmt: camid from the third field");
    TEST_CHECK(vssm_reid_parse_name(S, "0007/0007_011_15_0303noon_1014_1.jpg", &p, &c, &err) == VSSM_OK && c == 14,
               "msmt cam 15");
    TEST_CHECK(vssm_reid_parse_name(S, "0000/0000.jpg", &p, &c, &err) == VSSM_ERR_FORMAT,
               "msmt without fields refused");
    /* torchreid's int('01x') raises: a camera field with more than digits is refused, named */
    TEST_CHECK(vssm_reid_parse_name(S, "0000/0000_000_01x_0303morning_0015_0.jpg", &p, &c, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "01x"),
               "msmt camera field '01x' refused: %s", err.msg);
    TEST_CHECK(vssm_reid_format_from_name("veri") == V && vssm_reid_format_from_name("cuhk") == -1, "format names");
}

static void test_market_fixture(void) {
    char *root = test_data_path("reid/market");
    vssm_reid_dataset d;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_reid_dataset_load(&d, root, VSSM_REID_FORMAT_MARKET, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(d.query.n == 3 && d.gallery.n == 6 && d.gallery.n_junk == 1,
               "3 query, 6 gallery, 1 junk (got %lld %lld %lld)", (long long)d.query.n, (long long)d.gallery.n,
               (long long)d.gallery.n_junk);
    /* sorted by name: 0000_c4, 0001_c1, 0001_c2, 0002_c1, 0003_c3, 0004_c6 */
    const int64_t pid[6] = {0, 1, 1, 2, 3, 4}, cam[6] = {3, 0, 1, 0, 2, 5};
    int ok = d.gallery.n == 6;
    for (int i = 0; ok && i < 6; i++) ok = d.gallery.pid[i] == pid[i] && d.gallery.camid[i] == cam[i];
    TEST_CHECK(ok, "gallery pids/camids in name order, pid 0 kept");
    TEST_CHECK(d.query.n == 3 && strstr(d.query.path[2], "market/query/0003_c1s1_000301_00.png"), "paths: %s",
               d.query.path[2]);
    vssm_reid_dataset_free(&d);
    TEST_CHECK(vssm_reid_dataset_load(&d, root, VSSM_REID_FORMAT_VERI, &err) == VSSM_ERR_IO &&
                   strstr(err.msg, "image_query"),
               "wrong layout named: %s", err.msg);
    free(root);
}

static void touch(const char *dir, const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
}

static void test_veri_msmt_layouts(void) {
    char tmp[] = "/tmp/vssm_reid_XXXXXX", p[1024];
    TEST_REQUIRE(mkdtemp(tmp), "mkdtemp");
    /* VeRi under ROOT/VeRi/ */
    snprintf(p, sizeof p, "%s/VeRi", tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/VeRi/image_query", tmp);
    mkdir(p, 0755);
    touch(p, "0002_c002_00030600_0.jpg");
    snprintf(p, sizeof p, "%s/VeRi/image_test", tmp);
    mkdir(p, 0755);
    touch(p, "0002_c003_00084280_0.jpg");
    touch(p, "0005_c011_00014930_1.jpg");
    touch(p, "list.txt");
    touch(p, "hello.jpg"); /* a stray name: skipped and listed, the rest loaded */
    vssm_reid_dataset d;
    vssm_err err = {0};
    TEST_CHECK(vssm_reid_dataset_load(&d, tmp, VSSM_REID_FORMAT_VERI, &err) == VSSM_OK && d.query.n == 1 &&
                   d.gallery.n == 2 && d.gallery.camid[1] == 10 && d.gallery.pid[1] == 5,
               "veri layout (nested VeRi/): %s", err.msg);
    TEST_CHECK(d.query.n_stray == 0 && d.gallery.n_stray == 1 && strstr(d.gallery.stray[0], "image_test/hello.jpg"),
               "the stray hello.jpg listed (%lld)", (long long)d.gallery.n_stray);
    vssm_reid_dataset_free(&d);
    /* MSMT17_V1 with list files and test/ */
    snprintf(p, sizeof p, "%s/MSMT17_V1", tmp);
    mkdir(p, 0755);
    FILE *f;
    snprintf(p, sizeof p, "%s/MSMT17_V1/list_query.txt", tmp);
    f = fopen(p, "w");
    fprintf(f, "0000/0000_000_01_0303morning_0015_0.jpg 0\n0001/0001_001_07_0303noon_0100_1.jpg 1\n");
    fclose(f);
    snprintf(p, sizeof p, "%s/MSMT17_V1/list_gallery.txt", tmp);
    f = fopen(p, "w");
    fprintf(f, "0000/0000_004_03_0303afternoon_0200_0.jpg 0\r\n");
    fclose(f);
    snprintf(p, sizeof p, "%s/MSMT17_V1/test", tmp);
    mkdir(p, 0755);
    TEST_CHECK(vssm_reid_dataset_load(&d, tmp, VSSM_REID_FORMAT_MSMT, &err) == VSSM_OK && d.query.n == 2 &&
                   d.gallery.n == 1 && d.query.pid[1] == 1 && d.query.camid[1] == 6 && d.gallery.camid[0] == 2 &&
                   strstr(d.gallery.path[0], "MSMT17_V1/test/0000/0000_004_03"),
               "msmt lists: %s", err.msg);
    vssm_reid_dataset_free(&d);
    f = fopen(p, "r"); /* p is the test dir: make a bad list line */
    if (f) fclose(f);
    snprintf(p, sizeof p, "%s/MSMT17_V1/list_gallery.txt", tmp);
    f = fopen(p, "w");
    fprintf(f, "0000/0000_004_03_0303afternoon_0200_0.jpg\n");
    fclose(f);
    TEST_CHECK(vssm_reid_dataset_load(&d, tmp, VSSM_REID_FORMAT_MSMT, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "list_gallery.txt:1"),
               "a bad list line is named with its line number: %s", err.msg);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    TEST_CHECK(system(cmd) == 0, "cleanup");
}

static void test_features_file(void) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/vssm_reid_feats_%d.safetensors", (int)getpid());
    float q[6] = {1, 2, 3, 4, 5, 6}, g[4] = {1, 0, 0, 1};
    int64_t qp[3] = {1, 2, 0}, qc[3] = {0, 1, 2}, gp[2] = {1, 2}, gc[2] = {1, 0};
    vssm_reid_features f = {q, g, qp, qc, gp, gc, 3, 2, 2}, r;
    vssm_err err = {0};
    const char *meta[] = {"format", "market"};
    TEST_REQUIRE(vssm_reid_features_save(path, &f, meta, 1, &err) == VSSM_OK, "%s", err.msg);
    TEST_REQUIRE(vssm_reid_features_load(&r, path, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(r.nq == 3 && r.ng == 2 && r.dim == 2 && !memcmp(r.query, q, sizeof q) &&
                   !memcmp(r.g_camid, gc, sizeof gc) && !memcmp(r.q_pid, qp, sizeof qp),
               "features round trip");
    vssm_reid_features_free(&r);
    /* mismatched lengths: 3 query rows, 2 query_pid entries */
    vssm_st_entry e[6] = {
        {"query", {q, VSSM_DTYPE_F32, 2, {3, 2}, VSSM_DEVICE_CPU}},
        {"gallery", {g, VSSM_DTYPE_F32, 2, {2, 2}, VSSM_DEVICE_CPU}},
        {"query_pid", {qp, VSSM_DTYPE_I64, 1, {2}, VSSM_DEVICE_CPU}},
        {"query_camid", {qc, VSSM_DTYPE_I64, 1, {3}, VSSM_DEVICE_CPU}},
        {"gallery_pid", {gp, VSSM_DTYPE_I64, 1, {2}, VSSM_DEVICE_CPU}},
        {"gallery_camid", {gc, VSSM_DTYPE_I64, 1, {2}, VSSM_DEVICE_CPU}},
    };
    TEST_REQUIRE(vssm_safetensors_write(path, e, 6, NULL, 0, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(vssm_reid_features_load(&r, path, &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg, "'query_pid' has 2 entries but 'query' has 3 rows") && strstr(err.msg, path),
               "mismatched lengths named: %s", err.msg);
    /* a missing tensor */
    e[2].t.shape[0] = 3;
    TEST_REQUIRE(vssm_safetensors_write(path, e, 5, NULL, 0, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(vssm_reid_features_load(&r, path, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "no tensor 'gallery_camid'"),
               "missing tensor named: %s", err.msg);
    /* query and gallery of different widths */
    e[1].t.shape[0] = 1;
    e[1].t.shape[1] = 4;
    e[4].t.shape[0] = 1;
    e[5].t.shape[0] = 1;
    TEST_REQUIRE(vssm_safetensors_write(path, e, 6, NULL, 0, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(vssm_reid_features_load(&r, path, &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg, "2 dimensions, gallery features 4"),
               "dimension mismatch named: %s", err.msg);
    remove(path);
}

int main(void) {
    test_parsers();
    test_market_fixture();
    test_veri_msmt_layouts();
    test_features_file();
    return test_finish("test_reid_datasets");
}
