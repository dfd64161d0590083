/* vssm/track.h - single-object tracking: OSTrack-style crops, backbone features of crops,
 * a training-free Siamese tracker, tracking-dataset readers, pytracking / got10k metrics
 * and their plots.
 *
 * Boxes are (x, y, w, h) doubles: x, y the top-left corner, in the pixel frame where pixel
 * i covers [i, i + 1). Dataset boxes are read exactly as the files hold them (OTB and
 * LaSOT files are 1-based; pytracking evaluates them unconverted, and so do we: a tracker
 * initialised from the file's first box reports boxes in the file's frame).
 *
 * ---- crops (datasets/crop.c): OSTrack lib/train/data/processing_utils.py sample_target
 *   crop_sz = ceil(sqrt(w * h) * factor)            (< 1: VSSM_ERR_INVALID_ARG)
 *   x1 = round(x + w/2 - crop_sz/2), y1 likewise    (Python round: half to even)
 *   the crop covers image columns x1 .. x1 + crop_sz - 1; pixels outside the image are 0.
 *   OSTrack's padding quirk is kept: when the crop reaches the right (bottom) edge
 *   (x1 + crop_sz >= W), its pad is x1 + crop_sz - W + 1, so the image's last column
 *   (row) is zero in the crop too.
 *   The crop_sz x crop_sz square is resized to out_sz x out_sz with cv2.INTER_LINEAR's
 *   geometry (half-pixel centres, src = (d + 0.5) * crop_sz / out_sz - 0.5, edge clamp, no
 *   antialias) in float, rounded half up to u8. (cv2's 11-bit fixed-point weights are not
 *   reproduced: values may differ from cv2 by 1 level.) resize_factor = out_sz / crop_sz.
 *
 *     vssm_crop_info ci;
 *     vssm_crop_sample(&frame, box, 4.0, 256, crop_rgb /(256*256*3) u8/, &ci, &err);
 *     double ix, iy; vssm_crop_to_image(&ci, u, v, &ix, &iy);   // crop -> image
 *
 * ---- crop features (heads/track.c): backbone stage features of many crops at once
 *     vssm_crop_feats *cf; vssm_crop_feats_new_backbone(&cf, bb, &pp, 1, &err);  // stage 1
 *     vssm_crop_feats_run(cf, &frame, boxes, factors, n, 256, feats, infos, &err);
 *     // feats: (n, Hs, Ws, Cs) host f32 NHWC, see vssm_crop_feats_shape
 *   The backbone is a VMamba or a Vision Mamba (vssm/backbone.h; vssm_crop_feats_new takes a
 *   VMamba directly). Crops are normalised with pp's mean/std. One backbone state is kept
 *   per (batch, crop size) and reused; nothing is allocated in steady state. Feature cell
 *   (fy, fx) of a stage is centred at continuous crop coordinate stride*f + offset
 *   (vssm_backbone_stage_offset): VMamba's stride-s stage at s*f + 0.5 (crop pixel s*f, the
 *   centre of the 3x3 stride-2 pad-1 conv chain's receptive field), a Vim's stride-S token
 *   grid at S*f + P/2 (the centre of patch f). vssm_crop_feats_cell_center maps a cell back
 *   to image coordinates for either; vssm_crop_feat_to_image is VMamba's rule.
 *   A Vim has one stage (its final token grid, stride 16 for the released models): stage 0,
 *   and a crop must be at least one patch (16 px) wide.
 *
 * ---- tracker (heads/track.c): init(frame, box) / update(frame) -> box, score
 *   Template: features of the 2x crop around the first box (template_factor); the kernel
 *   is its cells whose centres lie inside the box (the context would otherwise win the
 *   match and pin the box to the background). Each update
 *   crops n_scales search regions (search_factor x scale^k, k centred on 0) around the
 *   previous box in one batched forward, correlates the template with each (depthwise
 *   cross-correlation summed over channels, of features with each channel's spatial mean
 *   removed, cosine-normalised per window: score in [-1, 1]), rescales the maps to [0, 1]
 *   (min-max over all scales) and blends them with a Hann window 0.5*(1 - cos(2*pi*k /
 *   (n + 1))), k = 1..n (weight window_influence), multiplies non-unit scales' peaks by
 *   scale_penalty, refines the
 *   best peak to sub-cell precision (parabola), moves the centre there, and updates the
 *   size by scale_lr towards the winning scale (SiamFC's pyramid). No training, no
 *   weights beyond the backbone. The returned score is the raw cosine at the peak.
 *
 *   On a Vim the template (128 px -> 8 x 8 tokens) and the search regions (256 px -> 16 x 16)
 *   are matched on the stride-16 token grid; stage must be 0.
 *
 *     vssm_tracker_config tc = vssm_tracker_config_default();
 *     vssm_tracker *t; vssm_tracker_new_backbone(&t, bb, &pp, &tc, &err);  // or vssm_tracker_new(&t, vmamba, ...)
 *     vssm_tracker_init(t, &frame0, box0, &err);
 *     for each later frame: vssm_tracker_update(t, &frame, &box, &score, &err);
 *     vssm_tracker_free(t);   // the backbone stays the caller's
 *
 * ---- sequences (datasets/sequence.c)
 *   OTB     <seq>/groundtruth_rect.txt (comma, tab or space separated), <seq>/img/NNNN.jpg
 *   LaSOT   <cls>/<cls>-<n>/groundtruth.txt + full_occlusion.txt + out_of_view.txt
 *           (comma-separated 0/1 on one line), img/%08d.jpg; visible = !occl && !oov
 *   GOT-10k <split>/<seq>/groundtruth.txt, absence.label, cover.label (one per line),
 *           meta_info.ini (resolution: (w, h)), frames %08d.jpg in the sequence folder
 *   Frames are the image files of <seq>/img (or <seq> itself), in natural order. A malformed line
 *   is VSSM_ERR_FORMAT naming the file and line. "NaN" and "inf" fields are read as such
 *   (the metrics decide what they mean, below). A box file holds at most
 *   VSSM_BOXES_MAX boxes and a label file as many labels; a text file is at most 1 GiB;
 *   meta_info.ini's resolution must be "resolution: (W, H)", two integers 1 .. 1048576
 *   (else VSSM_ERR_FORMAT naming the file; a file or line that is absent: no bound).
 *   GOT-10k labels must be in range (else VSSM_ERR_FORMAT naming file and label): cover.label
 *   0 .. 8 (the visible fraction in eighths), absence.label 0 or 1.
 *   Frames are ordered by their number (natural order: 1.jpg, 2.jpg, .., 10.jpg, as 0001.jpg
 *   ..); numbered frames must run without a gap or a repeat (VSSM_ERR_FORMAT naming it).
 *
 * ---- metrics (eval/track_metrics.c), pytracking analysis/extract_results.py exactly:
 *   prediction frame 0 := GT; predictions with w or h == 0 take the previous frame's box;
 *   a short result is padded with zero boxes (LaSOT: refused), a long one truncated.
 *   IoU = continuous overlap / union; centre = xy + (wh - 1)/2; normalised error divides
 *   both centres by the GT (w, h).
 *   Values pytracking refuses are VSSM_ERR_FORMAT naming the box (vssm_track_results_check
 *   finds it first): NaN anywhere in the results or a negative w/h ('Invalid results'),
 *   and a box whose overlap with a valid GT frame is NaN (x = -inf with w = +inf:
 *   'Nans in calculated overlap'). Other infinite values are scored as pytracking scores
 *   them: IoU 0, centre error +inf. The ground truth must be finite.
 *   valid frame = GT w > 0 and h > 0 (and visible, LaSOT). Invalid frames: IoU -1, centre
 *   error +inf, normalised error -1 (so pytracking counts them as normalised-precision
 *   hits except in LaSOT, where invisible frames get +inf; with OTB's denominator of valid
 *   frames the normalised precision can then read over 100: pytracking's figure, kept for
 *   parity; `vssm eval track` says so where a sequence has invalid frames).
 *   Denominator: LaSOT the sequence length; OTB and GOT-10k-as-pytracking the number of
 *   valid frames (pytracking: `seq_length = valid_frame.sum()` for datasets other than
 *   lasot/uav). success(t) = #(IoU > t)/n, t = torch.arange(0, 1.05, 0.05) float64 values;
 *   precision curve #(err <= t)/n for t = 0..50 px, normalised for t = 0..0.50; per-
 *   sequence curves averaged over sequences. AUC = mean of the 21 success points;
 *   precision = curve at 20 px; norm_precision at 0.20; OP50/OP75 = success at 0.5/0.75.
 *   All in percent.
 *   got10k toolkit (experiments/got10k.py): frame 0 dropped, boxes clipped to the image
 *   (rect_iou bound), IoU = inter / (union + DBL_EPSILON) clipped to [0, 1], only frames
 *   with cover > 0; IoUs of all sequences pooled: AO = mean, SR0.5 / SR0.75 = fraction
 *   with IoU > 0.5 / 0.75, success curve on 101 thresholds linspace(0, 1, 101).
 *   The results must have exactly one box per GT frame (the toolkit asserts it). A NaN
 *   in a results box is VSSM_ERR_FORMAT (the toolkit's AO would be NaN). Infinite and
 *   negative values are clipped to the image as the toolkit clips them; without a
 *   resolution (no meta_info.ini) a box with a negative side or an infinite value
 *   overlaps nothing (IoU 0). A 1-frame sequence has no frame to score (0 IoUs).
 *
 * Nothing here prints or exits; no global state.
 */
