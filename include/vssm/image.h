/* vssm/image.h - decode image files and preprocess them exactly as PIL + torchvision do.
 *
 * Decoding (datasets/image.c). The format is found from the content (magic bytes), never
 * from the file name:
 *   JPEG  libjpeg-turbo (TurboJPEG API), accurate integer DCT, fancy upsampling: the same
 *         library and settings PIL uses, so the RGB bytes equal PIL's. Gray JPEGs are
 *         replicated; CMYK/YCCK JPEGs are converted as PIL does (Adobe-inverted CMYK, then
 *         PIL's cmyk->rgb). EXIF orientation is NOT applied (PIL does not either).
 *   PNG   libpng. Every colour type and depth, interlaced or not. Converted to RGB as
 *         PIL's Image.open(f).convert("RGB"): gray replicated, palette expanded, alpha
 *         and tRNS dropped (never composited), 1/2/4-bit gray scaled to 0..255, 16-bit RGB,
 *         RGBA and gray+alpha keep the high byte, and 16-bit gray (no alpha), which PIL
 *         opens as mode "I", is clipped to 255 (min(v, 255)), exactly as PIL does.
 *   BMP, GIF (first frame), PNM (P5/P6), TGA: stb_image. Matches PIL for the common
 *         layouts (24/32-bit and 8-bit palette BMP, 8-bit PNM, non-transparent GIF,
 *         raw and RLE TGA). Known differences: pixels of a GIF's transparent index come
 *         out black here, where PIL gives that palette entry's colour; 16-bit PNM keeps
 *         the high byte (PIL clips); ASCII PNM (P1-P3) and PBM (P4) are refused
 *         (VSSM_ERR_UNSUPPORTED). JPEGs with a chroma layout TurboJPEG cannot name (not
 *         4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1, gray) may be refused. A progressive JPEG
 *         of more than 500 scans is refused (libjpeg-turbo's scan limit: many tiny scans
 *         are a CPU bomb; PIL has no limit, real encoders write about 10).
 * Every decoded image is 8-bit RGB, HWC, rows top to bottom (c == 3).
 *
 * Decompression-bomb guard: the pixel count is read from the header and checked BEFORE any
 * pixel buffer is allocated. The default limit is VSSM_IMAGE_MAX_PIXELS_DEFAULT =
 * 178,956,970 pixels, PIL's error threshold (2 * Image.MAX_IMAGE_PIXELS); an image above
 * it is refused with VSSM_ERR_FORMAT. Pass vssm_image_limits to change it (0 = default,
 * negative = no limit beyond what memory and int sizes allow); the CLI's --max-pixels N
 * sets it (0 there = no limit). Decoding an image of P pixels takes about 3P bytes (PNG:
 * 3P plus one row, interlaced PNG up to 11P, CMYK JPEG 7P, GIF 9P, progressive JPEG 3P
 * plus libjpeg's coefficients, 2P per component).
 *
 * Truncation guard: a header that promises more than the file can hold is refused, also
 * BEFORE the pixels are allocated, as "truncated": a JPEG scan needs at least one bit per
 * 8x8 block (Huffman-coded sequential scans and progressive DC scans), PNG pixel data at
 * least 1/1032 of its size in IDAT bytes (deflate's ceiling), BMP, PNM and raw TGA their
 * exact data size. Then the decoders refuse data that ends early, as PIL does
 * ("image file is truncated"): libjpeg's "Premature end of JPEG file", libpng's read past
 * the end or a missing IEND, and for BMP/GIF/PNM/TGA any read past the last byte (stb reads
 * zeros there; it is fed through callbacks that notice). So a 1.2 KB JPEG whose header
 * claims 13000x13000 costs no pixel buffer, instead of 500 MB of gray filler.
 *
 * vssm_image_load refuses a file larger than any image within the pixel limit can be
 * (9 bytes a pixel + 64 MB of metadata) before reading it, and reads a stream without a size
 * (a pipe, /dev/zero) only that far.
 *
 * Errors: empty, truncated, corrupt or unknown files give VSSM_ERR_FORMAT (VSSM_ERR_IO when
 * the file cannot be read) with a message naming the file and the reason, e.g.
 *     "dog.jpg: truncated JPEG data (Premature end of JPEG file)"
 * A JPEG warning that PIL tolerates (e.g. extraneous bytes before a marker, or a data
 * segment that ends early inside a file that does reach EOI) is tolerated.
 *
 * Transforms (datasets/transform.c), equal to torchvision 0.14 on PIL images:
 *   vssm_image_resize        PIL's Image.resize with BICUBIC (a = -0.5) or BILINEAR:
 *                            antialiased (support scaled by the downscale factor), PIL's
 *                            22-bit fixed-point weights, horizontal pass then vertical,
 *                            clipped to uint8 between passes: identical bytes.
 *   vssm_image_center_crop   torchvision CenterCrop: top = int(round((H - ch) / 2.0)) with
 *                            Python's half-to-even rounding; zero padding (left/top get
 *                            the smaller half) when the image is smaller than the crop.
 *   vssm_preprocess          Resize(resize) of the shorter side (long side =
 *                            int(resize * long / short)), CenterCrop(crop), ToTensor
 *                            (x / 255) and Normalize ((x - mean) / std), all in float32,
 *                            written as (H, W, 3) f32 into the caller's buffer. With a
 *                            crop, only the resized pixels the crop keeps are computed
 *                            (identical bytes): memory and time follow the crop and the
 *                            source rows it reads, never the full resized size (a 400000x1
 *                            image resized to 102400000x256 for a 224 crop costs 224x224).
 *                            The output (after the crop) may not exceed
 *                            VSSM_IMAGE_MAX_PIXELS_DEFAULT pixels or the image's own pixel
 *                            count, whichever is larger (VSSM_ERR_INVALID_ARG beyond).
 *
 *     vssm_err err = {0};
 *     vssm_image im = {0};
 *     if (vssm_image_load(&im, "dog.jpg", NULL, &err) != VSSM_OK) { ...err.msg... }
 *     vssm_preprocess_params p = vssm_preprocess_imagenet();   // 256 / 224 / bicubic
 *     int ow, oh;
 *     vssm_preprocess_output_size(&p, im.w, im.h, &ow, &oh, &err);
 *     float *x = malloc((size_t)ow * oh * 3 * sizeof(float));  // x: (oh, ow, 3)
 *     vssm_preprocess(&im, &p, x, &err);
 *     vssm_image_free(&im);
 *
 * No global mutable state; nothing is printed. Functions are safe to call from several
 * threads on different images.
 */
