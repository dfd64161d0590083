/* tests/test_reid_rerank.c - k-reciprocal re-ranking (eval/reid_rerank.c) against a
 * faithful numpy port of torchreid utils/rerank.py on random features
 * (tests/reference/gen_reid_rerank.py -> tests/data/reid/rerank_*.safetensors): the same
 * input distance matrices give the same re-ranked matrix (float32, to a few ulp), and the
 * metrics of both the plain and the re-ranked matrix equal the reference's. */
#include <math.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "testutil.h"
#include "vssm/reid.h"
#include "vssm/weights.h"

static float *get_f32(vssm_weights *w, const char *name, int64_t *r, int64_t *c) {
    vssm_tensor t;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_weights_get(w, name, &t, &err) == VSSM_OK && t.dtype == VSSM_DTYPE_F32, "%s: %s", name, err.msg);
    *r = t.shape[0];
    *c = t.ndim > 1 ? t.shape[1] : 1;
    return (float *)t.data;
}

static const int64_t *get_i64(vssm_weights *w, const char *name) {
    vssm_tensor t;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_weights_get(w, name, &t, &err) == VSSM_OK && t.dtype == VSSM_DTYPE_I64, "%s: %s", name, err.msg);
    return (const int64_t *)t.data;
}

static void check_metrics(const char *what, const vssm_reid_result *r, const char *json) {
    cJSON *j = cJSON_Parse(json);
    TEST_REQUIRE(j, "%s: reference JSON", what);
    double r1 = cJSON_GetObjectItem(j, "rank1")->valuedouble, r5 = cJSON_GetObjectItem(j, "rank5")->valuedouble,
           map = cJSON_GetObjectItem(j, "mAP")->valuedouble, minp = cJSON_GetObjectItem(j, "mINP")->valuedouble;
    int valid = cJSON_GetObjectItem(j, "valid")->valueint;
    TEST_CHECK(fabs(r->rank1 - r1) < 1e-6 && fabs(r->rank5 - r5) < 1e-6 && fabs(r->mAP - map) < 1e-9 &&
                   fabs(r->mINP - minp) < 1e-9 && r->n_valid == valid,
               "%s: R1 %.6f R5 %.6f mAP %.9f mINP %.9f valid %lld, reference %.6f %.6f %.9f %.9f %d", what, r->rank1,
               r->rank5, r->mAP, r->mINP, (long long)r->n_valid, r1, r5, map, minp, valid);
    cJSON_Delete(j);
}