#ifndef VSSM_TRACK_H
#define VSSM_TRACK_H

#include <stdint.h>

#include "vssm/backbone.h"
#include "vssm/common.h"
#include "vssm/image.h"
#include "vssm/track_data.h"
#include "vssm/vmamba.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- crop features */

typedef struct vssm_crop_feats vssm_crop_feats;

/* bb stays the caller's (free it after cf). pp: only mean/std are used. stage: 0 ..
 * vssm_backbone_stages(bb) - 1 (a Vim: 0). */
VSSM_API vssm_status vssm_crop_feats_new_backbone(vssm_crop_feats **out, vssm_backbone *bb,
                                                  const vssm_preprocess_params *pp, int stage, vssm_err *err);
/* The same on a VMamba (stage 0..3); m stays the caller's (free it after cf). */
VSSM_API vssm_status vssm_crop_feats_new(vssm_crop_feats **out, vssm_vmamba *m, const vssm_preprocess_params *pp,
                                         int stage, vssm_err *err);
VSSM_API void vssm_crop_feats_free(vssm_crop_feats *cf);
/* Feature map size (hs, ws, channels) for out_sz crops, and the stage's stride. */
VSSM_API void vssm_crop_feats_shape(const vssm_crop_feats *cf, int out_sz, int *hs, int *ws, int *c, int *stride);
/* Image coordinates of the centre of feature cell (fx, fy) (fractional allowed) of the crop
 * described by ci, by the backbone's geometry (stride * f + offset). */
