/* train/augment.c - training augmentations (vssm/train.h): torchvision's RandomResizedCrop,
 * RandomCrop with zero padding and RandomHorizontalFlip, drawing from a splitmix64 generator
 * so that a seed fixes every crop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vssm/train.h"

uint64_t vssm_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *rng, double lo, double hi) {
    return lo + (hi - lo) * (double)(vssm_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* torchvision RandomResizedCrop.get_params: the box (x, y, w, h) */
static void crop_box(int W, int H, double smin, uint64_t *rng, int *bx, int *by, int *bw, int *bh) {
    const double area = (double)W * H, lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    for (int k = 0; k < 10; k++) {
        const double target = area * uniform(rng, smin, 1.0), ar = exp(uniform(rng, lr0, lr1));
        const int w = (int)lround(sqrt(target * ar)), h = (int)lround(sqrt(target / ar));
        if (w > 0 && w <= W && h > 0 && h <= H) {
            *by = (int)(vssm_rng_next(rng) % (uint64_t)(H - h + 1));
            *bx = (int)(vssm_rng_next(rng) % (uint64_t)(W - w + 1));
            *bw = w, *bh = h;
            return;
        }
    }
    const double in_ratio = (double)W / H;
    int w = W, h = H;
    if (in_ratio < 3.0 / 4.0)
        h = (int)lround(w / (3.0 / 4.0));
    else if (in_ratio > 4.0 / 3.0)
        w = (int)lround(h * (4.0 / 3.0));
    *bw = w, *bh = h, *bx = (W - w) / 2, *by = (H - h) / 2;
}

vssm_status vssm_random_resized_crop_box(int W, int H, double smin, uint64_t *rng, int box[4], vssm_err *err) {
    if (W < 1 || H < 1 || !(smin > 0 && smin <= 1) || !rng || !box)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "random resized crop box: image %dx%d, scale %g", W, H, smin);
    crop_box(W, H, smin, rng, &box[0], &box[1], &box[2], &box[3]);
    return VSSM_OK;
}

/* every row of im reversed (a horizontal flip) */
static void mirror_rows(vssm_image *im) {
    const int c = im->c, w = im->w;
    for (int r = 0; r < im->h; r++) {
        uint8_t *row = im->data + (size_t)r * w * c;
        for (int i = 0, j = w - 1; i < j; i++, j--)
            for (int k = 0; k < c; k++) {
                const uint8_t tmp = row[i * c + k];
                row[i * c + k] = row[j * c + k];
                row[j * c + k] = tmp;
            }
    }
}

vssm_status vssm_random_resized_crop(const vssm_image *src, int size, double smin, int flip, vssm_interp interp,
                                     uint64_t *rng, vssm_image *dst, vssm_err *err) {
    memset(dst, 0, sizeof *dst);
    if (!src || !src->data || src->w < 1 || src->h < 1 || size < 1 || !(smin > 0 && smin <= 1))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "random resized crop: empty image, size %d or scale %g", size,
                            smin);
    int x, y, w, h;
    crop_box(src->w, src->h, smin, rng, &x, &y, &w, &h);
    const int mirror = flip && (vssm_rng_next(rng) >> 63);
    vssm_image box;
    vssm_status s = vssm_image_alloc(&box, w, h, src->c, err);
    if (s != VSSM_OK) return s;
    for (int r = 0; r < h; r++)
        memcpy(box.data + (size_t)r * w * src->c, src->data + ((size_t)(y + r) * src->w + x) * src->c,
               (size_t)w * src->c);
    s = vssm_image_resize(&box, size, size, interp, dst, err);
    vssm_image_free(&box);
    if (s == VSSM_OK && mirror) mirror_rows(dst);
    return s;
}

vssm_status vssm_pad_crop(const vssm_image *src, int pad, int flip, uint64_t *rng, vssm_image *dst, vssm_err *err) {
    memset(dst, 0, sizeof *dst);
    if (!src || !src->data || src->w < 1 || src->h < 1 || pad < 0 || pad > 4096)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "pad crop: empty image or padding %d", pad);
    const int ox = (int)(vssm_rng_next(rng) % (uint64_t)(2 * pad + 1));
    const int oy = (int)(vssm_rng_next(rng) % (uint64_t)(2 * pad + 1));
    const int mirror = flip && (vssm_rng_next(rng) >> 63);
    const int W = src->w, H = src->h, c = src->c;
    vssm_status s = vssm_image_alloc(dst, W, H, c, err);
    if (s != VSSM_OK) return s;
    memset(dst->data, 0, (size_t)W * H * c); /* the padding is black */
    /* output (x, y) reads padded (x + ox, y + oy) = source (x + ox - pad, y + oy - pad) */
    const int dx = ox - pad, dy = oy - pad;
    const int x0 = dx < 0 ? -dx : 0, x1 = W - dx < W ? W - dx : W;
    for (int y = 0; y < H && x0 < x1; y++) {
        const int sy = y + dy;
        if (sy < 0 || sy >= H) continue;
        memcpy(dst->data + ((size_t)y * W + x0) * c, src->data + ((size_t)sy * W + x0 + dx) * c, (size_t)(x1 - x0) * c);
    }
    if (mirror) mirror_rows(dst);
    return VSSM_OK;
}
