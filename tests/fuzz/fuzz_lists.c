/* fuzz_lists: the text lists a dataset or a model comes with. The first byte (mod 3) picks:
 *   0  MSMT17: list_query.txt \x1e list_gallery.txt ("rel/path.jpg pid" lines), read by
 *      vssm_reid_dataset_load (names parsed, paths kept inside the image folder);
 *   1  PASCAL VOC: ImageSets/Segmentation/val.txt (one id a line) in a folder where the ids
 *      "a" and "2007_000032" have an image and a label map, read by vssm_seg_dataset_open;
 *   2  a class-names file (--labels) for the tiny test classifier, vssm_classifier_load.
 * The rest of the input is the file(s). */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "vssm/classifier.h"
#include "vssm/reid.h"
#include "vssm/seg_eval.h"

static vssm_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    vssm_err err = {0};
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 1;
    if (vssm_ctx_new(&ctx, &o, &err) != VSSM_OK) {
        fprintf(stderr, "fuzz_lists: %s\n", err.msg);
        abort();
    }
    /* the fixed parts of the two dataset folders */
    char p[PATH_MAX];
    const char *m = fz_path(0, "msmt");
    mkdir(m, 0700);
    snprintf(p, sizeof p, "%s/test", m);
    mkdir(p, 0700);
    const char *v = fz_path(0, "voc");
    mkdir(v, 0700);
    static const char *const dirs[] = {"ImageSets", "ImageSets/Segmentation", "JPEGImages", "SegmentationClass"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", v, dirs[i]);
        mkdir(p, 0700);
    }
    static const char *const files[] = {"JPEGImages/a.jpg", "SegmentationClass/a.png", "JPEGImages/2007_000032.jpg",
                                        "SegmentationClass/2007_000032.png"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", v, files[i]);
        fz_write(p, "x", 1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % 3;
    vssm_err err = {0};
    char p[PATH_MAX];
    if (mode == 0) {
        const uint8_t *part[2] = {data + 1, data + 1};
        size_t len[2] = {0, 0};
        int k = fz_split(data + 1, size - 1, 0x1e, part, len, 2);
        const char *m = fz_path(0, "msmt");
        snprintf(p, sizeof p, "%s/list_query.txt", m);
        fz_write(p, part[0], len[0]);
        snprintf(p, sizeof p, "%s/list_gallery.txt", m);
        fz_write(p, k > 1 ? part[1] : part[0], k > 1 ? len[1] : len[0]);
        vssm_reid_dataset d;
        if (vssm_reid_dataset_load(&d, m, VSSM_REID_FORMAT_MSMT, &err) == VSSM_OK) {
            for (int64_t i = 0; i < d.query.n; i++)
                if (!d.query.path[i] || d.query.camid[i] < 0) abort();
            vssm_reid_dataset_free(&d);
        }
    } else if (mode == 1) {
        const char *v = fz_path(0, "voc");
        snprintf(p, sizeof p, "%s/ImageSets/Segmentation/val.txt", v);
        fz_write(p, data + 1, size - 1);
        vssm_seg_dataset ds;
        if (vssm_seg_dataset_open(&ds, VSSM_SEG_LAYOUT_VOC, v, NULL, NULL, &err) == VSSM_OK) {
            for (int i = 0; i < ds.n; i++)
                if (!ds.image[i] || !ds.label[i]) abort();
            vssm_seg_dataset_free(&ds);
        }
    } else {
        const char *l = fz_path(1, "labels.txt");
        fz_write(l, data + 1, size - 1);
        vssm_classifier_opts o = {.labels_path = l};
        vssm_classifier *c = NULL;
        if (vssm_classifier_load(&c, ctx, VSSM_TEST_DATA "/cli/tiny_cls.safetensors", &o, &err) == VSSM_OK) {
            for (int i = 0, n = vssm_classifier_classes(c); i < n; i++) {
                const char *s = vssm_classifier_label(c, i);
                if (s) fz_consume(s, strlen(s) + 1);
            }
            vssm_classifier_free(c);
        }
    }
    return 0;
}