VSSM_API void vssm_crop_feats_cell_center(const vssm_crop_feats *cf, const vssm_crop_info *ci, double fx, double fy,
                                          double *x, double *y);
/* n crops of one frame: box i with factor i (factors may be NULL: 4.0 for all), each
 * resized to out_sz. feats: host (n, hs, ws, c); infos: n entries (may be NULL). */
VSSM_API vssm_status vssm_crop_feats_run(vssm_crop_feats *cf, const vssm_image *im, const vssm_box *boxes,
                                         const double *factors, int n, int out_sz, float *feats, vssm_crop_info *infos,
                                         vssm_err *err);

/* ---------------------------------------------------------------- tracker */

typedef struct vssm_tracker_config {
    int stage;               /* backbone stage whose features are matched (0: VMamba's stride 4, a Vim's token grid) */
    double template_factor;  /* template crop = factor * sqrt(w*h) (2.0, OSTrack) */
    double search_factor;    /* search crop (4.0, OSTrack) */
    int template_size;       /* template crop resized to this (128, OSTrack) */
    int search_size;         /* search crop resized to this (256, OSTrack) */
    int n_scales;            /* scale pyramid (3; 1 = no scale search) */
    double scale_step;       /* ratio between pyramid levels (1.0375, SiamFC) */
    double scale_penalty;    /* peak multiplier for non-unit scales (0.9745, SiamFC) */
    double scale_lr;         /* size smoothing towards the winning scale (0.59, SiamFC) */
    double window_influence; /* Hann blend: (1 - wi) * score + wi * window (0.3) */
    double pos_lr;           /* centre smoothing: 1 = jump to the peak (1.0) */
    double min_scale, max_scale; /* size kept within [min, max] x the initial size (0.2, 5) */
} vssm_tracker_config;

