/* datasets/image.c - file -> 8-bit RGB, byte for byte what PIL's
 * Image.open(f).convert("RGB") gives. See include/vssm/image.h for the contract.
 *
 * Each decoder reads the header first, checks the pixel limit, and only then allocates.
 * JPEG goes through TurboJPEG (the libjpeg-turbo PIL itself links), PNG through libpng
 * with the 16-bit and palette conversions done here (PIL's rules differ from libpng's),
 * and the rest through stb_image.
 */
#include "vssm/image.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <turbojpeg.h>

#define STBI_NO_JPEG
/* stb's PNG code stays compiled (its zlib API is declared unconditionally) but is never
 * reached: PNG goes to libpng. */
#define STBI_NO_PSD
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STB_IMAGE_IMPLEMENTATION
/* stb's functions stay private to this file (no stbi_* symbols exported from libvssm) */
#if defined(__GNUC__)
#define STBIDEF static __attribute__((unused))
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#else
#define STBIDEF static
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
/* This stb version declares this function but defines it under another name; never used. */
STBIDEF void stbi_set_unpremultiply_on_load_thread(int flag) { (void)flag; }

/* ------------------------------------------------------------------ small helpers */

const char *vssm_image_format_name(vssm_image_format f) {
    switch (f) {
    case VSSM_IMAGE_FORMAT_JPEG: return "jpeg";
    case VSSM_IMAGE_FORMAT_PNG: return "png";
    case VSSM_IMAGE_FORMAT_BMP: return "bmp";
    case VSSM_IMAGE_FORMAT_GIF: return "gif";
    case VSSM_IMAGE_FORMAT_PNM: return "pnm";
    case VSSM_IMAGE_FORMAT_TGA: return "tga";
    default: return "unknown";
    }
}

vssm_image_format vssm_image_sniff(const void *buf, size_t n) {
    const uint8_t *b = (const uint8_t *)buf;
    if (!b) return VSSM_IMAGE_FORMAT_UNKNOWN;
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return VSSM_IMAGE_FORMAT_JPEG;
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return VSSM_IMAGE_FORMAT_PNG;
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return VSSM_IMAGE_FORMAT_GIF;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return VSSM_IMAGE_FORMAT_BMP;
    if (n >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7' &&
        (b[2] == ' ' || b[2] == '\t' || b[2] == '\n' || b[2] == '\r'))
        return VSSM_IMAGE_FORMAT_PNM;
    /* TGA has no magic number; stb's header test (plausible type, map and depth). */
    if (n >= 18 && n <= INT_MAX) {
        stbi__context s;
        stbi__start_mem(&s, b, (int)n);
        if (stbi__tga_test(&s)) return VSSM_IMAGE_FORMAT_TGA;
    }
    return VSSM_IMAGE_FORMAT_UNKNOWN;
}

vssm_status vssm_image_alloc(vssm_image *out, int w, int h, int c, vssm_err *err) {
    if (!out) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_image_alloc: out is NULL");
    memset(out, 0, sizeof(*out));
    if (w <= 0 || h <= 0 || c < 1 || c > 4)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "invalid image size %dx%dx%d", w, h, c);
    size_t n = (size_t)w * (size_t)h;
    if (n > SIZE_MAX / 4 / (size_t)c)
        return vssm_err_set(err, VSSM_ERR_NOMEM, "image %dx%dx%d is too large", w, h, c);
    out->data = (uint8_t *)malloc(n * (size_t)c);
    if (!out->data)
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for a %dx%dx%d image", w, h, c);
    out->w = w;
    out->h = h;
    out->c = c;
    return VSSM_OK;
}

void vssm_image_free(vssm_image *im) {
    if (!im) return;
    free(im->data);
    memset(im, 0, sizeof(*im));
}

/* The bomb guard: called with the header's size before any pixel buffer exists. */
static vssm_status check_size(const char *name, const char *fmt, int64_t w, int64_t h,
                              const vssm_image_limits *lim, vssm_err *err) {
    if (w <= 0 || h <= 0)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: %s header gives an empty size %lldx%lld",
                            name, fmt, (long long)w, (long long)h);
    int64_t max = lim ? lim->max_pixels : 0;
    if (max == 0) max = VSSM_IMAGE_MAX_PIXELS_DEFAULT;
    if (w > INT_MAX / 4 || h > INT_MAX / 4 || (max > 0 && w * h > max))
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "%s: %s image of %lldx%lld = %lld pixels is over the limit of %lld "
                            "pixels (decompression-bomb guard; raise vssm_image_limits.max_pixels "
                            "to allow it)",
                            name, fmt, (long long)w, (long long)h, (long long)(w * h),
                            (long long)(max > 0 ? max : INT_MAX / 4));
    return VSSM_OK;
}

