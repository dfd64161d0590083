/* fuzz_seg: segmentation label maps (vssm_label_map_load: palette or 8-bit gray PNG, as
 * mmseg reads them; anything else refused) from a file holding the input, then the
 * metrics `vssm eval seg` computes on it (prediction = the map, and the map against a
 * shifted copy), with and without reduce_zero_label. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "vssm/seg_eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_path(0, "label.png");
    fz_write(path, data, size);
    vssm_err err = {0};
    vssm_label_map lm = {0};
    if (vssm_label_map_load(&lm, path, &err) != VSSM_OK) return 0;
    if (lm.w <= 0 || lm.h <= 0 || !lm.data) abort();
    int64_t n = (int64_t)lm.w * lm.h;
    int32_t *pred = (int32_t *)malloc((size_t)n * sizeof(int32_t));
    if (!pred) abort();
    for (int64_t i = 0; i < n; i++) pred[i] = (lm.data[i] + (int32_t)(i & 1)) % 151;
    for (int rz = 0; rz < 2; rz++) {
        vssm_seg_metrics m;
        if (vssm_seg_metrics_init(&m, 151, 255, rz, &err) != VSSM_OK) abort();
        (void)vssm_seg_metrics_add(&m, pred, lm.data, n, lm.w, "fuzz", &err);
        (void)vssm_seg_metrics_add(&m, lm.data, lm.data, n, lm.w, "fuzz", &err);
        vssm_seg_summary s;
        vssm_seg_metrics_summary(&m, &s);
        for (int c = 0; c < 151; c++) {
            (void)vssm_seg_metrics_iou(&m, c);
            (void)vssm_seg_metrics_acc(&m, c);
            (void)vssm_seg_metrics_dice(&m, c);
        }
        vssm_seg_metrics_free(&m);
    }
    free(pred);
    vssm_label_map_free(&lm);
    return 0;
}
