/* tests/test_track_metrics.c - pytracking (extract_results.py calc_seq_err_robust) and
 * got10k-toolkit metrics: the METRICS.md worked example, invalid ground truth (the
 * denominator and pytracking's normalised-error quirk), LaSOT visibility, zero-size and
 * short predictions, bad results, got10k AO / SR with cover and the image bound. */
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "vssm/track.h"

static double seq_auc(const vssm_track_seq_metrics *m) {
    double a = 0;
    for (int t = 0; t < VSSM_TRACK_N_OVERLAP; t++) a += m->success[t];
    return 100.0 * a / VSSM_TRACK_N_OVERLAP;
}

static const vssm_box GT4[4] = {{10, 10, 20, 20}, {10, 10, 20, 20}, {10, 10, 20, 20}, {10, 10, 20, 20}};
/* frame 0 is replaced by the GT whatever it says */
static const vssm_box PRED4[4] = {{0, 0, 5, 5}, {13, 10, 20, 20}, {10, 10, 12, 12}, {40, 40, 20, 20}};

static void test_worked_example(void) {
    vssm_err err = {0};
    vssm_track_seq_metrics m;
    TEST_REQUIRE(vssm_track_seq_eval(PRED4, 4, GT4, NULL, 4, VSSM_TRACK_PROTOCOL_OTB, &m, &err) == VSSM_OK, "%s",
                 err.msg);
    TEST_CHECK(fabs(vssm_box_iou(PRED4[1], GT4[1]) - 0.7391304347826086) < 1e-12, "IoU .73913");
    TEST_CHECK(fabs(vssm_box_iou(PRED4[2], GT4[2]) - 0.36) < 1e-12, "IoU .36");
    TEST_CHECK(fabs(m.avg_overlap - (1 + 0.7391304347826086 + 0.36 + 0) / 4) < 1e-12, "mean IoU %.6f", m.avg_overlap);
    vssm_track_summary s;
    vssm_track_summarize(&m, 1, &s);
    TEST_CHECK(fabs(s.auc - 100.0 * 10.75 / 21) < 1e-9 && fabs(s.auc - 51.19) < 0.005, "AUC %.4f, expected 51.19",
               s.auc);
    TEST_CHECK(fabs(s.precision - 75.0) < 1e-9, "precision@20px %.4f, expected 75", s.precision);
    TEST_CHECK(fabs(s.norm_precision - 50.0) < 1e-9, "normalised precision@0.2 %.4f, expected 50", s.norm_precision);
    TEST_CHECK(fabs(s.op50 - 50.0) < 1e-9 && fabs(s.op75 - 25.0) < 1e-9, "OP50 %.2f (50), OP75 %.2f (25)", s.op50,
               s.op75);
    TEST_CHECK(s.success[0] == 75.0 && s.success[7] == 75.0 && s.success[8] == 50.0 && s.success[20] == 0.0,
               "success curve: t=0 and 0.35 -> 75, 0.4 -> 50, 1.0 -> 0 (IoU 1 is not > 1)");
    TEST_CHECK(vssm_track_overlap_threshold(3) == 0.15000000000000002 &&
                   vssm_track_overlap_threshold(15) == 0.7500000000000001 &&
                   vssm_track_overlap_threshold(13) == 0.6500000000000001,
               "thresholds are torch.arange(0, 1.05, 0.05)'s float64 values");
    /* per-sequence curves are averaged over sequences */
    vssm_track_seq_metrics two[2] = {m, m};
    vssm_box perfect[4];
    memcpy(perfect, GT4, sizeof perfect);
    TEST_REQUIRE(vssm_track_seq_eval(perfect, 4, GT4, NULL, 4, VSSM_TRACK_PROTOCOL_OTB, &two[1], &err) == VSSM_OK, "%s",
                 err.msg);
    vssm_track_summarize(two, 2, &s);
    TEST_CHECK(fabs(s.auc - (51.19047619047619 + 100.0 * 20 / 21) / 2) < 1e-9, "mean of per-sequence AUCs: %.4f",
               s.auc);
    TEST_CHECK(fabs(s.precision - 87.5) < 1e-9, "mean precision 87.5: %.4f", s.precision);
}

