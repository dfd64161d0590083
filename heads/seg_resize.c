/* heads/seg_resize.c - the resampling the segmentation pipeline needs to match mmseg:
 * torch bilinear (align_corners False) on f32 NHWC maps, torch adaptive average pooling,
 * OpenCV INTER_LINEAR on uint8 images, mmcv's keep-ratio rescale size, sliding windows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "heads/seg_internal.h"

/* ------------------------------------------------------------------ torch bilinear */

/* torch area_pixel_compute_source_index for align_corners=False, in float as its CPU
 * kernel computes it (opmath float for float tensors) */
static void lin_index(int in, int out, int o, int *i0, int *i1, float *l1) {
    const float scale = (float)in / (float)out;
    float src = scale * ((float)o + 0.5f) - 0.5f;
    if (src < 0) src = 0;
    int i = (int)src;
    if (i > in - 1) i = in - 1;
    *i0 = i;
    *i1 = i + (i < in - 1 ? 1 : 0);
    *l1 = src - (float)i;
}

void vssm_resize_bilinear_f32(const float *x, int B, int h, int w, int C, int xs, int oh, int ow, float *y, int ys,
                              int accumulate) {
    int *xi = malloc(sizeof(int) * 2 * (size_t)ow);
    float *xl = malloc(sizeof(float) * (size_t)ow);
    for (int o = 0; o < ow; o++) lin_index(w, ow, o, &xi[2 * o], &xi[2 * o + 1], &xl[o]);
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * h * w * xs;
        float *yb = y + (size_t)b * oh * ow * ys;
#pragma omp parallel for schedule(static)
        for (int oy = 0; oy < oh; oy++) {
            int y0, y1;
            float ly1;
            lin_index(h, oh, oy, &y0, &y1, &ly1);
            const float ly0 = 1.0f - ly1;
            for (int ox = 0; ox < ow; ox++) {
                const int x0 = xi[2 * ox], x1 = xi[2 * ox + 1];
                const float lx1 = xl[ox], lx0 = 1.0f - lx1;
                const float *p00 = xb + ((size_t)y0 * w + x0) * xs, *p01 = xb + ((size_t)y0 * w + x1) * xs;
                const float *p10 = xb + ((size_t)y1 * w + x0) * xs, *p11 = xb + ((size_t)y1 * w + x1) * xs;
                float *q = yb + ((size_t)oy * ow + ox) * ys;
                for (int c = 0; c < C; c++) {
                    float v = ly0 * (lx0 * p00[c] + lx1 * p01[c]) + ly1 * (lx0 * p10[c] + lx1 * p11[c]);
                    q[c] = accumulate ? q[c] + v : v;
                }
            }
        }
    }
    free(xi);
    free(xl);
}

/* ------------------------------------------------------------------ adaptive avg pool */

void vssm_seg_adaptive_avgpool(const float *x, int B, int h, int w, int C, int s, float *y) {
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < s; oy++)
            for (int ox = 0; ox < s; ox++) {
                const int y0 = (int)((int64_t)oy * h / s), y1 = (int)(((int64_t)(oy + 1) * h + s - 1) / s);
                const int x0 = (int)((int64_t)ox * w / s), x1 = (int)(((int64_t)(ox + 1) * w + s - 1) / s);
                float *q = y + (((size_t)b * s + oy) * s + ox) * C;
                for (int c = 0; c < C; c++) q[c] = 0;
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++) {
                        const float *p = x + (((size_t)b * h + yy) * w + xx) * C;
                        for (int c = 0; c < C; c++) q[c] += p[c];
                    }
                const float n = (float)((y1 - y0) * (x1 - x0));
                for (int c = 0; c < C; c++) q[c] /= n;
            }
}

/* ------------------------------------------------------------------ OpenCV INTER_LINEAR */

#define COEF_BITS 11
#define COEF_SCALE (1 << COEF_BITS)

static short sat_short_round(float v) { /* saturate_cast<short>(float): cvRound = round half to even */
    long r = lrintf(v);
    return (short)(r < -32768 ? -32768 : r > 32767 ? 32767 : r);
}
static uint8_t sat_u8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* The vertical pass rounds as OpenCV's VResizeLinearVec_32s8u: each row sum is shifted
 * right by 4, multiplied by its coefficient keeping the high 16 bits, and the sum is
 * rounded by (v + 2) >> 2. The textbook (s0*b0 + s1*b1 + 2^21) >> 22 differs by 1 on some
 * pixels; checked against cv2 4.6 (python3-opencv) on every pixel of every row, tails
 * included (tests/reference/gen_seg_vectors.py). */
static uint8_t vlin_simd(int s0, int s1, short b0, short b1) {
    int a = ((s0 >> 4) * b0) >> 16, c = ((s1 >> 4) * b1) >> 16;
    return sat_u8(((int)(short)(a + c) + 2) >> 2);
}

