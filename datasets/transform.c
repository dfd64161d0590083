/* datasets/transform.c - Resize, CenterCrop, ToTensor and Normalize, equal to
 * torchvision 0.14 on PIL images (see include/vssm/image.h).
 *
 * The resampler is Pillow's libImaging/Resample.c re-expressed for HWC buffers of 1-4
 * channels: per output pixel a window of source pixels, weights from the filter evaluated
 * at (x - center + 0.5) / filterscale (the filter is stretched when downscaling, which is
 * PIL's antialiasing), normalised to sum 1 in double, then rounded to 22-bit fixed point
 * away from zero. Accumulation starts at 1 << 21 (rounding), the sum is shifted right by
 * 22 and clipped to 0..255. The horizontal pass runs first, only over the source rows the
 * vertical pass will read, and its output is clipped to uint8 before the vertical pass.
 */
#include "vssm/image.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

/* ------------------------------------------------------------------ filters (PIL's) */

static double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

typedef struct filter {
    double (*fn)(double);
    double support;
} filter;

static const filter FILTER_BICUBIC = {bicubic_filter, 2.0};
static const filter FILTER_BILINEAR = {bilinear_filter, 1.0};

/* Weights of one pass (in_size -> out_size over the box [in0, in1)), for the outputs
 * [o0, o0 + count) only: for output o0 + i the source range [bounds[2i], bounds[2i] +
 * bounds[2i+1]) with fixed-point weights k[i * ksize ...]. Each output's weights depend on
 * its own index alone, so a window of the outputs gets exactly the weights the whole
 * resize would. Returns ksize, 0 when out of memory (or the table's size overflows). */
static int precompute_coeffs(int in_size, double in0, double in1, int out_size, int o0, int count, const filter *f,
                             int **boundsp, int32_t **kkp) {
    double scale = (in1 - in0) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = f->support * filterscale;
    double kmax = ceil(support) * 2 + 1;
    if (kmax > (double)(INT_MAX / 2)) return 0;
    int ksize = (int)kmax;
    size_t nk;
    if (count <= 0 || __builtin_mul_overflow((size_t)count, (size_t)ksize, &nk) || nk > SIZE_MAX / sizeof(int32_t) ||
        (size_t)count > SIZE_MAX / (2 * sizeof(int)))
        return 0;
    double *kd = (double *)malloc((size_t)ksize * sizeof(double));
    int32_t *kk = (int32_t *)calloc(nk, sizeof(int32_t));
    int *bounds = (int *)malloc((size_t)count * 2 * sizeof(int));
    if (!kd || !kk || !bounds) {
        free(kd), free(kk), free(bounds);
        return 0;
    }
    for (int i = 0; i < count; i++) {
        int xx = o0 + i;
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5); /* PIL's rounding, truncation toward 0 */
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = f->fn((x + xmin - center + 0.5) * ss);
            kd[x] = w;
            ww += w;
        }
        for (int x = 0; x < xmax; x++) {
            double k = ww != 0.0 ? kd[x] / ww : kd[x];
            kk[(size_t)i * ksize + x] = k < 0 ? (int32_t)(-0.5 + k * (1 << PRECISION_BITS))
                                              : (int32_t)(0.5 + k * (1 << PRECISION_BITS));
        }
        bounds[i * 2 + 0] = xmin;
        bounds[i * 2 + 1] = xmax;
    }
    free(kd);
    *boundsp = bounds;
    *kkp = kk;
    return ksize;
}