static void test_invalid_gt(void) {
    vssm_err err = {0};
    vssm_box gt[4];
    memcpy(gt, GT4, sizeof gt);
    gt[3].w = 0; /* invalid: w <= 0 */
    vssm_track_seq_metrics m;
    TEST_REQUIRE(vssm_track_seq_eval(PRED4, 4, gt, NULL, 4, VSSM_TRACK_PROTOCOL_OTB, &m, &err) == VSSM_OK, "%s",
                 err.msg);
    TEST_CHECK(m.n_valid == 3 && m.n_frames == 4, "3 valid of 4 frames (%d)", m.n_valid);
    /* OTB (pytracking, not lasot/uav): the denominator is the number of valid frames */
    TEST_CHECK(fabs(seq_auc(&m) - 100.0 * (8 + 7 * 2.0 / 3 + 5 * 1.0 / 3) / 21) < 1e-9, "AUC over 3 valid frames: %.4f",
               seq_auc(&m));
    TEST_CHECK(fabs(m.precision[20] - 1.0) < 1e-12, "precision 3/3 (the invalid frame's error is +inf)");
    /* pytracking sets the normalised error of invalid frames to -1, which is <= every threshold */
    TEST_CHECK(fabs(m.norm_precision[20] - 1.0) < 1e-12 && fabs(m.norm_precision[0] - 2.0 / 3) < 1e-12,
               "normalised precision 3/3 at 0.20 (quirk), 2/3 at 0 (%.4f, %.4f)", m.norm_precision[20],
               m.norm_precision[0]);
    TEST_CHECK(m.success[0] == 1.0, "the invalid frame's IoU -1 is not > 0; 3/3");
    TEST_CHECK(fabs(m.avg_overlap - (1 + 0.7391304347826086 + 0.36) / 3) < 1e-12,
               "mean IoU over the 3 valid frames: %.6f", m.avg_overlap);

    /* LaSOT: the denominator is the length; an invisible frame gets +inf errors */
    TEST_REQUIRE(vssm_track_seq_eval(PRED4, 4, gt, NULL, 4, VSSM_TRACK_PROTOCOL_LASOT, &m, &err) == VSSM_OK, "%s",
                 err.msg);
    TEST_CHECK(fabs(m.success[0] - 0.75) < 1e-12 && fabs(m.norm_precision[20] - 0.75) < 1e-12,
               "lasot, visible zero-size GT: success(0) 3/4, norm precision 3/4 (-1 counts)");
    uint8_t vis[4] = {1, 1, 0, 1};
    TEST_REQUIRE(vssm_track_seq_eval(PRED4, 4, GT4, vis, 4, VSSM_TRACK_PROTOCOL_LASOT, &m, &err) == VSSM_OK, "%s",
                 err.msg);
    TEST_CHECK(m.n_valid == 3 && fabs(m.success[0] - 0.5) < 1e-12,
               "lasot: invisible frame 2 fails: success(0) 2/4 (%.3f)", m.success[0]);
    TEST_CHECK(fabs(m.precision[20] - 0.5) < 1e-12 && fabs(m.norm_precision[20] - 0.5) < 1e-12,
               "lasot: precision 2/4, norm precision 2/4 (%.3f %.3f)", m.precision[20], m.norm_precision[20]);
    /* a sequence without one valid frame is an error, not a division by zero */
    vssm_box bad[2] = {{1, 1, 0, 5}, {1, 1, 5, 0}};
    TEST_CHECK(vssm_track_seq_eval(bad, 2, bad, NULL, 2, VSSM_TRACK_PROTOCOL_OTB, &m, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "no valid"),
               "no valid frame: named error (%s)", err.msg);
}

