/* tests/test_api_edges.c - the public API at its edges, as a program embedding vssm calls it.
 *
 * An audit of the installed library (session 30) found getters and helpers without an error
 * channel that read or wrote outside their buffers, divided by zero or ran for hours on values
 * a caller can pass: a class index outside [0, classes) to the metrics getters (read before
 * the confusion matrix; 1 << 28 crashed), a tensor index outside the trainer's table (a heap
 * write through write_flat), an unknown re-ID format (an index into a 3-row table), NULL to
 * three free functions, n == 0 to vssm_seg_path_stem (n - 1 wrapped: a huge memcpy), stride 0
 * to vssm_seg_slide_grids (SIGFPE), an empty image to the resize-size helpers (0 * inf: an
 * undefined float-to-int conversion), a huge text scale or box thickness (loops over
 * pixels outside the image: minutes), unknown tracking protocols and sequence formats (taken
 * as another) and a negative box count to vssm_boxes_write (an empty file, OK). Each now
 * answers by its documented rule; an alarm fails the test where a call would run on. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "vssm/eval.h"
#include "vssm/image.h"
#include "vssm/outfile.h"
#include "vssm/reid.h"
#include "vssm/reid_data.h"
#include "vssm/seg_data.h"
#include "vssm/seg_eval.h"
#include "vssm/segment.h"
#include "vssm/track.h"
#include "vssm/track_data.h"
#include "vssm/train.h"
#include "vssm/video.h"
#include "vssm/vmamba.h"

static void on_alarm(int sig) {
    (void)sig;
    static const char m[] = "test_api_edges: a call ran past its 20 s alarm (an unbounded loop)\n";
    if (write(2, m, sizeof m - 1) < 0) _exit(1);
    _exit(1);
}

static void metrics(void) {
    vssm_err err = {0};
    vssm_cls_metrics m;
    TEST_REQUIRE(vssm_cls_metrics_init(&m, 3, 2, &err) == VSSM_OK, "%s", err.msg);
    const float logits[3] = {0.1f, 2.0f, -1.0f};
    TEST_REQUIRE(vssm_cls_metrics_add(&m, logits, 1, &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(vssm_cls_metrics_class_count(&m, 1) == 1 && vssm_cls_metrics_class_acc(&m, 1) == 100.0,
               "class 1: 1 sample, 100%% (the getters still answer inside the range)");
    const int bad[] = {-1, 3, 1 << 28, -(1 << 30)};
    int ok = 1;
    for (int i = 0; i < 4; i++)
        ok &= vssm_cls_metrics_class_count(&m, bad[i]) == 0 && isnan(vssm_cls_metrics_class_acc(&m, bad[i]));
    TEST_CHECK(ok, "classification getters outside [0, 3): count 0, accuracy NaN");
    vssm_cls_metrics_free(&m);
    vssm_cls_metrics_free(&m); /* twice: the first zeroed it */
    vssm_cls_metrics_free(NULL);

    vssm_seg_metrics s;
    TEST_REQUIRE(vssm_seg_metrics_init(&s, 2, 255, 0, &err) == VSSM_OK, "%s", err.msg);
    const int32_t pred[4] = {0, 1, 1, 0}, gt[4] = {0, 1, 0, 0};
    TEST_REQUIRE(vssm_seg_metrics_add(&s, pred, gt, 4, 4, "x", &err) == VSSM_OK, "%s", err.msg);
    TEST_CHECK(vssm_seg_metrics_iou(&s, 1) == 50.0, "class 1 IoU 50%% inside the range (%g)",
               vssm_seg_metrics_iou(&s, 1));
    ok = 1;
    for (int i = 0; i < 4; i++)
        ok &= isnan(vssm_seg_metrics_iou(&s, bad[i])) && isnan(vssm_seg_metrics_acc(&s, bad[i])) &&
              isnan(vssm_seg_metrics_dice(&s, bad[i]));
    TEST_CHECK(ok, "segmentation getters outside [0, 2): NaN");
    vssm_seg_metrics_free(&s);
}