vssm_status vssm_image_resize_cv2(const vssm_image *src, int out_w, int out_h, vssm_image *dst, vssm_err *err) {
    const int sw = src->w, sh = src->h, cn = src->c;
    if (out_w < 1 || out_h < 1 || sw < 1 || sh < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "resize: sizes must be positive (%dx%d -> %dx%d)", sw, sh, out_w,
                            out_h);
    vssm_status s = vssm_image_alloc(dst, out_w, out_h, cn, err);
    if (s != VSSM_OK) return s;
    if (out_w == sw && out_h == sh) {
        memcpy(dst->data, src->data, (size_t)sw * sh * cn);
        return VSSM_OK;
    }
    const double inv_sx = (double)out_w / sw, inv_sy = (double)out_h / sh;
    const double scale_x = 1.0 / inv_sx, scale_y = 1.0 / inv_sy;
    if (scale_x == 2.0 && scale_y == 2.0) { /* cv::resize turns this INTER_LINEAR into INTER_AREA (fast) */
        for (int y = 0; y < out_h; y++)
            for (int x = 0; x < out_w; x++)
                for (int c = 0; c < cn; c++) {
                    const uint8_t *p = src->data + ((size_t)(2 * y) * sw + 2 * x) * cn + c;
                    int v = p[0] + p[cn] + p[(size_t)sw * cn] + p[(size_t)sw * cn + cn];
                    dst->data[((size_t)y * out_w + x) * cn + c] = (uint8_t)((v + 2) >> 2);
                }
        return VSSM_OK;
    }
    const int width = out_w * cn;
    int *xofs = malloc(sizeof(int) * (size_t)out_w);
    short *alpha = malloc(sizeof(short) * 2 * (size_t)out_w);
    int *rowbuf = malloc(sizeof(int) * 2 * (size_t)width);
    if (!xofs || !alpha || !rowbuf) {
        free(xofs), free(alpha), free(rowbuf);
        vssm_image_free(dst);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    int xmax = out_w;
    for (int dx = 0; dx < out_w; dx++) {
        float fx = (float)((dx + 0.5) * scale_x - 0.5);
        int sx = (int)floorf(fx);
        fx -= (float)sx;
        if (sx < 0) fx = 0, sx = 0;
        if (sx + 1 >= sw) {
            if (dx < xmax) xmax = dx;
            if (sx >= sw - 1) fx = 0, sx = sw - 1;
        }
        xofs[dx] = sx;
        alpha[2 * dx] = sat_short_round((1.f - fx) * COEF_SCALE);
        alpha[2 * dx + 1] = sat_short_round(fx * COEF_SCALE);
    }
    int last_row[2] = {-1, -1};
    for (int dy = 0; dy < out_h; dy++) {
        float fy = (float)((dy + 0.5) * scale_y - 0.5);
        int sy = (int)floorf(fy);
        fy -= (float)sy;
        const short b0 = sat_short_round((1.f - fy) * COEF_SCALE), b1 = sat_short_round(fy * COEF_SCALE);
        int *S[2];
        for (int k = 0; k < 2; k++) {
            int r = sy + k;
            r = r < 0 ? 0 : r >= sh ? sh - 1 : r;
            S[k] = rowbuf + (size_t)k * width;
            if (last_row[k] == r) continue;
            last_row[k] = r;
            const uint8_t *row = src->data + (size_t)r * sw * cn;
            for (int dx = 0; dx < out_w; dx++) {
                const int sx = xofs[dx] * cn;
                for (int c = 0; c < cn; c++)
                    S[k][dx * cn + c] = dx < xmax ? row[sx + c] * alpha[2 * dx] + row[sx + cn + c] * alpha[2 * dx + 1]
                                                  : row[sx + c] * COEF_SCALE;
            }
        }
        uint8_t *d = dst->data + (size_t)dy * width;
        for (int x = 0; x < width; x++) d[x] = vlin_simd(S[0][x], S[1][x], b0, b1);
    }
    free(xofs), free(alpha), free(rowbuf);
    return VSSM_OK;
}

void vssm_seg_rescale_size(int w, int h, int scale_long, int scale_short, int *out_w, int *out_h) {
    if (w < 1 || h < 1) { /* an empty image stays empty (0 * inf below) */
        *out_w = *out_h = 0;
        return;
    }
    if (scale_long <= 0 || scale_short <= 0) {
        *out_w = w;
        *out_h = h;
        return;
    }
    const int L = scale_long > scale_short ? scale_long : scale_short;
    const int S = scale_long > scale_short ? scale_short : scale_long;
    const double lo = w > h ? w : h, sh = w > h ? h : w;
    double a = (double)L / lo, b = (double)S / sh;
    const double f = a < b ? a : b;
    *out_w = (int)((double)w * f + 0.5);
    *out_h = (int)((double)h * f + 0.5);
}

/* ------------------------------------------------------------------ sliding windows */

int vssm_seg_slide_grids(int n, int crop, int stride) {
    if (stride < 1) return 1; /* no step: the one window at 0 (the segmenter refuses such a stride) */
    int d = n - crop + stride - 1;
    return (d > 0 ? d : 0) / stride + 1;
}

void vssm_seg_slide_window(int n, int crop, int stride, int i, int *a, int *b) {
    int y1 = i * stride, y2 = y1 + crop < n ? y1 + crop : n;
    y1 = y2 - crop > 0 ? y2 - crop : 0;
    *a = y1;
    *b = y2;
}