static void test_predictions(void) {
    vssm_err err = {0};
    vssm_track_seq_metrics m;
    /* a zero-size prediction takes the previous frame's box */
    vssm_box p[4];
    memcpy(p, PRED4, sizeof p);
    p[2] = (vssm_box){0, 0, 0, 0};
    TEST_REQUIRE(vssm_track_seq_eval(p, 4, GT4, NULL, 4, VSSM_TRACK_PROTOCOL_OTB, &m, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(fabs(m.avg_overlap - (1 + 2 * 0.7391304347826086) / 4) < 1e-12,
               "zero-size box repeats the previous (%.5f)", m.avg_overlap);
    /* short results: zero boxes pad (OTB); LaSOT refuses */
    TEST_REQUIRE(vssm_track_seq_eval(PRED4, 2, GT4, NULL, 4, VSSM_TRACK_PROTOCOL_OTB, &m, &err) == VSSM_OK, "%s",
                 err.msg);
    TEST_CHECK(fabs(m.success[0] - 0.5) < 1e-12, "padded frames fail (%.3f)", m.success[0]);
    TEST_CHECK(vssm_track_seq_eval(PRED4, 2, GT4, NULL, 4, VSSM_TRACK_PROTOCOL_LASOT, &m, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "lengths"),
               "lasot short result: %s", err.msg);
    /* long results are truncated */
    vssm_box longp[6] = {PRED4[0], PRED4[1], PRED4[2], PRED4[3], {0, 0, 1, 1}, {0, 0, 1, 1}};
    TEST_CHECK(vssm_track_seq_eval(longp, 6, GT4, NULL, 4, VSSM_TRACK_PROTOCOL_LASOT, &m, &err) == VSSM_OK &&
                   fabs(seq_auc(&m) - 100.0 * 10.75 / 21) < 1e-9,
               "long result truncated");
    /* negative sizes and NaN are refused with the line named */
    memcpy(p, PRED4, sizeof p);
    p[3].h = -1;
    TEST_CHECK(vssm_track_seq_eval(p, 4, GT4, NULL, 4, VSSM_TRACK_PROTOCOL_OTB, &m, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "box 4"),
               "negative height: %s", err.msg);
    p[3].h = NAN;
    TEST_CHECK(vssm_track_seq_eval(p, 4, GT4, NULL, 4, VSSM_TRACK_PROTOCOL_OTB, &m, &err) == VSSM_ERR_FORMAT,
               "NaN refused");
    TEST_CHECK(vssm_track_results_check(p, 4, GT4, NULL, 4, VSSM_SEQ_FORMAT_OTB, &err) == 3, "check finds box index 3");
    /* -inf + inf: pytracking's overlap is NaN -> refused; other infinities score IoU 0 */
    memcpy(p, PRED4, sizeof p);
    p[2] = (vssm_box){-INFINITY, 10, INFINITY, 12};
    TEST_CHECK(vssm_track_seq_eval(p, 4, GT4, NULL, 4, VSSM_TRACK_PROTOCOL_OTB, &m, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "box 3"),
               "-inf + inf refused: %s", err.msg);
    p[2] = (vssm_box){-INFINITY, 10, 12, 12};
    TEST_CHECK(vssm_track_seq_eval(p, 4, GT4, NULL, 4, VSSM_TRACK_PROTOCOL_OTB, &m, &err) == VSSM_OK &&
                   fabs(m.avg_overlap - (1 + 0.7391304347826086) / 4) < 1e-12,
               "-inf x: IoU 0 (%g)", m.avg_overlap);
    vssm_box gti[4] = {GT4[0], GT4[1], {10, 10, INFINITY, 20}, GT4[3]};
    TEST_CHECK(vssm_track_seq_eval(PRED4, 4, gti, NULL, 4, VSSM_TRACK_PROTOCOL_OTB, &m, &err) == VSSM_ERR_FORMAT &&
                   vssm_track_gt_check(gti, 4, &err) == 2,
               "inf GT refused");
}

/* the thresholds' edges: pytracking counts err <= threshold (center 0..50 px, normalised
 * 0..0.5 in steps of 1/100), overlap > threshold; got10k SR counts IoU > 0.5 / 0.75 */
static void test_edges(void) {
    vssm_err err = {0};
    vssm_track_seq_metrics m;
    /* frame 1: centre 20 px off (12, 16); frame 2: normalised error 0.199 (3.98 px of a 20 px GT) */
    const vssm_box pr[3] = {GT4[0], {22, 26, 20, 20}, {13.98, 10, 20, 20}};
    TEST_REQUIRE(vssm_track_seq_eval(pr, 3, GT4, NULL, 3, VSSM_TRACK_PROTOCOL_OTB, &m, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(m.precision[20] == 1.0 && fabs(m.precision[19] - 2.0 / 3) < 1e-12,
               "an error of exactly 20 px counts at 20, not at 19 (%.4f %.4f)", m.precision[20], m.precision[19]);
    TEST_CHECK(fabs(m.norm_precision[20] - 2.0 / 3) < 1e-12 && fabs(m.norm_precision[19] - 1.0 / 3) < 1e-12,
               "normalised 0.199 counts at 0.20, not at 0.19 (%.4f %.4f)", m.norm_precision[20], m.norm_precision[19]);
    vssm_got10k_metrics g;
    const double at[3] = {0.75, 0.5, 0.7500000000000001};
    vssm_got10k_eval(at, 3, &g);
    TEST_CHECK(fabs(g.sr50 - 2.0 / 3) < 1e-12 && fabs(g.sr75 - 1.0 / 3) < 1e-12,
               "SR counts IoU > threshold: 0.5 and 0.75 themselves do not (SR50 %.4f SR75 %.4f)", g.sr50, g.sr75);
}

static void test_got10k(void) {
    vssm_err err = {0};
    int cover[4] = {8, 1, 0, 3};
    double ious[4];
    int n;
    TEST_REQUIRE(vssm_got10k_seq_ious(PRED4, 4, GT4, cover, 4, 0, 0, ious, &n, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(n == 2, "frame 0 dropped, cover 0 dropped: 2 IoUs (%d)", n);
    TEST_CHECK(fabs(ious[0] - 340.0 / (460.0 + 2.220446049250313e-16)) < 1e-15 && ious[1] == 0.0, "IoUs %.6f %.6f",
               ious[0], ious[1]);
    vssm_got10k_metrics g;
    vssm_got10k_eval(ious, n, &g);
    TEST_CHECK(fabs(g.ao - 0.7391304347826086 / 2) < 1e-12 && g.sr50 == 0.5 && g.sr75 == 0.0,
               "AO %.5f SR50 %.2f SR75 %.2f", g.ao, g.sr50, g.sr75);
    TEST_CHECK(g.success[0] == 0.5 && g.success[73] == 0.5 && g.success[74] == 0.0, "success curve at 0, 0.73, 0.74");
    /* boxes are clipped to the image (rect_iou bound = meta_info resolution) */
    vssm_box gt[2] = {{0, 0, 10, 10}, {100, 80, 20, 20}}, pr[2] = {{0, 0, 10, 10}, {100, 80, 40, 40}};
    TEST_REQUIRE(vssm_got10k_seq_ious(pr, 2, gt, NULL, 2, 120, 100, ious, &n, &err) == VSSM_OK && n == 1, "bounded");
    TEST_CHECK(fabs(ious[0] - 1.0) < 1e-12, "a box past the border is clipped first: IoU 1 (%.4f)", ious[0]);
    TEST_REQUIRE(vssm_got10k_seq_ious(pr, 2, gt, NULL, 2, 0, 0, ious, &n, &err) == VSSM_OK, "unbounded");
    TEST_CHECK(fabs(ious[0] - 0.25) < 1e-12, "unbounded IoU 0.25 (%.4f)", ious[0]);
    TEST_CHECK(vssm_got10k_seq_ious(pr, 1, gt, NULL, 2, 0, 0, ious, &n, &err) == VSSM_ERR_FORMAT,
               "length mismatch refused: %s", err.msg);
    /* a 1-frame sequence has nothing to score after frame 0: 0 IoUs, no error */
    TEST_CHECK(vssm_got10k_seq_ious(gt, 1, gt, NULL, 1, 0, 0, ious, &n, &err) == VSSM_OK && n == 0,
               "1 frame: 0 IoUs (%d)", n);
    /* NaN in results: refused (the toolkit's AO would be NaN); inf / negative: clipped, or IoU 0 unbounded */
    vssm_box pn[2] = {{0, 0, 10, 10}, {NAN, 80, 20, 20}};
    TEST_CHECK(vssm_got10k_seq_ious(pn, 2, gt, NULL, 2, 120, 100, ious, &n, &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "box 2"),
               "NaN refused: %s", err.msg);
    TEST_CHECK(vssm_track_results_check(pn, 2, gt, NULL, 2, VSSM_SEQ_FORMAT_GOT10K, &err) == 1,
               "check finds box index 1");
    vssm_box pi[2] = {{0, 0, 10, 10}, {100, 80, INFINITY, 20}};
    TEST_CHECK(vssm_got10k_seq_ious(pi, 2, gt, NULL, 2, 120, 100, ious, &n, &err) == VSSM_OK &&
                   fabs(ious[0] - 1.0) < 1e-12,
               "inf w clipped to the image: IoU 1 (%g)", ious[0]);
    TEST_CHECK(vssm_got10k_seq_ious(pi, 2, gt, NULL, 2, 0, 0, ious, &n, &err) == VSSM_OK && ious[0] == 0.0,
               "unbounded inf: IoU 0");
    pi[1].w = -20;
    TEST_CHECK(vssm_got10k_seq_ious(pi, 2, gt, NULL, 2, 0, 0, ious, &n, &err) == VSSM_OK && ious[0] == 0.0,
               "unbounded negative: IoU 0");
    /* pooled over sequences, not averaged per sequence */
    double pool[5] = {1, 1, 1, 0, 0.6};
    vssm_got10k_eval(pool, 5, &g);
    TEST_CHECK(fabs(g.ao - 0.72) < 1e-12 && fabs(g.sr50 - 0.8) < 1e-12 && fabs(g.sr75 - 0.6) < 1e-12, "pooled AO/SR");
}

int main(void) {
    test_worked_example();
    test_invalid_gt();
    test_predictions();
    test_got10k();
    test_edges();
    return test_finish("test_track_metrics");
}