static void run_case(const char *file) {
    char *path = test_data_path(file);
    vssm_weights *w = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_safetensors_open(&w, path, &err) == VSSM_OK, "%s", err.msg);
    int64_t nq, ng, d, t1, t2;
    const float *qf = get_f32(w, "query", &nq, &d), *gf = get_f32(w, "gallery", &ng, &t1);
    const float *qg = get_f32(w, "dist_qg", &t1, &t2), *qq = get_f32(w, "dist_qq", &t1, &t2),
                *gg = get_f32(w, "dist_gg", &t1, &t2), *ref = get_f32(w, "rerank_qg", &t1, &t2);
    vssm_reid_labels q = {get_i64(w, "query_pid"), get_i64(w, "query_camid"), nq};
    vssm_reid_labels g = {get_i64(w, "gallery_pid"), get_i64(w, "gallery_camid"), ng};
    vssm_reid_metric metric = (vssm_reid_metric)vssm_reid_metric_from_name(vssm_weights_meta(w, "metric"));

    float *rr = malloc((size_t)(nq * ng) * sizeof(float));
    TEST_REQUIRE(vssm_reid_rerank(qg, qq, gg, nq, ng, 20, 6, 0.3, rr, &err) == VSSM_OK, "rerank: %s", err.msg);
    double worst = 0;
    int64_t exact = 0;
    for (int64_t i = 0; i < nq * ng; i++) {
        worst = fmax(worst, fabs((double)rr[i] - ref[i]));
        exact += rr[i] == ref[i];
    }
    TEST_CHECK(worst < 1e-6, "%s: re-ranked distances differ from the numpy reference by %.3g", file, worst);
    printf("  %s: %lld x %lld, re-ranked matrix max |diff| %.2e, %lld of %lld bit-identical\n", file, (long long)nq,
           (long long)ng, worst, (long long)exact, (long long)(nq * ng));
    /* k1 5 (an odd k1: the candidates' lists hold np.around(2.5) + 1 = 3), k2 3, lambda 0.5 */
    const float *ref5 = get_f32(w, "rerank_k5_3_l05_qg", &t1, &t2);
    TEST_REQUIRE(vssm_reid_rerank(qg, qq, gg, nq, ng, 5, 3, 0.5, rr, &err) == VSSM_OK, "rerank: %s", err.msg);
    double worst5 = 0;
    for (int64_t i = 0; i < nq * ng; i++) worst5 = fmax(worst5, fabs((double)rr[i] - ref5[i]));
    TEST_CHECK(worst5 < 1e-6, "%s: k1 5 k2 3 lambda 0.5: re-ranked distances differ from numpy's by %.3g", file,
               worst5);
    TEST_REQUIRE(vssm_reid_rerank(qg, qq, gg, nq, ng, 20, 6, 0.3, rr, &err) == VSSM_OK, "rerank: %s", err.msg);

    vssm_reid_result r;
    TEST_REQUIRE(vssm_reid_evaluate(qg, &q, &g, 50, &r, &err) == VSSM_OK, "%s", err.msg);
    check_metrics("plain", &r, vssm_weights_meta(w, "plain"));
    vssm_reid_result_free(&r);
    TEST_REQUIRE(vssm_reid_evaluate(rr, &q, &g, 50, &r, &err) == VSSM_OK, "%s", err.msg);
    check_metrics("re-ranked", &r, vssm_weights_meta(w, "rerank"));
    vssm_reid_result_free(&r);

    /* the whole path from features (our own GEMM distances) lands on the same metrics */
    vssm_reid_eval_opts o = vssm_reid_eval_default_opts();
    o.metric = metric;
    TEST_REQUIRE(vssm_reid_evaluate_features(qf, &q, gf, &g, d, &o, &r, &err) == VSSM_OK, "%s", err.msg);
    check_metrics("features, plain", &r, vssm_weights_meta(w, "plain"));
    vssm_reid_result_free(&r);
    o.rerank = 1;
    TEST_REQUIRE(vssm_reid_evaluate_features(qf, &q, gf, &g, d, &o, &r, &err) == VSSM_OK, "%s", err.msg);
    check_metrics("features, re-ranked", &r, vssm_weights_meta(w, "rerank"));
    vssm_reid_result_free(&r);

    free(rr);
    vssm_weights_close(w);
    free(path);
}

static void test_bad(void) {
    float m[4] = {0, 1, 1, 0}, out[4];
    vssm_err err = {0};
    TEST_CHECK(vssm_reid_rerank(m, m, m, 2, 2, 20, 0, 0.3, out, &err) == VSSM_ERR_INVALID_ARG, "k2 0 refused");
    TEST_CHECK(vssm_reid_rerank(m, m, m, 2, 2, 20, 6, 1.5, out, &err) == VSSM_ERR_INVALID_ARG, "lambda 1.5 refused");
    float z[4] = {0, 0, 0, 0};
    TEST_CHECK(vssm_reid_rerank(z, z, z, 2, 2, 20, 6, 0.3, out, &err) == VSSM_ERR_INVALID_ARG &&
                   strstr(err.msg, "all zero"),
               "all-zero distances named (torchreid would divide by 0): %s", err.msg);
    m[1] = NAN;
    TEST_CHECK(vssm_reid_rerank(m, m, m, 2, 2, 20, 6, 0.3, out, &err) == VSSM_ERR_INVALID_ARG && strstr(err.msg, "nan"),
               "NaN distance named: %s", err.msg);
}

int main(void) {
    run_case("reid/rerank_small.safetensors");
    run_case("reid/rerank_mid.safetensors");
    test_bad();
    return test_finish("test_reid_rerank");
}