/* ------------------------------------------------------------------ JPEG */

/* PIL's cmyk2rgb (libImaging/Convert.c) on Adobe-inverted CMYK ("CMYK;I" rawmode). */
static inline uint8_t muldiv255(int a, int b) {
    int t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static vssm_status decode_jpeg(vssm_image *out, const uint8_t *buf, size_t n, const char *name,
                               const vssm_image_limits *lim, vssm_err *err) {
    if (n > ULONG_MAX) return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: JPEG too large", name);
    tjhandle tj = tjInitDecompress();
    if (!tj) return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: cannot start the JPEG decoder", name);
    vssm_status st = VSSM_OK;
    uint8_t *cmyk = NULL;
    int w = 0, h = 0, subsamp = 0, cs = 0;
    if (tjDecompressHeader3(tj, buf, (unsigned long)n, &w, &h, &subsamp, &cs) != 0) {
        st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: unreadable JPEG header (%s)", name,
                          tjGetErrorStr2(tj));
        goto done;
    }
    if ((st = check_size(name, "JPEG", w, h, lim, err)) != VSSM_OK) goto done;
    if ((st = vssm_image_alloc(out, w, h, 3, err)) != VSSM_OK) goto done;

    int is_cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    uint8_t *dst = out->data;
    if (is_cmyk) {
        cmyk = (uint8_t *)malloc((size_t)w * (size_t)h * 4);
        if (!cmyk) {
            st = vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", name);
            goto done;
        }
        dst = cmyk;
    }
    /* ISLOW DCT and fancy upsampling are libjpeg's defaults, which PIL keeps. The first
     * try stops at the first warning, so a truncated file fails fast instead of decoding
     * gray filler; PIL refuses a file whose data ends early ("image file is truncated")
     * but accepts the other libjpeg warnings, so those get a second, tolerant try. */
    int pf = is_cmyk ? TJPF_CMYK : TJPF_RGB;
    int flags = TJFLAG_ACCURATEDCT;
    for (int attempt = 0; attempt < 2; attempt++) {
        int f = attempt == 0 ? flags | TJFLAG_STOPONWARNING : flags;
        if (tjDecompress2(tj, buf, (unsigned long)n, dst, w, 0, h, pf, f) == 0) break;
        const char *msg = tjGetErrorStr2(tj);
        if (tjGetErrorCode(tj) != TJERR_WARNING) {
            st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: corrupt JPEG data (%s)", name, msg);
            goto done;
        }
        if (strstr(msg, "Premature end of JPEG file")) {
            st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: truncated JPEG data (%s)", name, msg);
            goto done;
        }
        if (attempt == 1) break; /* a tolerated warning */
    }
    if (is_cmyk) {
        size_t np = (size_t)w * (size_t)h;
        for (size_t i = 0; i < np; i++) {
            const uint8_t *p = cmyk + i * 4;
            int nk = p[3]; /* 255 - inverted k */
            for (int c = 0; c < 3; c++) {
                int v = nk - muldiv255(255 - p[c], nk);
                out->data[i * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
done:
    if (st != VSSM_OK) vssm_image_free(out);
    free(cmyk);
    tjDestroy(tj);
    return st;
}

/* ------------------------------------------------------------------ PNG */

typedef struct png_src {
    const uint8_t *p;
    size_t n, pos;
    char msg[200];
} png_src;

static void png_read_mem(png_structp png, png_bytep dst, size_t len) {
    png_src *s = (png_src *)png_get_io_ptr(png);
    if (len > s->n - s->pos) png_error(png, "truncated PNG data (file ends early)");
    memcpy(dst, s->p + s->pos, len);
    s->pos += len;
}

static void png_on_error(png_structp png, png_const_charp msg) {
    png_src *s = (png_src *)png_get_error_ptr(png);
    snprintf(s->msg, sizeof(s->msg), "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* Converts one decoded row (libpng output: packed to 1 byte/sample, 16-bit big-endian)
 * to RGB with PIL's rules. */
static void png_row_to_rgb(const uint8_t *in, uint8_t *out, int w, int color_type, int depth,
                           const png_color *pal, int npal) {
    int x;
    if (depth == 16) {
        switch (color_type) {
        case PNG_COLOR_TYPE_GRAY: /* PIL: mode "I", then convert("RGB") clips to 255 */
            for (x = 0; x < w; x++) {
                int v = (in[2 * x] << 8) | in[2 * x + 1];
                out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = (uint8_t)(v > 255 ? 255 : v);
            }
            return;
        case PNG_COLOR_TYPE_GRAY_ALPHA: /* "LA;16B": high byte */
            for (x = 0; x < w; x++) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[4 * x];
            return;
        case PNG_COLOR_TYPE_RGB: /* "RGB;16B": high byte */
            for (x = 0; x < 3 * w; x++) out[x] = in[2 * x];
            return;
        default: /* RGBA "RGBA;16B" */
            for (x = 0; x < w; x++) {
                out[3 * x] = in[8 * x];
                out[3 * x + 1] = in[8 * x + 2];
                out[3 * x + 2] = in[8 * x + 4];
            }
            return;
        }
    }
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: /* depth < 8 already scaled by libpng (PIL: *255, *0x55, *0x11) */
        for (x = 0; x < w; x++) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[x];
        return;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        for (x = 0; x < w; x++) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[2 * x];
        return;
    case PNG_COLOR_TYPE_RGB: memcpy(out, in, (size_t)w * 3); return;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        for (x = 0; x < w; x++) memcpy(out + 3 * x, in + 4 * x, 3);
        return;
    default: /* palette; PIL's palette is black beyond the PLTE entries */
        for (x = 0; x < w; x++) {
            int i = in[x];
            if (i < npal) {
                out[3 * x] = pal[i].red;
                out[3 * x + 1] = pal[i].green;
                out[3 * x + 2] = pal[i].blue;
            } else {
                out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = 0;
            }
        }
        return;
    }
}

typedef struct png_state {
    png_src src;
    png_structp png;
    png_infop info;
    uint8_t *rows;
    png_bytepp rowp;
    vssm_status st;
} png_state;

static vssm_status decode_png(vssm_image *out, const uint8_t *buf, size_t n, const char *name,
                              const vssm_image_limits *lim, vssm_err *err) {
    /* Everything that changes after setjmp lives on the heap, not in locals, so its value
     * is well defined after a longjmp from libpng's error handler. */
    png_state *v = (png_state *)calloc(1, sizeof(*v));
    if (!v) return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", name);
    vssm_status st;
    v->src.p = buf;
    v->src.n = n;
    v->st = VSSM_OK;

    v->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &v->src, png_on_error, png_on_warning);
    v->info = v->png ? png_create_info_struct(v->png) : NULL;
    if (!v->png || !v->info) {
        v->st = vssm_err_set(err, VSSM_ERR_NOMEM, "%s: cannot start the PNG decoder", name);
        goto done;
    }
    if (setjmp(png_jmpbuf(v->png))) {
        if (v->st == VSSM_OK)
            v->st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: corrupt PNG (%s)", name, v->src.msg);
        goto done;
    }
    png_set_read_fn(v->png, &v->src, png_read_mem);
    /* PIL refuses any chunk with a bad CRC; libpng's default only warns for ancillary ones */
    png_set_crc_action(v->png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    /* libpng's own default limit is 1e6 x 1e6; our pixel guard below is the real one. */
    png_set_user_limits(v->png, 0x7fffffff, 0x7fffffff);
    png_read_info(v->png, v->info);

    png_uint_32 w = 0, h = 0;
    int depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(v->png, v->info, &w, &h, &depth, &color_type, &interlace, NULL, NULL);
    if ((v->st = check_size(name, "PNG", w, h, lim, err)) != VSSM_OK) goto done;

    if (depth < 8) {
        if (color_type == PNG_COLOR_TYPE_GRAY) png_set_expand_gray_1_2_4_to_8(v->png);
        else png_set_packing(v->png); /* palette indices, one per byte */
    }
    /* No png_set_expand / tRNS / gamma / strip_16: the conversions are PIL's, done below. */
    png_set_interlace_handling(v->png);
    png_read_update_info(v->png, v->info);
    static const int want_channels[7] = {1, 0, 3, 1, 2, 0, 4}; /* by PNG colour type */
    if (color_type < 0 || color_type > 6 || want_channels[color_type] == 0 ||
        png_get_channels(v->png, v->info) != want_channels[color_type] ||
        png_get_bit_depth(v->png, v->info) != (depth == 16 ? 16 : 8)) {
        v->st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: unsupported PNG layout (colour type %d, "
                             "depth %d)", name, color_type, depth);
        goto done;
    }
    size_t rowbytes = png_get_rowbytes(v->png, v->info);
    if (rowbytes < (size_t)w || rowbytes > SIZE_MAX / h) {
        v->st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: PNG row size overflow", name);
        goto done;
    }
    png_colorp pal = NULL;
    int npal = 0;
    if (color_type == PNG_COLOR_TYPE_PALETTE &&
        !png_get_PLTE(v->png, v->info, &pal, &npal)) {
        v->st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: palette PNG without a PLTE chunk", name);
        goto done;
    }
    v->rows = (uint8_t *)malloc(rowbytes * h);
    v->rowp = (png_bytepp)malloc(sizeof(png_bytep) * h);
    if (!v->rows || !v->rowp) {
        v->st = vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory for %ux%u pixels", name,
                             (unsigned)w, (unsigned)h);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) v->rowp[y] = v->rows + rowbytes * y;
    png_read_image(v->png, v->rowp);
    png_read_end(v->png, NULL); /* reaches IEND: a truncated file is refused, as PIL does */

    if ((v->st = vssm_image_alloc(out, (int)w, (int)h, 3, err)) != VSSM_OK) goto done;
    for (png_uint_32 y = 0; y < h; y++)
        png_row_to_rgb(v->rowp[y], out->data + (size_t)y * w * 3, (int)w, color_type, depth, pal,
                       npal);
done:
    if (v->png) png_destroy_read_struct(&v->png, v->info ? &v->info : NULL, NULL);
    free(v->rows);
    free(v->rowp);
    st = v->st;
    free(v);
    if (st != VSSM_OK) vssm_image_free(out);
    return st;
}

/* ------------------------------------------------------------------ BMP, GIF, PNM, TGA */

static vssm_status decode_stb(vssm_image *out, const uint8_t *buf, size_t n, const char *name,
                              vssm_image_format fmt, const vssm_image_limits *lim,
                              vssm_err *err) {
    const char *fname = vssm_image_format_name(fmt);
    if (n > INT_MAX) return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: %s file too large", name, fname);
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(buf, (int)n, &w, &h, &comp))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: unreadable %s header (%s)", name, fname,
                            stbi_failure_reason());
    vssm_status st = check_size(name, fname, w, h, lim, err);
    if (st != VSSM_OK) return st;
    int w2 = 0, h2 = 0;
    uint8_t *px = stbi_load_from_memory(buf, (int)n, &w2, &h2, &comp, 3);
    if (!px)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: corrupt %s data (%s)", name, fname,
                            stbi_failure_reason());
    if (w2 != w || h2 != h) {
        stbi_image_free(px);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: %s size changed while decoding", name, fname);
    }
    if ((st = vssm_image_alloc(out, w, h, 3, err)) == VSSM_OK)
        memcpy(out->data, px, (size_t)w * h * 3);
    stbi_image_free(px);
    return st;
}

/* ------------------------------------------------------------------ entry points */

vssm_status vssm_image_decode_mem(vssm_image *out, const void *buf, size_t n, const char *name,
                                  const vssm_image_limits *lim, vssm_err *err) {
    if (!name) name = "(memory)";
    if (!out) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: output image is NULL", name);
    memset(out, 0, sizeof(*out));
    if (!buf || n == 0) return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: empty file", name);
    const uint8_t *b = (const uint8_t *)buf;
    vssm_image_format fmt = vssm_image_sniff(b, n);
    switch (fmt) {
    case VSSM_IMAGE_FORMAT_JPEG: return decode_jpeg(out, b, n, name, lim, err);
    case VSSM_IMAGE_FORMAT_PNG: return decode_png(out, b, n, name, lim, err);
    case VSSM_IMAGE_FORMAT_PNM:
        if (b[1] != '5' && b[1] != '6')
            return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                                "%s: PNM type P%c is not supported (only binary P5/P6)", name, b[1]);
        return decode_stb(out, b, n, name, fmt, lim, err);
    case VSSM_IMAGE_FORMAT_BMP:
    case VSSM_IMAGE_FORMAT_GIF:
    case VSSM_IMAGE_FORMAT_TGA: return decode_stb(out, b, n, name, fmt, lim, err);
    default:
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "%s: not an image vssm can read (unknown content: expected JPEG, "
                            "PNG, BMP, GIF, PNM or TGA)",
                            name);
    }
}

vssm_status vssm_image_load(vssm_image *out, const char *path, const vssm_image_limits *lim,
                            vssm_err *err) {
    if (out) memset(out, 0, sizeof(*out));
    if (!path || !out) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_image_load: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    vssm_status st = VSSM_OK;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = (uint8_t *)realloc(buf, ncap);
            if (!nb) {
                st = vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory reading the file", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                st = vssm_err_set(err, VSSM_ERR_IO, "%s: read error (%s)", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == VSSM_OK) st = vssm_image_decode_mem(out, buf, n, path, lim, err);
    free(buf);
    return st;
}