VSSM_API vssm_tracker_config vssm_tracker_config_default(void);
VSSM_API vssm_status vssm_tracker_config_validate(const vssm_tracker_config *c, vssm_err *err);

typedef struct vssm_tracker vssm_tracker;

/* backbone stays the caller's; pp gives mean/std (vssm_backbone_load_file fills one). */
VSSM_API vssm_status vssm_tracker_new_backbone(vssm_tracker **out, vssm_backbone *backbone,
                                               const vssm_preprocess_params *pp, const vssm_tracker_config *cfg,
                                               vssm_err *err);
/* The same on a VMamba (vssm_vmamba_load_file fills pp). */
VSSM_API vssm_status vssm_tracker_new(vssm_tracker **out, vssm_vmamba *backbone, const vssm_preprocess_params *pp,
                                      const vssm_tracker_config *cfg, vssm_err *err);
VSSM_API void vssm_tracker_free(vssm_tracker *t);
/* box must have w > 0, h > 0 and overlap the frame: VSSM_ERR_INVALID_ARG otherwise. */
VSSM_API vssm_status vssm_tracker_init(vssm_tracker *t, const vssm_image *frame, vssm_box box, vssm_err *err);
/* box: the new estimate; score (may be NULL): cosine similarity at the peak, [-1, 1]. */
VSSM_API vssm_status vssm_tracker_update(vssm_tracker *t, const vssm_image *frame, vssm_box *box, float *score,
                                         vssm_err *err);
/* The scale search alone at a centre given from elsewhere (a trained head's; the hybrid tracker
 * below): the n_scales search crops around (cx, cy) at the tracker's current size, the peak sought
 * only at the response positions within radius (>= 0) cells of the one that puts the object's
 * centre at (cx, cy); the size updated by scale_lr towards the winning scale, as update does.
 * box: the peak's centre (pos_lr of the way from (cx, cy)) and the new size; scale (may be NULL):
 * the winning scale; score as update's. */
VSSM_API vssm_status vssm_tracker_scale_at(vssm_tracker *t, const vssm_image *frame, double cx, double cy, int radius,
                                           vssm_box *box, float *score, double *scale, vssm_err *err);

/* ---------------------------------------------------------------- trained head (heads/track_head.c)
 *
 * OSTrack's tracker with a trained CenterPredictor head on either backbone; the reference
 * (and the exact rules) is tests/reference/ostrack_ref.py:
 *   init: the template crop (template_factor, template_size) of the first box;
 *   update: the search crop (search_factor, search_size) around the previous box ->
 *     VMamba ("mod"): stage s of both crops, F = [X, X * zbar] (zbar: the template map's
 *       mean over its central cells [n/4, n - n/4)); VMamba ("modcorr"): F = [X, X * zbar,
 *       corr], corr_k(p) = (1 / C) sum_c X_c(p) Z_c(k) for every cell k of the template map Z
 *       (row-major; the pixel-wise correlation: the head sees the template's layout, not only
 *       its mean; at most VSSM_TRACK_MAX_CORR_CELLS cells; corr_pool p > 1: Z's p x p cells averaged
 *       first, for a fine stage's many template cells); Vim ("onestream"): template and search
 *       tokens through the same blocks (vssm_vim_forward_onestream), F = the search tokens
 *     -> three conv3x3-BN-ReLU x 4 towers + 1x1 convs: score = clamp(sigmoid, 1e-4, 1 - 1e-4)
 *       (fs x fs), size (2: w, h as fractions of the search crop, the same activation),
 *       offset (2: x, y within a cell, raw)
 *     -> OSTrack's decoding: argmax of hann2d(fs) * score (first maximum, row-major), box
 *       centre ((ix, iy) + offset) / fs * search_size in crop pixels, size * search_size;
 *       mapped to the frame through the crop's actual origin (vssm_crop_to_image; OSTrack's
 *       map_box_back uses the nominal one, up to half a crop pixel away); the size smoothed
 *       towards the previous box's (ours, not OSTrack's: w = size_lr w + (1 - size_lr) w_prev,
 *       h the same, the centre kept; size_lr 1 = OSTrack's decoding), then the aspect prior
 *       (ours: the aspect r = w / h pulled towards the first box's r0 in log space, the area
 *       kept: r' = exp(aspect_lr log r + (1 - aspect_lr) log r0), w = sqrt(w h r'),
 *       h = sqrt(w h / r'); aspect_lr 1: none, 0: the first box's aspect, as a fixed-aspect
 *       scale search), then OSTrack's clip_box(margin 10).
 * The file: the backbone's tensors as usual, the head's under "track_head." (conv1_ctr.conv.
 * weight, conv1_ctr.bn.{weight,bias,running_mean,running_var}, ..., conv5_ctr.weight/bias; the
 * same for offset and size), and __metadata__ track_head "ostrack", track_fusion "mod" |
 * "modcorr" | "onestream", track_stage, track_channel, track_template_size, track_search_size,
 * track_template_factor, track_search_factor, and optionally track_size_lr (in (0, 1], 1 when
 * absent), track_aspect_lr (in [0, 1], 1 when absent) and track_corr_pool ("modcorr": 1 to 16,
 * dividing the template map's sides; 1 when absent).
 * Everything is planned at load for (model, search size): init and update allocate nothing. */