static inline uint8_t clip8(int32_t ss) {
    int32_t v = ss >> PRECISION_BITS; /* arithmetic shift, as PIL's lookup index */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* out (out_w x rows x c) = horizontal resample of src rows [row0, row0 + rows). */
static void resample_horizontal(const uint8_t *src, int src_w, int c, int row0, int rows, uint8_t *out, int out_w,
                                int ksize, const int *bounds, const int32_t *kk) {
    for (int yy = 0; yy < rows; yy++) {
        const uint8_t *in = src + (size_t)(yy + row0) * src_w * c;
        uint8_t *o = out + (size_t)yy * out_w * c;
        for (int xx = 0; xx < out_w; xx++) {
            int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
            const int32_t *k = kk + (size_t)xx * ksize;
            for (int ch = 0; ch < c; ch++) {
                int32_t ss = 1 << (PRECISION_BITS - 1);
                const uint8_t *p = in + (size_t)xmin * c + ch;
                for (int x = 0; x < xmax; x++) ss += (int32_t)p[(size_t)x * c] * k[x];
                o[(size_t)xx * c + ch] = clip8(ss);
            }
        }
    }
}

/* out (len bytes x out_h, packed) = vertical resample of src, whose rows are sstride bytes
 * apart; bounds index src's rows. */
static void resample_vertical(const uint8_t *src, size_t sstride, size_t len, uint8_t *out, int out_h, int ksize,
                              const int *bounds, const int32_t *kk) {
    for (int yy = 0; yy < out_h; yy++) {
        int ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1];
        const int32_t *k = kk + (size_t)yy * ksize;
        uint8_t *o = out + (size_t)yy * len;
        for (size_t i = 0; i < len; i++) {
            int32_t ss = 1 << (PRECISION_BITS - 1);
            const uint8_t *p = src + (size_t)ymin * sstride + i;
            for (int y = 0; y < ymax; y++) ss += (int32_t)p[(size_t)y * sstride] * k[y];
            o[i] = clip8(ss);
        }
    }
}

/* dst (ww x wh) = the window [x0, x0 + ww) x [y0, y0 + wh) of src resized to out_w x out_h,
 * byte for byte, computing only that window: memory is bounded by the window and the
 * source rows it reads, never by out_w x out_h. */
static vssm_status resize_window(const vssm_image *src, int out_w, int out_h, vssm_interp interp, int x0, int y0,
                                 int ww, int wh, vssm_image *dst, vssm_err *err) {
    const filter *f;
    switch (interp) {
    case VSSM_INTERP_BICUBIC: f = &FILTER_BICUBIC; break;
    case VSSM_INTERP_BILINEAR: f = &FILTER_BILINEAR; break;
    default: return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_image_resize: unknown interpolation %d", (int)interp);
    }
    const int c = src->c;
    vssm_status st = vssm_image_alloc(dst, ww, wh, c, err);
    if (st != VSSM_OK) return st;
    const size_t sstride = (size_t)src->w * c;
    int need_h = out_w != src->w, need_v = out_h != src->h;
    if (!need_h && !need_v) {
        for (int y = 0; y < wh; y++)
            memcpy(dst->data + (size_t)y * ww * c, src->data + (size_t)(y + y0) * sstride + (size_t)x0 * c,
                   (size_t)ww * c);
        return VSSM_OK;
    }

    int *bounds_v = NULL, *bounds_h = NULL;
    int32_t *kk_v = NULL, *kk_h = NULL;
    uint8_t *tmp = NULL;
    int ksize_v = 0, ksize_h = 0;
    if (need_v && !(ksize_v = precompute_coeffs(src->h, 0.0, src->h, out_h, y0, wh, f, &bounds_v, &kk_v))) goto oom;
    if (need_h && !(ksize_h = precompute_coeffs(src->w, 0.0, src->w, out_w, x0, ww, f, &bounds_h, &kk_h))) goto oom;
    if (!need_v) {
        resample_horizontal(src->data, src->w, c, y0, wh, dst->data, ww, ksize_h, bounds_h, kk_h);
    } else if (!need_h) {
        resample_vertical(src->data + (size_t)x0 * c, sstride, (size_t)ww * c, dst->data, wh, ksize_v, bounds_v, kk_v);
    } else {
        /* Only the source rows the vertical pass reads go through the horizontal pass. */
        int first = bounds_v[0];
        int last = bounds_v[wh * 2 - 2] + bounds_v[wh * 2 - 1];
        for (int i = 0; i < wh; i++) bounds_v[i * 2] -= first;
        size_t nt;
        if (last <= first || __builtin_mul_overflow((size_t)ww * c, (size_t)(last - first), &nt)) goto oom;
        tmp = (uint8_t *)malloc(nt);
        if (!tmp) goto oom;
        resample_horizontal(src->data, src->w, c, first, last - first, tmp, ww, ksize_h, bounds_h, kk_h);
        resample_vertical(tmp, (size_t)ww * c, (size_t)ww * c, dst->data, wh, ksize_v, bounds_v, kk_v);
    }
    goto done;
oom:
    st = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory resizing %dx%d to %dx%d", src->w, src->h, out_w, out_h);
    vssm_image_free(dst);
done:
    free(bounds_v), free(kk_v), free(bounds_h), free(kk_h), free(tmp);
    return st;
}