static void trainer(void) {
    vssm_err err = {0};
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 1;
    vssm_ctx *ctx;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "%s", err.msg);
    vssm_vmamba_config vc;
    TEST_REQUIRE(vssm_vmamba_config_preset(&vc, "vmamba-tiny", &err) == VSSM_OK, "preset: %s", err.msg);
    const int dims[4] = {8, 12, 16, 24}, depths[4] = {1, 1, 1, 1};
    memcpy(vc.dims, dims, sizeof dims), memcpy(vc.depths, depths, sizeof depths);
    vc.num_classes = 3;
    const vssm_train_init in = {1, 5};
    vssm_trainer *t = NULL;
    TEST_REQUIRE(vssm_trainer_create_vmamba(&t, ctx, &vc, NULL, "", &in, &err) == VSSM_OK, "trainer: %s", err.msg);
    const int n = vssm_trainer_n_tensors(t);
    int64_t np;
    float *flat = vssm_trainer_params(t, &np);
    float *copy = malloc((size_t)np * sizeof(float)), host[4] = {7, 7, 7, 7};
    TEST_REQUIRE(copy && flat, "params");
    memcpy(copy, flat, (size_t)np * sizeof(float));
    const int bad[] = {-1, n, 1 << 20};
    for (int i = 0; i < 3; i++) {
        vssm_trainer_read(t, bad[i], 0, host);
        vssm_trainer_read_flat(t, flat, bad[i], host);
        vssm_trainer_write_flat(t, host, bad[i], flat);
    }
    TEST_CHECK(host[0] == 7 && host[3] == 7 && !memcmp(copy, flat, (size_t)np * sizeof(float)),
               "tensor indices -1, %d, 2^20: nothing read, nothing written", n);
    vssm_train_tensor tt = vssm_trainer_tensor(t, 0);
    float *one = malloc((size_t)tt.numel * sizeof(float));
    TEST_REQUIRE(one, "alloc");
    vssm_trainer_read(t, 0, 0, one);
    TEST_CHECK(one[0] == flat[0] || tt.numel == 0, "tensor 0 still reads (inside the range)");
    free(one);
    free(copy);
    vssm_trainer_free(t);
    vssm_ctx_free(ctx);
}

