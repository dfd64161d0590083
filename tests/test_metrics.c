/* tests/test_metrics.c - classification and attribute metrics equal the reference
 * toolkits' conventions (../shared/docs/METRICS.md worked examples). */
#include <math.h>
#include <string.h>
#include "testutil.h"
#include "vssm/eval.h"

static void test_topk(void) {
    vssm_cls_metrics m;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_cls_metrics_init(&m, 3, 5, &err) == VSSM_OK, "init: %s", err.msg);
    TEST_CHECK(m.kmax == 3, "k is capped at the class count (got %d)", m.kmax);
    const float l[4][3] = {{3, 1, 2}, {0, 5, 1}, {1, 2, 3}, {2, 2, 0}};
    const int t[4] = {0, 2, 0, 1};
    for (int i = 0; i < 4; i++) vssm_cls_metrics_add(&m, l[i], t[i], &err);
    /* ranks: 0, 1, 2, 1 (tie with a lower index counts above, as torch.topk) */
    TEST_CHECK(fabs(vssm_cls_metrics_topk(&m, 1) - 25.0) < 1e-12, "top1 %g != 25", vssm_cls_metrics_topk(&m, 1));
    TEST_CHECK(fabs(vssm_cls_metrics_topk(&m, 2) - 75.0) < 1e-12, "top2 %g != 75", vssm_cls_metrics_topk(&m, 2));
    TEST_CHECK(fabs(vssm_cls_metrics_topk(&m, 5) - 100.0) < 1e-12, "top5 (capped to 3) %g != 100",
               vssm_cls_metrics_topk(&m, 5));
    TEST_CHECK(m.confusion[0 * 3 + 0] == 1 && m.confusion[0 * 3 + 2] == 1 && m.confusion[2 * 3 + 1] == 1 &&
                   m.confusion[1 * 3 + 0] == 1,
               "confusion rows = target, columns = argmax (first of ties)");
    TEST_CHECK(fabs(vssm_cls_metrics_class_acc(&m, 0) - 50.0) < 1e-12, "class 0 acc");
    TEST_CHECK(vssm_cls_metrics_add(&m, l[0], 3, &err) == VSSM_ERR_INVALID_ARG,
               "a target outside the classes is refused");
    vssm_cls_metrics_free(&m);
    /* NaN (eval.h): a NaN target logit ranks below every number, a NaN elsewhere above none */
    TEST_REQUIRE(vssm_cls_metrics_init(&m, 3, 3, &err) == VSSM_OK, "init: %s", err.msg);
    const float ln[2][3] = {{NAN, -1, -2}, {NAN, 1, 2}};
    vssm_cls_metrics_add(&m, ln[0], 0, &err); /* rank 2: never correct below top-3 */
    vssm_cls_metrics_add(&m, ln[1], 2, &err); /* rank 0: the NaN does not count above 2 */
    TEST_CHECK(m.correct_at[0] == 1 && m.correct_at[1] == 1 && m.correct_at[2] == 2,
               "NaN ranks: correct at top-1/2/3 %lld %lld %lld (want 1 1 2)", (long long)m.correct_at[0],
               (long long)m.correct_at[1], (long long)m.correct_at[2]);
    TEST_CHECK(m.confusion[0 * 3 + 1] == 1 && m.confusion[0 * 3 + 0] == 0 && m.confusion[2 * 3 + 2] == 1,
               "the confusion matrix's top-1 agrees: a NaN logit is not the prediction");
    TEST_CHECK(m.n_nan == 1, "one image with a NaN target logit counted: %lld", (long long)m.n_nan);
    vssm_cls_metrics_free(&m);
    /* all NaN (a diverged model): the NaNs tie, lower index first, so class 0 is the prediction
     * and only a target of 0 is right at top-1 (before, every all-NaN row was "correct": 100%
     * top-1 beside a confusion matrix of 1/3 on its diagonal) */
    TEST_REQUIRE(vssm_cls_metrics_init(&m, 3, 3, &err) == VSSM_OK, "init: %s", err.msg);
    const float an[3] = {NAN, NAN, NAN};
    for (int t = 0; t < 3; t++) vssm_cls_metrics_add(&m, an, t, &err);
    TEST_CHECK(m.correct_at[0] == 1 && m.correct_at[1] == 2 && m.correct_at[2] == 3,
               "all-NaN ranks by index: correct at top-1/2/3 %lld %lld %lld (want 1 2 3)", (long long)m.correct_at[0],
               (long long)m.correct_at[1], (long long)m.correct_at[2]);
    TEST_CHECK(m.confusion[0] == 1 && m.confusion[3] == 1 && m.confusion[6] == 1 && m.n_nan == 3,
               "all-NaN rows predict class 0 and are counted (%lld)", (long long)m.n_nan);
    TEST_CHECK(fabs(vssm_cls_metrics_topk(&m, 1) - 100.0 / 3) < 1e-9 &&
                   fabs(vssm_cls_metrics_topk(&m, 1) - vssm_cls_metrics_class_acc(&m, 0) / 3) < 1e-9,
               "top-1 %.3f agrees with the confusion matrix", vssm_cls_metrics_topk(&m, 1));
    vssm_cls_metrics_free(&m);
    TEST_CHECK(vssm_cls_metrics_init(&m, 0, 5, &err) == VSSM_ERR_INVALID_ARG, "zero classes refused");
}

static void test_attributes(void) {
    const uint8_t gt[12] = {1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0};
    const float pr[12] = {.9f, .2f, .4f, .6f, .1f, .7f, .8f, .5f, .1f, .3f, .4f, .2f};
    vssm_attr_metrics m;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_attr_metrics_compute(pr, gt, 4, 3, &m, NULL, &err) == VSSM_OK, "%s", err.msg);
    /* METRICS.md: mA 0.6667, acc 0.375, prec 0.625, rec 0.5, F1 0.5556 (0.5 is not > 0.5) */
    TEST_CHECK(fabs(m.mA - 2.0 / 3) < 1e-4, "mA %.6f", m.mA);
    TEST_CHECK(fabs(m.acc - 0.375) < 1e-12, "acc %.6f", m.acc);
    TEST_CHECK(fabs(m.prec - 0.625) < 1e-12, "prec %.6f", m.prec);
    TEST_CHECK(fabs(m.rec - 0.5) < 1e-12, "rec %.6f", m.rec);
    TEST_CHECK(fabs(m.f1 - 0.5555555) < 1e-6, "F1 %.6f", m.f1);
}

int main(void) {
    test_topk();
    test_attributes();
    return test_finish("test_metrics");
}