vssm_status vssm_image_resize(const vssm_image *src, int out_w, int out_h, vssm_interp interp, vssm_image *dst,
                              vssm_err *err) {
    if (!src || !dst || !src->data) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_image_resize: NULL image");
    if (src == dst) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_image_resize: src and dst must differ");
    memset(dst, 0, sizeof(*dst));
    if (src->w <= 0 || src->h <= 0 || src->c < 1 || src->c > 4)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_image_resize: bad source %dx%dx%d", src->w, src->h,
                            src->c);
    if (out_w <= 0 || out_h <= 0)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_image_resize: bad size %dx%d", out_w, out_h);
    return resize_window(src, out_w, out_h, interp, 0, 0, out_w, out_h, dst, err);
}

/* ------------------------------------------------------------------ crop */

/* int(round(d / 2.0)) with Python's round-half-to-even, d >= 0. */
static int half_round_even(int d) {
    int k = d / 2;
    if (d % 2 == 0) return k;
    return (k % 2 == 0) ? k : k + 1;
}

vssm_status vssm_image_center_crop(const vssm_image *src, int crop_w, int crop_h, vssm_image *dst, vssm_err *err) {
    if (!src || !dst || !src->data)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_image_center_crop: NULL image");
    if (src == dst) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_image_center_crop: src and dst must differ");
    memset(dst, 0, sizeof(*dst));
    if (crop_w <= 0 || crop_h <= 0)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_image_center_crop: bad crop %dx%d", crop_w, crop_h);
    const int c = src->c;
    vssm_status st = vssm_image_alloc(dst, crop_w, crop_h, c, err);
    if (st != VSSM_OK) return st;
    /* torchvision: zero padding first (left/top get the floor half), then the crop. */
    int pl = crop_w > src->w ? (crop_w - src->w) / 2 : 0;
    int pt = crop_h > src->h ? (crop_h - src->h) / 2 : 0;
    int pw = crop_w > src->w ? crop_w : src->w; /* padded size */
    int ph = crop_h > src->h ? crop_h : src->h;
    int top = half_round_even(ph - crop_h) - pt; /* in source coordinates */
    int left = half_round_even(pw - crop_w) - pl;
    memset(dst->data, 0, (size_t)crop_w * crop_h * c);
    for (int y = 0; y < crop_h; y++) {
        int sy = y + top;
        if (sy < 0 || sy >= src->h) continue;
        int x0 = left < 0 ? -left : 0;
        int x1 = src->w - left < crop_w ? src->w - left : crop_w;
        if (x1 > x0)
            memcpy(dst->data + ((size_t)y * crop_w + x0) * c, src->data + ((size_t)sy * src->w + (x0 + left)) * c,
                   (size_t)(x1 - x0) * c);
    }
    return VSSM_OK;
}

/* ------------------------------------------------------------------ the chain */

void vssm_resize_shorter_side(int w, int h, int size, int *new_w, int *new_h) {
    int shorter = w <= h ? w : h, longer = w <= h ? h : w;
    if (shorter < 1 || size < 1) { /* nothing to scale: 0 x 0, which every caller refuses */
        *new_w = *new_h = 0;
        return;
    }
    /* Python: int(size * long / short): exact product, correctly rounded quotient, truncated
     * (capped at INT_MAX: a 1-pixel-wide strip; the size limits refuse it after) */
    const double q = (double)((int64_t)size * longer) / (double)shorter;
    int new_long = q >= (double)INT_MAX ? INT_MAX : (int)q;
    if (w <= h) {
        *new_w = size;
        *new_h = new_long;
    } else {
        *new_w = new_long;
        *new_h = size;
    }
}

