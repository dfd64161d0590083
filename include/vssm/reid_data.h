/* vssm/reid_data.h - re-identification data (datasets layer): dataset readers and the
 * features file that `vssm reid extract` writes and `vssm eval reid` reads. The embedding
 * head and the metrics are in vssm/reid.h, which includes this header.
 *
 * Datasets (datasets/reid.c). Query and gallery splits, each a list of (path, pid, camid);
 * camid is 0-based (file's camera number - 1) as torchreid stores it; items are sorted by
 * path (byte order) so every run sees the same order. pid -1 (junk) is dropped in every
 * format; pid 0 (Market's distractors) is kept.
 *   market  ROOT/query, ROOT/bounding_box_test (also ROOT/Market-1501-v15.09.15/...):
 *           basename "0002_c1s1_000451_03.jpg": pid = leading [-0-9]+ (here 2), then "_c"
 *           and ONE digit camera (1..9).
 *   veri    ROOT/image_query, ROOT/image_test: "0002_c002_00030600_0.jpg": pid digits,
 *           "_c", THREE digit camera (001..999).
 *   msmt    ROOT/list_query.txt, ROOT/list_gallery.txt (ROOT may also be the folder that
 *           holds MSMT17_V1 or MSMT17_V2): lines "rel/path.jpg pid"; the image is under
 *           ROOT/test, ROOT/mask_test_v2 or ROOT (first that exists); camid =
 *           int(path.split('_')[2]) - 1 as torchreid.
 * Only the basename is parsed (torchreid regex-searches the whole path, so a folder
 * named like "x_c1" could confuse it). Files with an image extension (.jpg .jpeg .png
 * .bmp, any case) are read; one whose name does not parse is skipped and listed in its
 * split's stray (the caller names them: a stray file does not stop the others). An MSMT17
 * list entry that does not parse is an error naming the file and line.
 *
 * Features file (datasets/reid.c): safetensors with query, gallery (float32, N x D) and
 * query_pid, query_camid, gallery_pid, gallery_camid (int64, N). The reader also takes
 * F16/BF16/F64 features and I32 ids, and names any missing tensor, wrong rank or count,
 * a size out of range (rows 0 .. 2^31-1, dimensions 1 .. 2^31-1, product checked) and
 * the first non-finite feature (NaN, inf, or an F64 value past float32's range).
 * MSMT17 list entries must stay inside the image folder (relative, no ".."); a pid below
 * -1 is refused there as in the file names.
 *
 * Nothing here prints or exits; no global state. */
#ifndef VSSM_REID_DATA_H
#define VSSM_REID_DATA_H

#include <stdint.h>
#include "vssm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- datasets */

typedef enum vssm_reid_format {
    VSSM_REID_FORMAT_MARKET = 0,
    VSSM_REID_FORMAT_VERI,
    VSSM_REID_FORMAT_MSMT,
} vssm_reid_format;
/* "market" | "veri" | "msmt" -> format; -1 otherwise. */
VSSM_API int vssm_reid_format_from_name(const char *name);
VSSM_API const char *vssm_reid_format_name(vssm_reid_format f);

typedef struct vssm_reid_split {
    char **path; /* owned */
    int64_t *pid, *camid;
    int64_t n, cap;
    int64_t n_junk; /* pid -1 items dropped */
    char **stray;   /* owned: Market / VeRi image files whose names do not follow the pattern, skipped */
    int64_t n_stray;
} vssm_reid_split;

typedef struct vssm_reid_dataset {
    vssm_reid_split query, gallery;
} vssm_reid_dataset;

VSSM_API vssm_status vssm_reid_dataset_load(vssm_reid_dataset *out, const char *root, vssm_reid_format fmt,
                                            vssm_err *err);
VSSM_API void vssm_reid_dataset_free(vssm_reid_dataset *d);
/* Parses one file name (market, veri: the basename; msmt: the list's relative path) into
 * pid and 0-based camid. VSSM_ERR_FORMAT naming the file when it does not follow the
 * pattern. pid -1 is returned as such (the loaders drop it). */
VSSM_API vssm_status vssm_reid_parse_name(vssm_reid_format fmt, const char *path, int64_t *pid, int64_t *camid,
                                          vssm_err *err);

/* ---------------------------------------------------------------- features file */

typedef struct vssm_reid_features {
    float *query, *gallery; /* (nq, dim), (ng, dim); owned */
    int64_t *q_pid, *q_camid, *g_pid, *g_camid;
    int64_t nq, ng, dim;
} vssm_reid_features;

VSSM_API vssm_status vssm_reid_features_load(vssm_reid_features *out, const char *path, vssm_err *err);
/* Writes through vssm/outfile.h (vssm_safetensors_write: a unique temp name beside path,
 * renamed onto it when complete). meta may be NULL. */
VSSM_API vssm_status vssm_reid_features_save(const char *path, const vssm_reid_features *f, const char *const *meta_kv,
                                             int n_meta, vssm_err *err);
VSSM_API void vssm_reid_features_free(vssm_reid_features *f);

#ifdef __cplusplus
}
#endif
#endif
