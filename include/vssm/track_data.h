/* vssm/track_data.h - tracking data (datasets layer): boxes, crops of a frame around a
 * box (datasets/crop.c), and sequences with their ground-truth and results files in the
 * OTB / LaSOT / GOT-10k layouts (datasets/sequence.c). The conventions (box coordinates,
 * crop geometry, layouts, what a bad value in a file does) are written in vssm/track.h,
 * which includes this header and adds the tracker, its crop features and the metrics.
 * Nothing here prints or exits; no global state. */
#ifndef VSSM_TRACK_DATA_H
#define VSSM_TRACK_DATA_H

#include <stdint.h>
#include "vssm/common.h"
#include "vssm/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vssm_box {
    double x, y, w, h;
} vssm_box;

/* continuous IoU of two boxes (0 when the union is empty) */
VSSM_API double vssm_box_iou(vssm_box a, vssm_box b);

/* ---------------------------------------------------------------- crops */

typedef struct vssm_crop_info {
    int x1, y1;           /* the crop's top-left image pixel (may be negative) */
    int crop_sz;          /* side of the square crop, image pixels */
    int out_sz;           /* side after the resize */
    double resize_factor; /* out_sz / crop_sz */
} vssm_crop_info;

/* The crop geometry alone (no pixels). */
VSSM_API vssm_status vssm_crop_plan(vssm_box box, double factor, int out_sz, int img_w, int img_h, vssm_crop_info *info,
                                    vssm_err *err);
/* Crops im (c == 3) around box into out (out_sz * out_sz * 3 u8, HWC). info may be NULL. */
VSSM_API vssm_status vssm_crop_sample(const vssm_image *im, vssm_box box, double factor, int out_sz, uint8_t *out,
                                      vssm_crop_info *info, vssm_err *err);
/* Continuous crop coordinates (u, v) (output pixels, pixel i covers [i, i+1)) to image
 * coordinates, and back. */
VSSM_API void vssm_crop_to_image(const vssm_crop_info *ci, double u, double v, double *x, double *y);
VSSM_API void vssm_crop_from_image(const vssm_crop_info *ci, double x, double y, double *u, double *v);
/* Centre of feature cell (fx, fy) of a stride-`stride` map of this crop, in image
 * coordinates: vssm_crop_to_image(stride * f + 0.5). fx, fy may be fractional. */
VSSM_API void vssm_crop_feat_to_image(const vssm_crop_info *ci, int stride, double fx, double fy, double *x, double *y);

/* ---------------------------------------------------------------- sequences */

typedef enum vssm_seq_format {
    VSSM_SEQ_FORMAT_OTB = 0,
    VSSM_SEQ_FORMAT_LASOT,
    VSSM_SEQ_FORMAT_GOT10K,
} vssm_seq_format;

/* "otb" | "lasot" | "got10k"; -1 otherwise */
VSSM_API int vssm_seq_format_from_name(const char *name);

typedef struct vssm_seq {
    char *name; /* folder name, e.g. "Basketball", "airplane-1", "GOT-10k_Val_000001" */
    char *dir;
    int n_frames;  /* image files found (0 when the folder holds none) */
    char **frames; /* sorted paths */
    int n_gt;
    vssm_box *gt;     /* (n_gt) as in the file */
    uint8_t *visible; /* (n_gt) or NULL: LaSOT !occl && !oov; GOT-10k !absence */
    int *cover;       /* (n_gt) GOT-10k cover.label, or NULL */
    int res_w, res_h; /* GOT-10k meta_info.ini resolution, 0 when unknown */
    char *gt_path;    /* the ground-truth file read */
    int *gt_line;     /* (n_gt) 1-based line of each GT box in gt_path */
} vssm_seq;

/* Reads one sequence folder. A missing groundtruth file is VSSM_ERR_IO; LaSOT's and
 * GOT-10k's label files are optional (absent: NULL) but must match the GT length. */
VSSM_API vssm_status vssm_seq_load(vssm_seq *s, const char *dir, vssm_seq_format fmt, vssm_err *err);
VSSM_API void vssm_seq_free(vssm_seq *s);
/* Sequence folders under root, sorted: OTB and GOT-10k root/<seq>, LaSOT root/<cls>/<seq>
 * (or root/<seq> when root is one class folder). *dirs is owned by the caller
 * (vssm_seq_list_free). */
VSSM_API vssm_status vssm_seq_list(const char *root, vssm_seq_format fmt, char ***dirs, int *n, vssm_err *err);
VSSM_API void vssm_seq_list_free(char **dirs, int n);
/* The sorted image files of dir/img, else of dir; free them with vssm_seq_list_free(*frames, *n). */
VSSM_API vssm_status vssm_seq_frames(const char *dir, char ***frames, int *n, vssm_err *err);
#define VSSM_BOXES_MAX (1 << 22) /* boxes (frames) one file may hold: LaSOT's longest has 11397 */
/* Boxes from a text file: one per line, 4 numbers separated by commas, tabs or spaces;
 * blank lines are skipped. *boxes is malloc'd. */
VSSM_API vssm_status vssm_boxes_read(const char *path, vssm_box **boxes, int *n, vssm_err *err);
/* The same, with *lines (malloc'd, n entries) the 1-based line of each box in the file,
 * so that a box the metrics refuse can be named by its line. lines may be NULL. */
VSSM_API vssm_status vssm_boxes_read_lines(const char *path, vssm_box **boxes, int **lines, int *n, vssm_err *err);
/* Writes integer boxes "x,y,w,h\n" (rounded half away from zero) through vssm/outfile.h
 * (a unique temporary name beside path, renamed onto it when complete). */
VSSM_API vssm_status vssm_boxes_write(const char *path, const vssm_box *boxes, int n, vssm_err *err);

#ifdef __cplusplus
}
#endif
#endif
