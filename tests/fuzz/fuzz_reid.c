/* fuzz_reid: the re-ID inputs. The first byte picks the reader:
 *   0..127    file-name parser (vssm_reid_parse_name) for Market-1501, VeRi and MSMT17 on
 *             the rest of the input as a path;
 *   128..255  the features file (vssm_reid_features_load; a safetensors file) from the rest,
 *             then the evaluation `vssm eval reid` runs on it (euclidean or cosine, and
 *             re-ranking when small). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "vssm/reid.h"

static void features(const uint8_t *data, size_t size, unsigned sel) {
    const char *path = fz_path(0, "feats.safetensors");
    fz_write(path, data, size);
    vssm_err err = {0};
    vssm_reid_features f;
    if (vssm_reid_features_load(&f, path, &err) != VSSM_OK) return;
    if (f.nq < 0 || f.ng < 0 || f.dim < 0) abort();
    if (f.nq * f.dim <= (1 << 20) && f.ng * f.dim <= (1 << 20) && f.nq <= 256 && f.ng <= 256) {
        vssm_reid_labels q = {f.q_pid, f.q_camid, f.nq}, g = {f.g_pid, f.g_camid, f.ng};
        vssm_reid_eval_opts o = vssm_reid_eval_default_opts();
        o.metric = (sel & 1) ? VSSM_REID_METRIC_COSINE : VSSM_REID_METRIC_EUCLIDEAN;
        o.rerank = (sel & 2) && f.nq + f.ng <= 64;
        o.k1 = 1 + (int)(sel >> 2) % 20;
        o.k2 = 1 + (int)(sel >> 4) % 6;
        o.max_rank = 1 + (int)(sel % 50);
        vssm_reid_result r;
        if (vssm_reid_evaluate_features(f.query, &q, f.gallery, &g, f.dim, &o, &r, &err) == VSSM_OK)
            vssm_reid_result_free(&r);
    }
    vssm_reid_features_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] < 128) {
        char *name = fz_strndup(data + 1, size - 1);
        for (int fmt = 0; fmt < 3; fmt++) {
            vssm_err err = {0};
            int64_t pid = 0, camid = 0;
            (void)vssm_reid_parse_name((vssm_reid_format)fmt, name, &pid, &camid, &err);
        }
        free(name);
    } else {
        features(data + 1, size - 1, data[0]);
    }
    return 0;
}