vssm_preprocess_params vssm_preprocess_imagenet(void) {
    vssm_preprocess_params p = {256, 224, VSSM_INTERP_BICUBIC, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
    return p;
}

int vssm_interp_from_name(const char *name) {
    if (!name) return -1;
    if (strcmp(name, "bicubic") == 0) return VSSM_INTERP_BICUBIC;
    if (strcmp(name, "bilinear") == 0) return VSSM_INTERP_BILINEAR;
    return -1;
}

const char *vssm_interp_name(vssm_interp interp) {
    switch (interp) {
    case VSSM_INTERP_BICUBIC: return "bicubic";
    case VSSM_INTERP_BILINEAR: return "bilinear";
    default: return "unknown";
    }
}

static vssm_status check_params(const vssm_preprocess_params *p, vssm_err *err) {
    if (!p) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "preprocess: params are NULL");
    if (p->resize < 0 || p->crop < 0)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "preprocess: negative resize %d or crop %d", p->resize, p->crop);
    if (p->interp != VSSM_INTERP_BICUBIC && p->interp != VSSM_INTERP_BILINEAR)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "preprocess: unknown interpolation %d", (int)p->interp);
    for (int i = 0; i < 3; i++)
        if (!(p->std[i] != 0.0f && isfinite(p->std[i]) && isfinite(p->mean[i])))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                                "preprocess: mean[%d] %g or std[%d] %g is not a finite number (std not 0)", i,
                                p->mean[i], i, p->std[i]);
    return VSSM_OK;
}

vssm_status vssm_preprocess_output_size(const vssm_preprocess_params *p, int w, int h, int *out_w, int *out_h,
                                        vssm_err *err) {
    vssm_status st = check_params(p, err);
    if (st != VSSM_OK) return st;
    if (w <= 0 || h <= 0 || !out_w || !out_h)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "preprocess: bad image size %dx%d", w, h);
    int nw = w, nh = h;
    if (p->resize) {
        int shorter = w <= h ? w : h, longer = w <= h ? h : w;
        if ((double)p->resize * longer / shorter > (double)(1 << 28))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "preprocess: resizing %dx%d to shorter side %d is too large",
                                w, h, p->resize);
        vssm_resize_shorter_side(w, h, p->resize, &nw, &nh);
    }
    if (p->crop) nw = nh = p->crop;
    /* no backbone takes a side past VSSM_INPUT_MAX_SIDE: refused here, before the caller
     * allocates the tensor (a 417-byte 1x174000 PNG once became 4.4 GB of floats first) */
    if (nw > VSSM_INPUT_MAX_SIDE || nh > VSSM_INPUT_MAX_SIDE)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "preprocess: a %dx%d image resized and cropped to %dx%d: past %d pixels a side, "
                            "more than any backbone takes",
                            w, h, nw, nh, VSSM_INPUT_MAX_SIDE);
    /* The output is never larger than the decoder's default pixel limit, unless the image
     * itself already is (then no larger than the image): a small file cannot ask for a
     * huge tensor through the resize. */
    int64_t cap = (int64_t)w * h;
    if (cap < VSSM_IMAGE_MAX_PIXELS_DEFAULT) cap = VSSM_IMAGE_MAX_PIXELS_DEFAULT;
    if ((int64_t)nw * nh > cap)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "preprocess: a %dx%d image resized and cropped to %dx%d = %lld pixels "
                            "is over the limit of %lld pixels",
                            w, h, nw, nh, (long long)nw * nh, (long long)cap);
    *out_w = nw;
    *out_h = nh;
    return VSSM_OK;
}