static void helpers(void) {
    vssm_err err = {0};
    vssm_reid_dataset ds;
    vssm_status st = vssm_reid_dataset_load(&ds, "/tmp", (vssm_reid_format)9, &err);
    TEST_CHECK(st == VSSM_ERR_INVALID_ARG && strstr(err.msg, "format 9"), "re-ID format 9: refused (%s)", err.msg);
    st = vssm_reid_dataset_load(&ds, "/tmp", (vssm_reid_format)-1, &err);
    TEST_CHECK(st == VSSM_ERR_INVALID_ARG, "re-ID format -1: refused (%s)", err.msg);

    vssm_adamw_free(NULL);
    vssm_outfile_abort(NULL);
    TEST_CHECK(1, "vssm_adamw_free, vssm_cls_metrics_free, vssm_outfile_abort accept NULL");

    char buf[8] = "keep";
    TEST_CHECK(vssm_seg_path_stem("a/b/c.png", 0, buf, 0) == buf && !strcmp(buf, "keep"),
               "vssm_seg_path_stem with n 0 writes nothing");
    TEST_CHECK(!strcmp(vssm_seg_path_stem("a/b/longname.png", 0, buf, 5), "long"), "n 5: 4 bytes and the terminator");

    TEST_CHECK(vssm_seg_slide_grids(100, 30, 0) == 1 && vssm_seg_slide_grids(100, 30, -5) == 1 &&
                   vssm_seg_slide_grids(100, 30, 20) == 5,
               "slide grids: stride <= 0 one window; stride 20 over 100 with crop 30: 5 (mmseg)");

    int w = -1, h = -1;
    vssm_resize_shorter_side(0, 0, 256, &w, &h);
    TEST_CHECK(w == 0 && h == 0, "resize_shorter_side(0x0): 0 x 0 (%d x %d)", w, h);
    vssm_resize_shorter_side(50, 100, 0, &w, &h);
    TEST_CHECK(w == 0 && h == 0, "resize_shorter_side(size 0): 0 x 0 (%d x %d)", w, h);
    vssm_resize_shorter_side(1, 1000000, 16384, &w, &h);
    TEST_CHECK(w == 16384 && h == 2147483647, "a 1-pixel strip: the longer side capped at INT_MAX (%d)", h);
    vssm_resize_shorter_side(500, 375, 256, &w, &h);
    TEST_CHECK(w == 341 && h == 256, "500x375 -> 341x256 as torchvision (%d x %d)", w, h);
    /* a 1 x 174000 strip resized to 32 a side: 32 x 5568000, under the pixel cap, past any
     * backbone's side: refused before the caller allocates 2 GB of floats */
    vssm_preprocess_params pp = {32, 0, VSSM_INTERP_BICUBIC, {0, 0, 0}, {1, 1, 1}};
    vssm_status pst = vssm_preprocess_output_size(&pp, 1, 174000, &w, &h, &err);
    TEST_CHECK(pst == VSSM_ERR_INVALID_ARG && strstr(err.msg, "past 32768 pixels a side"),
               "a 1x174000 image resized to 32: refused (%s)", err.msg);
    pp.resize = 256;
    TEST_CHECK(vssm_preprocess_output_size(&pp, 500, 375, &w, &h, &err) == VSSM_OK && w == 341 && h == 256,
               "500x375 resized to 256: 341x256 (%d x %d)", w, h);
    vssm_seg_rescale_size(0, 0, 2048, 512, &w, &h);
    TEST_CHECK(w == 0 && h == 0, "seg_rescale_size(0x0): 0 x 0 (%d x %d)", w, h);
    vssm_seg_rescale_size(0, 10, 2048, 512, &w, &h);
    TEST_CHECK(w == 0 && h == 0, "seg_rescale_size(0x10): 0 x 0 (%d x %d)", w, h);

    /* unknown enum values and counts: refused, not taken for another one */
    vssm_status bst;
    char bp[128];
    vssm_track_seq_metrics tm;
    const vssm_box g2[2] = {{1, 1, 4, 4}, {2, 2, 4, 4}};
    bst = vssm_track_seq_eval(g2, 2, g2, NULL, 2, (vssm_track_protocol)9, &tm, &err);
    TEST_CHECK(bst == VSSM_ERR_INVALID_ARG && strstr(err.msg, "protocol 9"), "tracking protocol 9: refused (%s)",
               err.msg);
    vssm_seq sq;
    bst = vssm_seq_load(&sq, "/tmp", (vssm_seq_format)9, &err);
    TEST_CHECK(bst == VSSM_ERR_INVALID_ARG && strstr(err.msg, "format 9"), "sequence format 9: refused (%s)", err.msg);
    char **dl = NULL;
    int ndl = 0;
    bst = vssm_seq_list("/tmp", (vssm_seq_format)-2, &dl, &ndl, &err);
    TEST_CHECK(bst == VSSM_ERR_INVALID_ARG, "sequence list format -2: refused (%s)", err.msg);
    TEST_CHECK(!strcmp(vssm_reid_metric_name((vssm_reid_metric)99), "?") &&
                   !strcmp(vssm_reid_metric_name(VSSM_REID_METRIC_COSINE), "cosine"),
               "re-ID metric 99 has no name");
    snprintf(bp, sizeof bp, "/tmp/vssm_test_boxes_%d.txt", (int)getpid());
    TEST_CHECK(vssm_boxes_write(bp, NULL, -1, &err) == VSSM_ERR_INVALID_ARG && access(bp, F_OK) != 0,
               "boxes_write of -1 boxes: refused, nothing written");
    TEST_CHECK(vssm_boxes_write(bp, NULL, 2, &err) == VSSM_ERR_INVALID_ARG,
               "boxes_write of 2 boxes from NULL: refused");

    /* a box file saved by Notepad starts with a UTF-8 BOM: read, not "expected 4 numbers" */
    snprintf(bp, sizeof bp, "/tmp/vssm_test_bom_%d.txt", (int)getpid());
    FILE *bf = fopen(bp, "wb");
    TEST_REQUIRE(bf, "create %s", bp);
    fputs("\xEF\xBB\xBF"
          "10,20,30,40\r\n11,21,31,41\r\n",
          bf);
    fclose(bf);
    vssm_box *bx = NULL;
    int nb = 0;
    bst = vssm_boxes_read(bp, &bx, &nb, &err);
    TEST_CHECK(bst == VSSM_OK && nb == 2 && bx[0].x == 10 && bx[1].h == 41, "boxes after a BOM: %s (n %d)",
               bst == VSSM_OK ? "read" : err.msg, nb);
    free(bx);
    remove(bp);

    /* vssm_image_probe: the size from the header alone, and the most a decode takes */
    static const struct {
        const char *file;
        int w, h;
        int64_t per; /* bytes a pixel while decoding (the RGB result's 3 included) */
    } probes[] = {{"astronaut_96x80_rgba16.png", 96, 80, 11}, {"camera_160x120_gray.png", 160, 120, 4},
                  {"dog_400x300_420.jpg", 400, 300, 3},       {"chelsea_150x100_cmyk.jpg", 150, 100, 7},
                  {"chelsea_120x81.bmp", 120, 81, 6},         {"coffee_100x66.gif", 100, 66, 7},
                  {"horses_110x73.tga", 110, 73, 6}};
    for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
        char ip[512];
        snprintf(ip, sizeof ip, "%s/tests/data/images/%s", VSSM_SOURCE_DIR, probes[k].file);
        size_t fn = 0;
        char *fb = test_read_file(ip, &fn);
        int pw = 0, ph = 0;
        int64_t pb = 0;
        const int ok = fb && vssm_image_probe(fb, fn < 65536 ? fn : 65536, &pw, &ph, &pb);
        TEST_CHECK(ok && pw == probes[k].w && ph == probes[k].h && pb == (int64_t)pw * ph * probes[k].per,
                   "probe %s: %dx%d, %lld bytes to decode (want %dx%d, %lld)", probes[k].file, pw, ph, (long long)pb,
                   probes[k].w, probes[k].h, (long long)probes[k].w * probes[k].h * probes[k].per);
        free(fb);
    }
    /* a PNM header with a 10-digit width: stb's parser overflowed an int (UBSan); PNM is not probed */
    TEST_CHECK(!vssm_image_probe("P6\n3222222222 2\n255\n", 21, NULL, NULL, NULL), "probe: no PNM (stb's overflow)");
    TEST_CHECK(!vssm_image_probe("not an image at all, no header", 30, NULL, NULL, NULL) &&
                   !vssm_image_probe("\x89PNG\r\n\x1a\n", 8, NULL, NULL, NULL),
               "probe: unknown content and a bare PNG signature say 0");

    /* drawing: huge scale / thickness / long text return at once and stay inside the image */
    vssm_image im = {0};
    im.w = 64, im.h = 48, im.c = 3;
    im.data = calloc((size_t)im.w * im.h * 3, 1);
    TEST_REQUIRE(im.data, "alloc");
    const uint8_t white[3] = {255, 255, 255};
    vssm_image_draw_text(&im, 2, 2, "A", white, 1);
    int lit = 0;
    for (int i = 0; i < im.w * im.h * 3; i++) lit += im.data[i] == 255;
    TEST_CHECK(lit > 0, "text at scale 1 draws (%d bytes lit)", lit / 3);
    vssm_image_draw_text(&im, -1000000, -1000000, "MMMMMMMM", white, 1000000000);
    vssm_image_draw_text(&im, 2000000000, 2000000000, "M", white, 2000000000);
    vssm_image_draw_text(&im, 0, 0, "M", white, 1 << 20);
    TEST_CHECK(1, "text at scales 2^20..2^31 and far corners returned (the alarm, and ASan in CI, watch)");
    memset(im.data, 0, (size_t)im.w * im.h * 3);
    vssm_box b = {10, 10, 20, 20};
    vssm_image_draw_box(&im, b, white, 2000000000);
    vssm_box far = {-1e300, -1e300, 1e300, 1e300};
    vssm_image_draw_box(&im, far, white, 1 << 30);
    TEST_CHECK(im.data[(10 * im.w + 10) * 3] == 255, "a thick box still draws");
    free(im.data);
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(20);
    metrics();
    trainer();
    helpers();
    return test_finish("test_api_edges");
}
