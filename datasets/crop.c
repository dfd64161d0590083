/* datasets/crop.c - OSTrack's sample_target: a square crop of sqrt(w*h)*factor around a
 * box, zero padding outside the image, bilinear resize (cv2.INTER_LINEAR geometry).
 * See vssm/track.h for the exact rules, including OSTrack's right/bottom padding quirk. */
#include <math.h>
#include <string.h>

#include "vssm/track_data.h"

double vssm_box_iou(vssm_box a, vssm_box b) {
    double x1 = fmax(a.x, b.x), y1 = fmax(a.y, b.y);
    double x2 = fmin(a.x + a.w, b.x + b.w), y2 = fmin(a.y + a.h, b.y + b.h);
    double iw = fmax(x2 - x1, 0.0), ih = fmax(y2 - y1, 0.0), inter = iw * ih;
    double uni = a.w * a.h + b.w * b.h - inter;
    return uni > 0 ? inter / uni : 0.0;
}

vssm_status vssm_crop_plan(vssm_box box, double factor, int out_sz, int img_w, int img_h, vssm_crop_info *info,
                           vssm_err *err) {
    if (!(isfinite(box.x) && isfinite(box.y) && isfinite(box.w) && isfinite(box.h)))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop: box (%g, %g, %g, %g) is not finite", box.x, box.y, box.w,
                            box.h);
    if (!(box.w > 0 && box.h > 0))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop: box (%g, %g, %g, %g) has zero or negative size", box.x,
                            box.y, box.w, box.h);
    if (!(factor > 0) || out_sz < 1 || out_sz > 8192)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop: factor %g must be > 0 and out_sz %d in 1..8192", factor,
                            out_sz);
    double side = ceil(sqrt(box.w * box.h) * factor);
    if (side < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop: too small bounding box (crop side %g < 1)", side);
    if (side > 1 << 20) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop: crop side %g is absurdly large", side);
    const int cs = (int)side;
    /* Python's round(): half to even; rint does that in the default rounding mode */
    double fx1 = rint(box.x + 0.5 * box.w - cs * 0.5), fy1 = rint(box.y + 0.5 * box.h - cs * 0.5);
    if (fabs(fx1) > 1e9 || fabs(fy1) > 1e9)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop: box position (%g, %g) is out of range", box.x, box.y);
    info->x1 = (int)fx1;
    info->y1 = (int)fy1;
    info->crop_sz = cs;
    info->out_sz = out_sz;
    info->resize_factor = (double)out_sz / cs;
    (void)img_w;
    (void)img_h;
    return VSSM_OK;
}

/* Last usable image index (exclusive) along one axis, OSTrack's padding included:
 * pad_hi = max(x2 - n + 1, 0) drops the image's last column when the crop reaches it. */
static int usable_end(int x1, int cs, int n) {
    int x2 = x1 + cs;
    return x2 >= n ? n - 1 : x2;
}

/* Source taps of cv2.INTER_LINEAR for one axis: s0, s1 indices and weight of s1. */
static void linear_taps(int d, int out_sz, int cs, int *s0, int *s1, float *f) {
    double scale = (double)cs / out_sz;
    double sx = (d + 0.5) * scale - 0.5;
    int i = (int)floor(sx);
    double fr = sx - i;
    if (i < 0) {
        i = 0;
        fr = 0;
    }
    if (i >= cs - 1) {
        i = cs - 1;
        fr = 0;
    }
    *s0 = i;
    *s1 = i + 1 < cs ? i + 1 : cs - 1;
    *f = (float)fr;
}

vssm_status vssm_crop_sample(const vssm_image *im, vssm_box box, double factor, int out_sz, uint8_t *out,
                             vssm_crop_info *info, vssm_err *err) {
    if (!im || !im->data || im->c != 3 || im->w < 1 || im->h < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop: need a non-empty RGB image");
    vssm_crop_info ci;
    vssm_status st = vssm_crop_plan(box, factor, out_sz, im->w, im->h, &ci, err);
    if (st != VSSM_OK) return st;
    if (info) *info = ci;
    const int cs = ci.crop_sz, W = im->w, H = im->h;
    const int xend = usable_end(ci.x1, cs, W), yend = usable_end(ci.y1, cs, H);
    /* crop pixel (cx, cy) is image pixel (x1 + cx, y1 + cy) when 0 <= that < end, else 0 */
    for (int dy = 0; dy < out_sz; dy++) {
        int ry0, ry1;
        float fy;
        linear_taps(dy, out_sz, cs, &ry0, &ry1, &fy);
        int iy0 = ci.y1 + ry0, iy1 = ci.y1 + ry1;
        int vy0 = iy0 >= 0 && iy0 < yend, vy1 = iy1 >= 0 && iy1 < yend;
        const uint8_t *row0 = vy0 ? im->data + (size_t)iy0 * W * 3 : NULL;
        const uint8_t *row1 = vy1 ? im->data + (size_t)iy1 * W * 3 : NULL;
        uint8_t *o = out + (size_t)dy * out_sz * 3;
        for (int dx = 0; dx < out_sz; dx++) {
            int rx0, rx1;
            float fx;
            linear_taps(dx, out_sz, cs, &rx0, &rx1, &fx);
            int ix0 = ci.x1 + rx0, ix1 = ci.x1 + rx1;
            int vx0 = ix0 >= 0 && ix0 < xend, vx1 = ix1 >= 0 && ix1 < xend;
            for (int c = 0; c < 3; c++) {
                float p00 = vy0 && vx0 ? row0[ix0 * 3 + c] : 0.f, p01 = vy0 && vx1 ? row0[ix1 * 3 + c] : 0.f;
                float p10 = vy1 && vx0 ? row1[ix0 * 3 + c] : 0.f, p11 = vy1 && vx1 ? row1[ix1 * 3 + c] : 0.f;
                float top = p00 + (p01 - p00) * fx, bot = p10 + (p11 - p10) * fx;
                float v = top + (bot - top) * fy;
                int q = (int)floorf(v + 0.5f);
                o[dx * 3 + c] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    }
    return VSSM_OK;
}

void vssm_crop_to_image(const vssm_crop_info *ci, double u, double v, double *x, double *y) {
    double s = (double)ci->crop_sz / ci->out_sz;
    *x = ci->x1 + u * s;
    *y = ci->y1 + v * s;
}

void vssm_crop_from_image(const vssm_crop_info *ci, double x, double y, double *u, double *v) {
    double s = (double)ci->out_sz / ci->crop_sz;
    *u = (x - ci->x1) * s;
    *v = (y - ci->y1) * s;
}

void vssm_crop_feat_to_image(const vssm_crop_info *ci, int stride, double fx, double fy, double *x, double *y) {
    vssm_crop_to_image(ci, stride * fx + 0.5, stride * fy + 0.5, x, y);
}
