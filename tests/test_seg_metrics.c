/* tests/test_seg_metrics.c - mmseg 1.x IoUMetric conventions (METRICS.md worked example:
 * dataset-level sums, not per-image means), reduce_zero_label, ignore index, NaN classes,
 * named errors for bad labels; label PNG write/read round trip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "vssm/seg_eval.h"

static void test_worked_example(void) {
    vssm_err err = {0};
    vssm_seg_metrics m;
    TEST_REQUIRE(vssm_seg_metrics_init(&m, 3, 255, 0, &err) == VSSM_OK, "init: %s", err.msg);
    int32_t ga[] = {0, 0, 1, 1, 2, 255}, pa[] = {0, 1, 1, 1, 1, 0};
    int32_t gb[] = {0, 0, 0, 255}, pb[] = {0, 0, 2, 2};
    TEST_CHECK(vssm_seg_metrics_add(&m, pa, ga, 6, 6, "A", &err) == VSSM_OK, "add A: %s", err.msg);
    TEST_CHECK(vssm_seg_metrics_add(&m, pb, gb, 4, 4, "B", &err) == VSSM_OK, "add B: %s", err.msg);
    vssm_seg_summary s;
    vssm_seg_metrics_summary(&m, &s);
    TEST_CHECK(fabs(s.aAcc - 62.5) < 1e-9, "aAcc 62.5, got %.4f", s.aAcc);
    TEST_CHECK(fabs(s.mIoU - 36.6667) < 1e-3,
               "mIoU 36.67 (dataset-level sums; per-image averaging gives 33.33), got %.4f", s.mIoU);
    TEST_CHECK(fabs(s.mAcc - 53.3333) < 1e-3, "mAcc 53.33, got %.4f", s.mAcc);
    /* sums over both images: class0 I=3 P=3 L=5, class1 I=2 P=4 L=2, class2 I=0 P=1 L=1
     * Dice 2I/(P+L): 6/8, 4/6, 0 */
    TEST_CHECK(fabs(s.mDice - 100.0 * (0.75 + 4.0 / 6) / 3) < 1e-9, "mDice %.4f", s.mDice);
    TEST_CHECK(fabs(vssm_seg_metrics_iou(&m, 0) - 60.0) < 1e-9 && fabs(vssm_seg_metrics_iou(&m, 1) - 50.0) < 1e-9 &&
                   vssm_seg_metrics_iou(&m, 2) == 0.0,
               "per-class IoU 60, 50, 0");
    vssm_seg_metrics_free(&m);
}

static void test_nan_classes(void) {
    vssm_err err = {0};
    vssm_seg_metrics m;
    vssm_seg_metrics_init(&m, 4, 255, 0, &err);
    /* class 3 never appears (NaN IoU and Acc, left out); class 2 only predicted (IoU 0, Acc NaN) */
    int32_t g[] = {0, 0, 1, 1}, p[] = {0, 0, 1, 2};
    vssm_seg_metrics_add(&m, p, g, 4, 2, "x", &err);
    TEST_CHECK(isnan(vssm_seg_metrics_iou(&m, 3)) && isnan(vssm_seg_metrics_acc(&m, 3)), "absent class is NaN");
    TEST_CHECK(vssm_seg_metrics_iou(&m, 2) == 0.0 && isnan(vssm_seg_metrics_acc(&m, 2)),
               "predicted-only class: IoU 0, Acc NaN");
    vssm_seg_summary s;
    vssm_seg_metrics_summary(&m, &s);
    TEST_CHECK(fabs(s.mIoU - (100 + 50 + 0) / 3.0) < 1e-9, "mIoU over 3 non-NaN classes: %.4f", s.mIoU);
    TEST_CHECK(fabs(s.mAcc - (100 + 50) / 2.0) < 1e-9, "mAcc over 2 non-NaN classes: %.4f", s.mAcc);
    vssm_seg_metrics_free(&m);
}