typedef struct vssm_track_head vssm_track_head;

/* The hybrid decoding (ours; off unless the file or vssm_track_head_set_scale turns it on): the
 * head finds the object; the correlation tracker's scale search (vssm_tracker_scale_at: its own
 * template, the first frame's template_factor 2 crop of `size` px, the backbone's `stage`) is run
 * at the head's centre: n_scales crops of factor x step^k around it (k centred on 0; a backbone
 * forward each, batched), each `size` px, the peak sought only within `radius` cells of the
 * head's centre, the size moved by lr towards the winning scale (its aspect the first box's).
 * Then the aspect pulled towards the head's box's (aspect_lr: 0 keeps the first box's, 1 takes
 * the head's; the area kept), the centre moved pos_lr of the way from the head's to the peak's
 * (1: the peak's, a refinement within radius cells; 0: the head's), OSTrack's clip_box; the
 * result is the box and the next search crop's centre and size. The head's own size state (its
 * smoothing, its aspect prior) is kept apart and only lends its aspect. Metadata keys:
 * track_scale_search "1" | "0" (absent: off), track_scale_stage, track_scale_factor,
 * track_scale_size, track_scale_n, track_scale_step, track_scale_lr, track_scale_radius,
 * track_scale_pos_lr, track_scale_aspect_lr (absent: vssm_track_scale_config_default's). The
 * PyTorch reference has the head's decoding; the scale step's and the final blend's float64
 * references are tests/reference/gen_track_scale_vectors.py and gen_track_blend_vectors.py
 * (test_track_scale); weights/track_demo/README.md has the figures. */
typedef struct vssm_track_scale_config {
    int on;           /* 0: the head's size (the default) */
    int stage;        /* backbone stage matched (0) */
    double factor;    /* scale crops: factor * sqrt(w h) of the current box, >= 2 (2.0) */
    int size;         /* crops (and the template) resized to this, 16..512 (128) */
    int n_scales;     /* odd, 1..9 (3) */
    double step;      /* ratio between scales, >= 1 (1.0375) */
    double lr;        /* size update towards the winning scale, [0, 1] (0.59) */
    int radius;       /* response positions searched around the head's centre, cells, 0..16 (2) */
    double pos_lr;    /* centre: 0 the head's, 1 the scale search's peak (within radius), [0, 1] (1) */
    double aspect_lr; /* aspect: 0 the first box's, 1 the head's, [0, 1] (0) */
} vssm_track_scale_config;

VSSM_API vssm_track_scale_config vssm_track_scale_config_default(void);
VSSM_API vssm_status vssm_track_scale_config_validate(const vssm_track_scale_config *c, vssm_err *err);

#define VSSM_TRACK_MAX_CORR_CELLS 1024 /* "modcorr": template map cells (32 x 32) */

