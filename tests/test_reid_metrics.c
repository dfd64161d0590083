/* tests/test_reid_metrics.c - re-ID ranking metrics (eval/reid_metrics.c) against
 * torchreid's eval_market1501 conventions: the worked example of METRICS.md, ties in gallery
 * order, skipped queries, a gallery entirely of the query's camera, distances against a
 * naive double computation, blockwise evaluation equal to the full matrix, bad input. */
#include <math.h>
#include <string.h>
#include "testutil.h"
#include "vssm/reid.h"

static int near(double a, double b) { return fabs(a - b) < 1e-9; }

/* METRICS.md: q (pid1,cam0), (pid2,cam1); gallery (1,0),(1,1),(2,0),(0,2),(1,2),(3,1) */
static void test_worked_example(void) {
    const float dist[2 * 6] = {.1f, .5f, .3f, .2f, .9f, .4f, .6f, .2f, .1f, .5f, .3f, .4f};
    const int64_t qp[2] = {1, 2}, qc[2] = {0, 1}, gp[6] = {1, 1, 2, 0, 1, 3}, gc[6] = {0, 1, 0, 2, 2, 1};
    vssm_reid_labels q = {qp, qc, 2}, g = {gp, gc, 6};
    vssm_reid_result r;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_reid_evaluate(dist, &q, &g, 50, &r, &err) == VSSM_OK, "evaluate: %s", err.msg);
    TEST_CHECK(near(r.rank1, .5) && near(r.rank5, 1) && near(r.mAP, .6625) && near(r.mINP, .7),
               "worked example: R1 50 R5 100 mAP 66.25 mINP 70 (got %g %g %g %g)", 100 * r.rank1, 100 * r.rank5,
               100 * r.mAP, 100 * r.mINP);
    TEST_CHECK(r.max_rank == 6 && r.n_valid == 2 && r.n_query == 2, "max_rank capped at the gallery size (got %d)",
               r.max_rank);
    TEST_CHECK(near(r.cmc[0], .5) && near(r.cmc[2], .5) && near(r.cmc[3], 1) && near(r.cmc[5], 1),
               "CMC 0.5 up to rank 3, then 1");
    vssm_reid_result_free(&r);
}