vssm_status vssm_preprocess_u8(const vssm_image *src, const vssm_preprocess_params *p, vssm_image *dst, vssm_err *err) {
    if (!src || !src->data || !dst) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "preprocess: NULL image");
    memset(dst, 0, sizeof(*dst));
    int ow, oh;
    vssm_status st = vssm_preprocess_output_size(p, src->w, src->h, &ow, &oh, err);
    if (st != VSSM_OK) return st;
    if (p->resize && p->crop) {
        /* Resize then CenterCrop, computing only the resized pixels the crop keeps: the
         * same bytes, but a 400000x1 image resized to 102400000x256 for a 224 crop costs
         * a 224x224 window, not 78 GB. torchvision returns the image untouched when the
         * size already matches; resize_window copies then. */
        int nw, nh;
        vssm_resize_shorter_side(src->w, src->h, p->resize, &nw, &nh);
        const int cw = p->crop, ch = p->crop;
        int pl = cw > nw ? (cw - nw) / 2 : 0, pt = ch > nh ? (ch - nh) / 2 : 0;
        int left = half_round_even((cw > nw ? cw : nw) - cw) - pl;
        int top = half_round_even((ch > nh ? ch : nh) - ch) - pt;
        int x0 = left < 0 ? 0 : left, y0 = top < 0 ? 0 : top;
        int x1 = left + cw < nw ? left + cw : nw, y1 = top + ch < nh ? top + ch : nh;
        vssm_image win = {0};
        if ((st = vssm_image_alloc(dst, cw, ch, src->c, err)) != VSSM_OK) return st;
        memset(dst->data, 0, (size_t)cw * ch * src->c);
        if (x1 > x0 && y1 > y0) {
            st = resize_window(src, nw, nh, p->interp, x0, y0, x1 - x0, y1 - y0, &win, err);
            if (st != VSSM_OK) {
                vssm_image_free(dst);
                return st;
            }
            for (int y = 0; y < y1 - y0; y++)
                memcpy(dst->data + ((size_t)(y + y0 - top) * cw + (size_t)(x0 - left)) * src->c,
                       win.data + (size_t)y * win.w * win.c, (size_t)win.w * win.c);
            vssm_image_free(&win);
        }
        return VSSM_OK;
    }
    if (p->resize) {
        int nw, nh;
        vssm_resize_shorter_side(src->w, src->h, p->resize, &nw, &nh);
        return vssm_image_resize(src, nw, nh, p->interp, dst, err);
    }
    if (p->crop) return vssm_image_center_crop(src, p->crop, p->crop, dst, err);
    st = vssm_image_alloc(dst, src->w, src->h, src->c, err);
    if (st == VSSM_OK) memcpy(dst->data, src->data, (size_t)src->w * src->h * src->c);
    return st;
}

vssm_status vssm_image_normalize(const vssm_image *src, const float mean[3], const float std[3], float *out_hwc,
                                 vssm_err *err) {
    if (!src || !src->data || !out_hwc || !mean || !std)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "normalize: NULL argument");
    if (src->c != 3) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "normalize: expected 3 channels, got %d", src->c);
    /* torch: x.float().div(255) then sub_(mean).div_(std), each op rounded to float32 */
    float lut[3][256];
    for (int ch = 0; ch < 3; ch++)
        for (int v = 0; v < 256; v++) {
            float x = (float)v / 255.0f;
            x = x - mean[ch];
            lut[ch][v] = x / std[ch];
        }
    size_t n = (size_t)src->w * src->h;
    const uint8_t *s = src->data;
    for (size_t i = 0; i < n; i++) {
        out_hwc[3 * i + 0] = lut[0][s[3 * i + 0]];
        out_hwc[3 * i + 1] = lut[1][s[3 * i + 1]];
        out_hwc[3 * i + 2] = lut[2][s[3 * i + 2]];
    }
    return VSSM_OK;
}

vssm_status vssm_preprocess(const vssm_image *src, const vssm_preprocess_params *p, float *out_hwc, vssm_err *err) {
    if (!out_hwc) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "preprocess: output is NULL");
    if (src && src->c != 3)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "preprocess: expected an RGB image, got %d "
                            "channels",
                            src->c);
    vssm_image u8 = {0};
    vssm_status st = vssm_preprocess_u8(src, p, &u8, err);
    if (st != VSSM_OK) return st;
    st = vssm_image_normalize(&u8, p->mean, p->std, out_hwc, err);
    vssm_image_free(&u8);
    return st;
}