typedef struct vssm_track_head_info {
    int fusion_onestream; /* 0: VMamba "mod" or "modcorr", 1: Vim one-stream */
    int stage, channel, in_ch;
    int template_size, search_size, feat_sz;
    double template_factor, search_factor;
    double size_lr;   /* the size smoothing of the decoding, (0, 1]; 1: none */
    int corr_cells;   /* "modcorr": the (pooled) template map's cells (the correlation channels); else 0 */
    double aspect_lr; /* the aspect prior of the decoding, [0, 1]; 1: none */
    int corr_pool;    /* "modcorr": the template map averaged over corr_pool^2 cells for the correlation; else 1 */
    vssm_track_scale_config scale; /* the hybrid decoding (the file's, or vssm_track_head_set_scale's) */
} vssm_track_head_info;

/* 1 when the weights file (src's metadata) holds a trained tracker head. */
VSSM_API int vssm_track_head_present(const vssm_source *src);
/* The head of src (see above) on backbone bb (the caller's, loaded from the same file: free it
 * after the head); pp: mean/std of the crops. A file without one: VSSM_ERR_FORMAT. */
VSSM_API vssm_status vssm_track_head_new(vssm_track_head **out, vssm_backbone *bb, const vssm_preprocess_params *pp,
                                         const vssm_source *src, vssm_err *err);
VSSM_API void vssm_track_head_free(vssm_track_head *h);
VSSM_API vssm_track_head_info vssm_track_head_get_info(const vssm_track_head *h);
/* Replaces the file's hybrid decoding (VMamba heads only; c->on 0: off); call before init. */
VSSM_API vssm_status vssm_track_head_set_scale(vssm_track_head *h, const vssm_track_scale_config *c, vssm_err *err);
/* box: w, h > 0, overlapping the frame (else VSSM_ERR_INVALID_ARG). */
VSSM_API vssm_status vssm_track_head_init(vssm_track_head *h, const vssm_image *frame, vssm_box box, vssm_err *err);
/* box: the new estimate; score (may be NULL): the score map at the chosen cell, (0, 1). */
VSSM_API vssm_status vssm_track_head_update(vssm_track_head *h, const vssm_image *frame, vssm_box *box, float *score,
                                            vssm_err *err);
/* The maps of the last update, valid until the next: score (fs*fs), size and offset (2, fs, fs);
 * *cell gets the chosen cell (row-major). Any pointer may be NULL. */
VSSM_API void vssm_track_head_maps(const vssm_track_head *h, const float **score, const float **size,
                                   const float **offset, int *cell);
/* The decoding alone: maps of one search crop (as above) and its geometry -> the box in a
 * frame_w x frame_h frame (clipped), the raw score at the chosen cell, the cell. prev: the
 * previous box, its size smoothed in with weight 1 - size_lr (prev NULL or size_lr 1: none);
 * then the aspect pulled towards aspect0 (the first box's w / h, > 0) with weight 1 - aspect_lr
 * (aspect_lr 1: none); box may be prev. */
VSSM_API void vssm_track_head_decode(const float *score, const float *size, const float *offset, int fs,
                                     int search_size, const vssm_crop_info *ci, int frame_w, int frame_h,
                                     const vssm_box *prev, double size_lr, double aspect0, double aspect_lr,
                                     vssm_box *box, float *peak, int *cell);
/* The hybrid decoding's last step (vssm_track_scale_config): from the head's box and the scale
 * search's box, the aspect pulled towards the head's (aspect_lr; the scale box's area kept), the
 * centre moved pos_lr of the way from the head's to the scale box's, then OSTrack's clip_box
 * (margin 10 px) in a frame_w x frame_h frame. Checked against a float64 reference
 * (tests/reference/gen_track_blend_vectors.py, test_track_scale). */
VSSM_API vssm_box vssm_track_hybrid_box(const vssm_box *head, const vssm_box *scale, double pos_lr, double aspect_lr,
                                        int frame_w, int frame_h);

/* ---------------------------------------------------------------- metrics */

#define VSSM_TRACK_N_OVERLAP 21 /* 0, 0.05, ..., 1.0 */
#define VSSM_TRACK_N_CENTER 51  /* 0..50 px; 0..0.50 normalised */
#define VSSM_GOT10K_N_IOU 101

typedef enum vssm_track_protocol {
    VSSM_TRACK_PROTOCOL_OTB = 0, /* pytracking, denominator = valid frames */
    VSSM_TRACK_PROTOCOL_LASOT,   /* pytracking lasot: visibility, denominator = length */
} vssm_track_protocol;