static void test_reduce_zero_label_and_ignore(void) {
    vssm_err err = {0};
    vssm_seg_metrics m;
    vssm_seg_metrics_init(&m, 3, 255, 1, &err);
    /* raw gt 0 -> ignored, 1..3 -> 0..2, 255 -> stays ignored */
    int32_t g[] = {0, 1, 2, 3, 255, 0}, p[] = {2, 0, 1, 1, 0, 1};
    TEST_CHECK(vssm_seg_metrics_add(&m, p, g, 6, 6, "ade", &err) == VSSM_OK, "add: %s", err.msg);
    TEST_CHECK(m.area_label[0] == 1 && m.area_label[1] == 1 && m.area_label[2] == 1,
               "3 labelled pixels after reduction");
    TEST_CHECK(m.area_inter[0] == 1 && m.area_inter[1] == 1 && m.area_inter[2] == 0, "intersections");
    TEST_CHECK(m.area_pred[1] == 2 && m.area_pred[0] == 1 && m.area_pred[2] == 0,
               "ignored pixels' predictions not counted");
    /* 256 classes worth of raw value 256 would map to 255: not used. A raw 4 -> 3 >= classes: error */
    int32_t g2[] = {4}, p2[] = {0};
    TEST_CHECK(vssm_seg_metrics_add(&m, p2, g2, 1, 1, "ade2", &err) == VSSM_ERR_FORMAT && strstr(err.msg, "ade2") &&
                   strstr(err.msg, "label 4"),
               "label >= classes after reduction is a named error: %s", err.msg);
    vssm_seg_metrics_free(&m);
}

static void test_bad_values(void) {
    vssm_err err = {0};
    vssm_seg_metrics m;
    vssm_seg_metrics_init(&m, 3, 255, 0, &err);
    int32_t g[] = {0, 1, 7, 255}, p[] = {0, 1, 1, 9};
    TEST_CHECK(vssm_seg_metrics_add(&m, p, g, 4, 2, "bad.png", &err) == VSSM_ERR_FORMAT && strstr(err.msg, "bad.png") &&
                   strstr(err.msg, "label 7") && strstr(err.msg, "(x 0, y 1)"),
               "gt value >= classes named with its position: %s", err.msg);
    int32_t g2[] = {0, 1}, p2[] = {0, 3};
    TEST_CHECK(vssm_seg_metrics_add(&m, p2, g2, 2, 2, "p.png", &err) == VSSM_ERR_FORMAT &&
                   strstr(err.msg, "predicted class 3"),
               "prediction outside the classes: %s", err.msg);
    TEST_CHECK(m.images == 0 && m.area_label[0] == 0, "a rejected image counts nothing");
    vssm_seg_metrics_free(&m);
}

static void test_label_png_roundtrip(void) {
    vssm_err err = {0};
    uint8_t pal[768], lab[5 * 3];
    vssm_seg_palette_voc(pal);
    TEST_CHECK(pal[3] == 128 && pal[4] == 0 && pal[5] == 0 && pal[6] == 0 && pal[7] == 128,
               "VOC palette: 1 = (128,0,0), 2 = (0,128,0)");
    for (int i = 0; i < 15; i++) lab[i] = (uint8_t)(i * 17 % 256);
    char path[256];
    snprintf(path, sizeof path, "/tmp/vssm_seg_label_%d.png", (int)getpid());
    TEST_REQUIRE(vssm_label_png_write(path, lab, 5, 3, pal, &err) == VSSM_OK, "write: %s", err.msg);
    vssm_label_map m;
    TEST_REQUIRE(vssm_label_map_load(&m, path, &err) == VSSM_OK, "read: %s", err.msg);
    int ok = m.w == 5 && m.h == 3;
    for (int i = 0; ok && i < 15; i++) ok = m.data[i] == lab[i];
    TEST_CHECK(ok, "palette indices come back unchanged");
    vssm_label_map_free(&m);
    remove(path);
    TEST_CHECK(vssm_label_map_load(&m, "/nonexistent/x.png", &err) == VSSM_ERR_IO &&
                   strstr(err.msg, "/nonexistent/x.png"),
               "missing label file named: %s", err.msg);
    char *rgb = test_data_path("images/dog_128x96.png");
    TEST_CHECK(vssm_label_map_load(&m, rgb, &err) == VSSM_ERR_FORMAT && strstr(err.msg, "palette or gray"),
               "an RGB PNG is refused as a label map: %s", err.msg);
    free(rgb);
}

int main(void) {
    test_worked_example();
    test_nan_classes();
    test_reduce_zero_label_and_ignore();
    test_bad_values();
    test_label_png_roundtrip();
    return test_finish("test_seg_metrics");
}