/* equal distances keep gallery order (a stable sort) */
static void test_ties(void) {
    const float d[3] = {.5f, .5f, .5f};
    const int64_t qp[1] = {1}, qc[1] = {0};
    int64_t gp[3] = {1, 2, 1}, gc[3] = {1, 1, 2};
    vssm_reid_labels q = {qp, qc, 1}, g = {gp, gc, 3};
    vssm_reid_result r;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_reid_evaluate(d, &q, &g, 50, &r, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(near(r.rank1, 1) && near(r.mAP, (1 + 2 / 3.) / 2) && near(r.mINP, 2 / 3.),
               "ties in gallery order: hits at 1 and 3 (R1 %g mAP %g mINP %g)", r.rank1, r.mAP, r.mINP);
    vssm_reid_result_free(&r);
    /* the same gallery listed the other way round: the distractor first */
    gp[0] = 2, gp[1] = 1, gc[0] = 1, gc[1] = 1;
    TEST_REQUIRE(vssm_reid_evaluate(d, &q, &g, 50, &r, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(near(r.rank1, 0) && near(r.mAP, (1 / 2. + 2 / 3.) / 2),
               "distractor first: R1 0, AP (1/2+2/3)/2 (got %g %g)", r.rank1, r.mAP);
    vssm_reid_result_free(&r);
    /* -0 and +0 are equal */
    const float dz[2] = {0.0f, -0.0f};
    int64_t gp2[2] = {2, 1}, gc2[2] = {1, 1};
    vssm_reid_labels g2 = {gp2, gc2, 2};
    TEST_REQUIRE(vssm_reid_evaluate(dz, &q, &g2, 50, &r, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(near(r.rank1, 0), "-0.0 ties with +0.0 (gallery order decides)");
    vssm_reid_result_free(&r);
}

static void test_skipped_and_same_camera(void) {
    /* q0: its only same-pid gallery items share its camera -> removed -> skipped.
     * q1 (pid 9): not in the gallery -> skipped. q2: a normal query. */
    const float d[3 * 4] = {.1f, .2f, .3f, .4f, .1f, .2f, .3f, .4f, .4f, .3f, .2f, .1f};
    const int64_t qp[3] = {1, 9, 2}, qc[3] = {0, 0, 0}, gp[4] = {1, 1, 3, 2}, gc[4] = {0, 0, 0, 1};
    vssm_reid_labels q = {qp, qc, 3}, g = {gp, gc, 4};
    vssm_reid_result r;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_reid_evaluate(d, &q, &g, 50, &r, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(r.n_query == 3 && r.n_valid == 1 && near(r.rank1, 1) && near(r.mAP, 1),
               "two queries skipped (valid %lld)", (long long)r.n_valid);
    vssm_reid_result_free(&r);
    /* a kept list shorter than max_rank: CMC stays at 1 past its end */
    const float d2[3] = {.3f, .2f, .1f};
    const int64_t gp2[3] = {1, 1, 1}, gc2[3] = {0, 0, 1};
    vssm_reid_labels q1 = {qp, qc, 1}, g2 = {gp2, gc2, 3};
    TEST_REQUIRE(vssm_reid_evaluate(d2, &q1, &g2, 50, &r, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(r.max_rank == 3 && near(r.cmc[0], 1) && near(r.cmc[2], 1) && near(r.rank10, 1), "short kept list");
    vssm_reid_result_free(&r);
    /* every gallery item is the query's own camera: nothing valid -> a named error */
    const int64_t gc3[3] = {0, 0, 0};
    vssm_reid_labels g3 = {gp2, gc3, 3};
    vssm_status s = vssm_reid_evaluate(d2, &q1, &g3, 50, &r, &err);
    TEST_CHECK(s == VSSM_ERR_INVALID_ARG && strstr(err.msg, "no query has a match"), "all removed -> error: %s",
               err.msg);
}

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) / (double)(1 << 24)) * 2.f - 1.f;
}

static void test_distances(void) {
    enum { M = 37, N = 53, D = 29 };
    static float a[M * D], b[N * D], out[M * N];
    uint64_t s = 7;
    for (int i = 0; i < M * D; i++) a[i] = frand(&s) + (i % D == 0 ? 3.f : 0.f);
    for (int i = 0; i < N * D; i++) b[i] = frand(&s);
    vssm_err err = {0};
    for (int metric = 0; metric < 2; metric++) {
        TEST_REQUIRE(vssm_reid_distance(a, M, b, N, D, (vssm_reid_metric)metric, out, &err) == VSSM_OK, "%s", err.msg);
        double worst = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double ss = 0, na = 0, nb = 0, dot = 0;
                for (int k = 0; k < D; k++) {
                    double x = a[i * D + k], y = b[j * D + k];
                    ss += (x - y) * (x - y);
                    na += x * x;
                    nb += y * y;
                    dot += x * y;
                }
                double ref = metric == 0 ? ss : 1 - dot / (sqrt(na) * sqrt(nb));
                double scale = metric == 0 ? na + nb : 1;
                worst = fmax(worst, fabs(out[i * N + j] - ref) / scale);
            }
        TEST_CHECK(worst < 2e-6, "%s distance vs naive double: worst %.3g (relative to |a|^2+|b|^2)",
                   metric ? "cosine" : "squared euclidean", worst);
    }
    /* zero vectors under cosine: F.normalize's 1e-12 floor -> distance 1 */
    float z[4] = {0, 0, 0, 0}, o1[4] = {1, 0, 0, 0}, dz;
    TEST_REQUIRE(vssm_reid_distance(z, 1, o1, 1, 4, VSSM_REID_METRIC_COSINE, &dz, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(dz == 1.f, "cosine with a zero vector is 1 (got %g)", dz);
}

/* evaluate_features (blockwise GEMM) equals evaluate() on the full distance matrix */
static void test_features_vs_matrix(void) {
    enum { Q = 40, G = 300, D = 16 };
    static float qf[Q * D], gf[G * D], dist[Q * G];
    static int64_t qp[Q], qc[Q], gp[G], gc[G];
    uint64_t s = 11;
    for (int i = 0; i < Q; i++) {
        qp[i] = i % 13;
        qc[i] = i % 3;
    }
    for (int j = 0; j < G; j++) {
        gp[j] = (j * 7) % 17;
        gc[j] = j % 4;
    }
    for (int i = 0; i < Q * D; i++) qf[i] = frand(&s) + (float)(qp[i / D] == (i % D));
    for (int j = 0; j < G * D; j++) gf[j] = frand(&s) + (float)(gp[j / D] == (j % D));
    vssm_reid_labels q = {qp, qc, Q}, g = {gp, gc, G};
    vssm_err err = {0};
    for (int metric = 0; metric < 2; metric++) {
        vssm_reid_eval_opts o = vssm_reid_eval_default_opts();
        o.metric = (vssm_reid_metric)metric;
        vssm_reid_result a, b;
        TEST_REQUIRE(vssm_reid_distance(qf, Q, gf, G, D, o.metric, dist, &err) == VSSM_OK, "%s", err.msg);
        TEST_REQUIRE(vssm_reid_evaluate(dist, &q, &g, 50, &a, &err) == VSSM_OK, "%s", err.msg);
        TEST_REQUIRE(vssm_reid_evaluate_features(qf, &q, gf, &g, D, &o, &b, &err) == VSSM_OK, "%s", err.msg);
        TEST_CHECK(a.rank1 == b.rank1 && a.mAP == b.mAP && a.mINP == b.mINP && a.max_rank == 50 && b.max_rank == 50,
                   "%s: features path equals the matrix path (mAP %g vs %g)", vssm_reid_metric_name(o.metric), a.mAP,
                   b.mAP);
        vssm_reid_result_free(&a);
        vssm_reid_result_free(&b);
    }
}

static void test_bad_input(void) {
    float qf[4] = {1, 2, 3, 4}, gf[6] = {1, 2, 3, 4, 5, 6};
    int64_t qp[2] = {1, 2}, qc[2] = {0, 1}, gp[3] = {1, 2, 3}, gc[3] = {1, 0, 0};
    vssm_reid_labels q = {qp, qc, 2}, g = {gp, gc, 3};
    vssm_reid_result r;
    vssm_err err = {0};
    /* (mismatched feature / id counts in a features file: test_reid_datasets) */
    gf[4] = NAN;
    TEST_CHECK(vssm_reid_evaluate_features(qf, &q, gf, &g, 2, NULL, &r, &err) == VSSM_ERR_INVALID_ARG &&
                   strstr(err.msg, "gallery features: row 2, column 0 is nan"),
               "NaN features are named: %s", err.msg);
    gf[4] = 5;
    vssm_reid_labels qe = {qp, qc, 0};
    TEST_CHECK(vssm_reid_evaluate_features(qf, &qe, gf, &g, 2, NULL, &r, &err) == VSSM_ERR_INVALID_ARG &&
                   strstr(err.msg, "query set is empty"),
               "empty query set: %s", err.msg);
    float dist[6] = {0, 1, 2, 3, INFINITY, 5};
    TEST_CHECK(vssm_reid_evaluate(dist, &q, &g, 50, &r, &err) == VSSM_ERR_INVALID_ARG &&
                   strstr(err.msg, "row 1, column 1"),
               "non-finite distance named: %s", err.msg);
    dist[4] = 4;
    TEST_CHECK(vssm_reid_evaluate(dist, &q, &g, 0, &r, &err) == VSSM_ERR_INVALID_ARG, "max_rank 0 refused");
    vssm_reid_eval_opts o = vssm_reid_eval_default_opts();
    o.rerank = 1;
    o.k1 = 0;
    TEST_CHECK(vssm_reid_evaluate_features(qf, &q, gf, &g, 2, &o, &r, &err) == VSSM_ERR_INVALID_ARG &&
                   strstr(err.msg, "k1"),
               "k1 0 refused: %s", err.msg);
    TEST_CHECK(vssm_reid_metric_from_name("cosine") == VSSM_REID_METRIC_COSINE &&
                   vssm_reid_metric_from_name("l1") == -1,
               "metric names");
}

int main(void) {
    test_worked_example();
    test_ties();
    test_skipped_and_same_camera();
    test_distances();
    test_features_vs_matrix();
    test_bad_input();
    return test_finish("test_reid_metrics");
}