typedef struct vssm_track_seq_metrics {
    double success[VSSM_TRACK_N_OVERLAP]; /* fractions 0..1 */
    double precision[VSSM_TRACK_N_CENTER];
    double norm_precision[VSSM_TRACK_N_CENTER];
    double avg_overlap; /* mean IoU over valid frames */
    int n_frames, n_valid;
} vssm_track_seq_metrics;

/* The first box of a results file (pred, n_pred) that the format's toolkit refuses
 * (the rules above: OTB / LaSOT pytracking's, GOT-10k the got10k toolkit's; a length
 * mismatch is not checked here), as a 0-based index with VSSM_ERR_FORMAT in err saying
 * why; -1 when every box can be scored. gt, visible (may be NULL) as for the metrics. */
VSSM_API int vssm_track_results_check(const vssm_box *pred, int n_pred, const vssm_box *gt, const uint8_t *visible,
                                      int n_gt, vssm_seq_format fmt, vssm_err *err);
/* The first GT box that is not finite (0-based), with VSSM_ERR_FORMAT in err; -1 when none. */
VSSM_API int vssm_track_gt_check(const vssm_box *gt, int n_gt, vssm_err *err);

/* pred (n_pred) against gt (n_gt); visible (n_gt) or NULL (all visible). pred is not
 * modified. */
VSSM_API vssm_status vssm_track_seq_eval(const vssm_box *pred, int n_pred, const vssm_box *gt, const uint8_t *visible,
                                         int n_gt, vssm_track_protocol proto, vssm_track_seq_metrics *out,
                                         vssm_err *err);

typedef struct vssm_track_summary {
    double auc, precision, norm_precision, op50, op75; /* percent */
    double success[VSSM_TRACK_N_OVERLAP];              /* percent, averaged over sequences */
    double precision_curve[VSSM_TRACK_N_CENTER];
    double norm_precision_curve[VSSM_TRACK_N_CENTER];
    int n_seq;
} vssm_track_summary;

VSSM_API void vssm_track_summarize(const vssm_track_seq_metrics *m, int n, vssm_track_summary *out);
/* success threshold i: torch.arange(0.0, 1.05, 0.05, float64)[i] bit for bit */
VSSM_API double vssm_track_overlap_threshold(int i);

/* got10k: IoUs of frames 1.. with cover > 0 (cover NULL: all), boxes bounded by (res_w,
 * res_h) when both > 0. ious must hold n_gt entries; *n_out gets the count written. */
VSSM_API vssm_status vssm_got10k_seq_ious(const vssm_box *pred, int n_pred, const vssm_box *gt, const int *cover,
                                          int n_gt, int res_w, int res_h, double *ious, int *n_out, vssm_err *err);
typedef struct vssm_got10k_metrics {
    double ao, sr50, sr75;             /* fractions 0..1 */
    double success[VSSM_GOT10K_N_IOU]; /* fraction with IoU > linspace(0, 1, 101)[i] */
    int64_t n;
} vssm_got10k_metrics;
VSSM_API void vssm_got10k_eval(const double *ious, int64_t n, vssm_got10k_metrics *out);

/* ---------------------------------------------------------------- plots, drawing */

typedef struct vssm_track_curve {
    const char *label; /* legend, e.g. "vssm [AUC 61.2]" */
    const double *y;   /* percent */
    int n;
} vssm_track_curve;

/* pytracking's success plot (x: overlap threshold 0..1) and, when prec is non-NULL, its
 * precision plot (x: 0..50 px) side by side, with title, axis labels, grid and a legend of
 * the curves' labels; PNG, SVG or PDF by path's extension (vssm/plot.h: an unknown one is
 * VSSM_ERR_INVALID_ARG), written through vssm/outfile.h. */
VSSM_API vssm_status vssm_track_plot(const char *path, const vssm_track_curve *success, int n_success,
                                     const vssm_track_curve *prec, int n_prec, const char *title, vssm_err *err);
/* Draws the outline of box (thickness px, clipped to the image) into an RGB image. */
VSSM_API void vssm_image_draw_box(vssm_image *im, vssm_box b, const uint8_t rgb[3], int thickness);

#ifdef __cplusplus
}
#endif
#endif