#ifndef VSSM_IMAGE_H
#define VSSM_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vssm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An 8-bit image, HWC, rows top to bottom; data holds h * w * c bytes and is owned
 * (free it with vssm_image_free). Decoders always give c == 3 (RGB). */
typedef struct vssm_image {
    int w, h, c;
    uint8_t *data;
} vssm_image;

typedef enum vssm_image_format {
    VSSM_IMAGE_FORMAT_UNKNOWN = 0,
    VSSM_IMAGE_FORMAT_JPEG,
    VSSM_IMAGE_FORMAT_PNG,
    VSSM_IMAGE_FORMAT_BMP,
    VSSM_IMAGE_FORMAT_GIF,
    VSSM_IMAGE_FORMAT_PNM,
    VSSM_IMAGE_FORMAT_TGA,
} vssm_image_format;

/* PIL's DecompressionBombError threshold: 2 * int(1024 * 1024 * 1024 // 4 // 3). */
#define VSSM_IMAGE_MAX_PIXELS_DEFAULT 178956970LL
/* The largest input side any backbone takes (VMamba, Vim): vssm_preprocess_output_size
 * refuses a larger output before the caller allocates it. */
#define VSSM_INPUT_MAX_SIDE 32768

typedef struct vssm_image_limits {
    int64_t max_pixels; /* w * h above this is refused; 0 = default, < 0 = no limit */
} vssm_image_limits;

/* Reads and decodes a file into out (an RGB image). lim may be NULL (defaults). On failure
 * out is left empty ({0}) and err names the file and the reason. */
VSSM_API vssm_status vssm_image_load(vssm_image *out, const char *path, const vssm_image_limits *lim, vssm_err *err);
/* Same, from memory; name (may be NULL) is only used in error messages. */
VSSM_API vssm_status vssm_image_decode_mem(vssm_image *out, const void *buf, size_t n, const char *name,
                                           const vssm_image_limits *lim, vssm_err *err);
/* The size an image's first bytes (64 KB are plenty: its header) announce, without decoding:
 * 1 with *w, *h and *decode_bytes (the most memory decoding it takes: the decoder's buffers
 * and the RGB result; an interlaced 16-bit RGBA PNG holds 8 bytes a pixel whole), 0 when the
 * header cannot be read from these bytes (a JPEG whose frame header lies past them) or the
 * format is PNM (not probed). Any of
 * the outputs may be NULL. For a caller that decodes several images at once and must bound
 * their sum (tools/runner.c). */
VSSM_API int vssm_image_probe(const void *buf, size_t n, int *w, int *h, int64_t *decode_bytes);
/* The format the content's first bytes announce (TGA has no magic: it is recognised from
 * a plausible header only when nothing else matches). */
VSSM_API vssm_image_format vssm_image_sniff(const void *buf, size_t n);
VSSM_API const char *vssm_image_format_name(vssm_image_format f); /* "jpeg", "png", ... */

/* Allocates an uninitialised w x h x c image (c in 1..4). */
VSSM_API vssm_status vssm_image_alloc(vssm_image *out, int w, int h, int c, vssm_err *err);
/* Frees data and zeroes the struct; safe on an empty image and on NULL. */
VSSM_API void vssm_image_free(vssm_image *im);
/* Writes an RGB u8 image (c = 3) as PNG (libpng, compression level 3) through
 * vssm/outfile.h: PATH is untouched unless the whole file was written. */
VSSM_API vssm_status vssm_image_write_png(const char *path, const vssm_image *im, vssm_err *err);

typedef enum vssm_interp {
    VSSM_INTERP_BICUBIC = 0, /* PIL Image.BICUBIC, torchvision InterpolationMode.BICUBIC */
    VSSM_INTERP_BILINEAR,    /* PIL Image.BILINEAR */
} vssm_interp;

/* Parses "bicubic" / "bilinear"; returns -1 for anything else. */
VSSM_API int vssm_interp_from_name(const char *name);
VSSM_API const char *vssm_interp_name(vssm_interp interp);

/* PIL's src.resize((out_w, out_h), interp) on any c in 1..4; dst is allocated (any
 * previous content of dst is NOT freed). Equal sizes give a copy. */
VSSM_API vssm_status vssm_image_resize(const vssm_image *src, int out_w, int out_h, vssm_interp interp, vssm_image *dst,
                                       vssm_err *err);
/* torchvision's CenterCrop((crop_h, crop_w)) with its zero padding; dst is allocated. */
VSSM_API vssm_status vssm_image_center_crop(const vssm_image *src, int crop_w, int crop_h, vssm_image *dst,
                                            vssm_err *err);
/* torchvision Resize(size) of the shorter side: the size (new_w, new_h) it resizes to
 * (0 x 0 when w, h or size is < 1; the longer side capped at INT_MAX). */
VSSM_API void vssm_resize_shorter_side(int w, int h, int size, int *new_w, int *new_h);

typedef struct vssm_preprocess_params {
    int resize;         /* shorter side resized to this; 0 = keep the image's own size */
    int crop;           /* square center crop; 0 = no crop */
    vssm_interp interp; /* the resize filter */
    float mean[3], std[3];
} vssm_preprocess_params;

/* resize 256, crop 224, bicubic, ImageNet mean/std: VMamba's evaluation preprocessing. */
VSSM_API vssm_preprocess_params vssm_preprocess_imagenet(void);

/* The (width, height) vssm_preprocess writes for a w x h image. */
VSSM_API vssm_status vssm_preprocess_output_size(const vssm_preprocess_params *p, int w, int h, int *out_w, int *out_h,
                                                 vssm_err *err);
/* The u8 image after Resize and CenterCrop (before ToTensor); dst is allocated. */
VSSM_API vssm_status vssm_preprocess_u8(const vssm_image *src, const vssm_preprocess_params *p, vssm_image *dst,
                                        vssm_err *err);
/* ToTensor + Normalize of an RGB u8 image: out_hwc[(y * w + x) * 3 + c] =
 * (src / 255.0f - mean[c]) / std[c] in float32, as torch computes it. */
VSSM_API vssm_status vssm_image_normalize(const vssm_image *src, const float mean[3], const float std[3],
                                          float *out_hwc, vssm_err *err);
/* The whole chain for one RGB image into out_hwc, which must hold out_h * out_w * 3
 * floats (see vssm_preprocess_output_size): (out_h, out_w, 3). */
VSSM_API vssm_status vssm_preprocess(const vssm_image *src, const vssm_preprocess_params *p, float *out_hwc,
                                     vssm_err *err);

#ifdef __cplusplus
}
#endif
#endif
