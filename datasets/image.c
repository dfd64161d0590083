/* datasets/image.c - file -> 8-bit RGB, byte for byte what PIL's
 * Image.open(f).convert("RGB") gives. See include/vssm/image.h for the contract.
 *
 * Each decoder reads the header first, checks the pixel limit and that the file can hold
 * the pixels its header promises (JPEG: >= 1 bit per block of each sequential / DC scan;
 * PNG: deflate's 1032:1 ceiling on the IDAT bytes; BMP, PNM, raw TGA: the exact data
 * size), and only then allocates.
 * JPEG goes through TurboJPEG (the libjpeg-turbo PIL itself links), PNG through libpng
 * with the 16-bit and palette conversions done here (PIL's rules differ from libpng's),
 * BMP, GIF and TGA through stb_image, binary PNM here (stb 2.27 has PNM bugs).
 */
#include "vssm/image.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

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
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) return VSSM_IMAGE_FORMAT_GIF;
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
    if (n > SIZE_MAX / 4 / (size_t)c) return vssm_err_set(err, VSSM_ERR_NOMEM, "image %dx%dx%d is too large", w, h, c);
    out->data = (uint8_t *)malloc(n * (size_t)c);
    if (!out->data) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for a %dx%dx%d image", w, h, c);
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
static vssm_status check_size(const char *name, const char *fmt, int64_t w, int64_t h, const vssm_image_limits *lim,
                              vssm_err *err) {
    if (w <= 0 || h <= 0)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: %s header gives an empty size %lldx%lld", name, fmt,
                            (long long)w, (long long)h);
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

static unsigned be16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

/* Before any pixel buffer exists: is there enough entropy-coded data for the size the
 * frame header claims? In a Huffman-coded JPEG (SOF0/1/2) every 8x8 block of a sequential
 * scan, and of a progressive DC scan, costs at least one bit (no Huffman code is shorter),
 * so a scan over B blocks needs B / 8 bytes. A 1.2 KB file whose header was edited to
 * claim 13000x13000 fails this at once, instead of allocating 500 MB for gray filler.
 * Arithmetic-coded and lossless files, AC-only scans and headers this walk does not
 * understand are left to the decoder (its own checks and the pixel limit still apply). */
static vssm_status jpeg_check_scan_sizes(const uint8_t *b, size_t n, const char *name, vssm_err *err) {
    int sof = -1, nf = 0;
    unsigned X = 0, Y = 0;
    int cid[4], ch[4], cv[4], hmax = 1, vmax = 1;
    size_t i = 2;
    while (i + 4 <= n) {
        if (b[i] != 0xFF) return VSSM_OK; /* not where a marker should be: the decoder decides */
        int m = b[i + 1];
        if (m == 0xFF) {
            i++;
            continue;
        }                              /* fill byte */
        if (m == 0xD9) return VSSM_OK; /* EOI */
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
            i += 2;
            continue;
        }
        size_t L = be16(b + i + 2);
        if (L < 2 || i + 2 + L > n) return VSSM_OK;
        const uint8_t *seg = b + i + 4;
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (sof >= 0 || L < 8) return VSSM_OK;
            sof = m;
            Y = be16(seg + 1);
            X = be16(seg + 3);
            nf = seg[5];
            if (nf < 1 || nf > 4 || L < 8 + 3 * (size_t)nf) return VSSM_OK;
            for (int c = 0; c < nf; c++) {
                cid[c] = seg[6 + 3 * c];
                ch[c] = seg[7 + 3 * c] >> 4;
                cv[c] = seg[7 + 3 * c] & 15;
                if (ch[c] < 1 || ch[c] > 4 || cv[c] < 1 || cv[c] > 4) return VSSM_OK;
                hmax = ch[c] > hmax ? ch[c] : hmax;
                vmax = cv[c] > vmax ? cv[c] : vmax;
            }
            if (sof != 0xC0 && sof != 0xC1 && sof != 0xC2) return VSSM_OK; /* arithmetic, lossless */
            if (X == 0 || Y == 0) return VSSM_OK;                          /* DNL: left to the decoder */
        }
        i += 2 + L;
        if (m != 0xDA) continue;
        /* SOS: which blocks this scan codes, then the length of its entropy-coded data */
        if (sof < 0 || L < 6) return VSSM_OK;
        int ns = seg[0];
        if (ns < 1 || ns > 4 || L < 6 + 2 * (size_t)ns) return VSSM_OK;
        int ss = seg[1 + 2 * ns];
        uint64_t blocks = 0;
        if (ns == 1) {
            int c = 0;
            while (c < nf && cid[c] != seg[1]) c++;
            if (c == nf) return VSSM_OK;
            uint64_t cw = ((uint64_t)X * ch[c] + hmax - 1) / hmax, chh = ((uint64_t)Y * cv[c] + vmax - 1) / vmax;
            blocks = ((cw + 7) / 8) * ((chh + 7) / 8);
        } else {
            uint64_t per = 0;
            for (int k = 0; k < ns; k++) {
                int c = 0;
                while (c < nf && cid[c] != seg[1 + 2 * k]) c++;
                if (c == nf) return VSSM_OK;
                per += (uint64_t)ch[c] * cv[c];
            }
            blocks = (((uint64_t)X + 8 * hmax - 1) / (8 * hmax)) * (((uint64_t)Y + 8 * vmax - 1) / (8 * vmax)) * per;
        }
        size_t j = i;
        while (j + 1 < n && !(b[j] == 0xFF && b[j + 1] != 0x00 && !(b[j + 1] >= 0xD0 && b[j + 1] <= 0xD7))) j++;
        if (j + 1 >= n) j = n;
        size_t data = j - i;
        int counts = sof != 0xC2 || ss == 0; /* sequential, or a progressive DC scan */
        if (counts && (uint64_t)data * 8 < blocks)
            return vssm_err_set(err, VSSM_ERR_FORMAT,
                                "%s: truncated JPEG data (a scan of the %ux%u image codes %llu blocks, "
                                "which take at least %llu bytes, but the file holds %zu)",
                                name, X, Y, (unsigned long long)blocks, (unsigned long long)((blocks + 7) / 8), data);
        i = j;
    }
    return VSSM_OK;
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
        st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: unreadable JPEG header (%s)", name, tjGetErrorStr2(tj));
        goto done;
    }
    if ((st = check_size(name, "JPEG", w, h, lim, err)) != VSSM_OK) goto done;
    if ((st = jpeg_check_scan_sizes(buf, n, name, err)) != VSSM_OK) goto done;
    if ((st = vssm_image_alloc(out, w, h, 3, err)) != VSSM_OK) {
        vssm_err_prefix(err, "%s", name);
        goto done;
    }

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
    /* LIMITSCANS: more than 500 scans is refused - libjpeg-turbo's guard against a
     * progressive file of many tiny scans, each a full pass over the coefficients (minutes
     * of CPU from a few MB). PIL has no such limit; real encoders write about 10 scans. */
    int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS;
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
static void png_row_to_rgb(const uint8_t *in, uint8_t *out, int w, int color_type, int depth, const png_color *pal,
                           int npal) {
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

/* The bytes of all IDAT chunks of a PNG in memory (chunk lengths checked against the
 * buffer; a chunk running past the end counts only what is there). */
static uint64_t png_idat_bytes(const uint8_t *b, size_t n) {
    uint64_t total = 0;
    size_t i = 8;
    while (i + 8 <= n) {
        uint64_t len = (uint64_t)b[i] << 24 | (uint64_t)b[i + 1] << 16 | (uint64_t)b[i + 2] << 8 | b[i + 3];
        size_t avail = n - (i + 8);
        if (memcmp(b + i + 4, "IDAT", 4) == 0) total += len < avail ? len : avail;
        if (len + 4 > avail) break;
        i += 8 + (size_t)len + 4;
    }
    return total;
}

typedef struct png_state {
    png_src src;
    png_structp png;
    png_infop info;
    uint8_t *rows;
    png_bytepp rowp;
    vssm_status st;
} png_state;

static int want_channels_of(int color_type) {
    static const int ch[7] = {1, 0, 3, 1, 2, 0, 4}; /* by PNG colour type */
    return color_type >= 0 && color_type <= 6 ? ch[color_type] : 0;
}

/* Deflate expands at most 1032 times (a 2-bit code for a 258-byte match): pixel data of
 * w * h * bits / 8 bytes needs at least that / 1032 bytes of IDAT. A file cut short (or a
 * header edited to claim more) is refused before any allocation. */
static vssm_status png_check_idat(const uint8_t *buf, size_t n, const char *name, png_uint_32 w, png_uint_32 h,
                                  int depth, int color_type, vssm_err *err) {
    int bits = depth * want_channels_of(color_type);
    uint64_t need = ((uint64_t)w * (uint64_t)bits + 7) / 8 * (uint64_t)h;
    uint64_t idat = png_idat_bytes(buf, n);
    if (bits > 0 && need / 1032 > idat + 64)
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "%s: truncated PNG data (a %ux%u image needs at least %llu bytes of "
                            "compressed data, the file holds %llu)",
                            name, (unsigned)w, (unsigned)h, (unsigned long long)(need / 1032),
                            (unsigned long long)idat);
    return VSSM_OK;
}

/* The pixels into out (allocated, w x h x 3). Called under decode_png's setjmp: libpng's
 * errors jump back there, and every buffer lives in v. */
static vssm_status png_read_pixels(png_state *v, vssm_image *out, const char *name, int interlace, size_t rowbytes,
                                   int color_type, int depth, png_colorp pal, int npal, vssm_err *err) {
    const png_uint_32 w = (png_uint_32)out->w, h = (png_uint_32)out->h;
    if (interlace == PNG_INTERLACE_NONE) {
        /* one row at a time, converted straight into the output: no second full-size buffer */
        v->rows = (uint8_t *)malloc(rowbytes);
        if (!v->rows)
            return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory for a %ux%u image", name, (unsigned)w,
                                (unsigned)h);
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(v->png, v->rows, NULL);
            png_row_to_rgb(v->rows, out->data + (size_t)y * w * 3, (int)w, color_type, depth, pal, npal);
        }
        return VSSM_OK;
    }
    /* Adam7 fills every row over seven passes: the whole decoded image is needed */
    v->rows = (uint8_t *)malloc(rowbytes * h);
    v->rowp = (png_bytepp)malloc(sizeof(png_bytep) * h);
    if (!v->rows || !v->rowp)
        return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory for %ux%u pixels", name, (unsigned)w, (unsigned)h);
    for (png_uint_32 y = 0; y < h; y++) v->rowp[y] = v->rows + rowbytes * y;
    png_read_image(v->png, v->rowp);
    for (png_uint_32 y = 0; y < h; y++)
        png_row_to_rgb(v->rowp[y], out->data + (size_t)y * w * 3, (int)w, color_type, depth, pal, npal);
    return VSSM_OK;
}

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
        if (v->st == VSSM_OK) v->st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: corrupt PNG (%s)", name, v->src.msg);
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
    if ((v->st = png_check_idat(buf, n, name, w, h, depth, color_type, err)) != VSSM_OK) goto done;

    if (depth < 8) {
        if (color_type == PNG_COLOR_TYPE_GRAY)
            png_set_expand_gray_1_2_4_to_8(v->png);
        else
            png_set_packing(v->png); /* palette indices, one per byte */
    }
    /* No png_set_expand / tRNS / gamma / strip_16: the conversions are PIL's, done below. */
    png_set_interlace_handling(v->png);
    png_read_update_info(v->png, v->info);
    static const int want_channels[7] = {1, 0, 3, 1, 2, 0, 4}; /* by PNG colour type */
    if (color_type < 0 || color_type > 6 || want_channels[color_type] == 0 ||
        png_get_channels(v->png, v->info) != want_channels[color_type] ||
        png_get_bit_depth(v->png, v->info) != (depth == 16 ? 16 : 8)) {
        v->st = vssm_err_set(err, VSSM_ERR_FORMAT,
                             "%s: unsupported PNG layout (colour type %d, "
                             "depth %d)",
                             name, color_type, depth);
        goto done;
    }
    size_t rowbytes = png_get_rowbytes(v->png, v->info);
    if (rowbytes < (size_t)w || rowbytes > SIZE_MAX / h) {
        v->st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: PNG row size overflow", name);
        goto done;
    }
    png_colorp pal = NULL;
    int npal = 0;
    if (color_type == PNG_COLOR_TYPE_PALETTE && !png_get_PLTE(v->png, v->info, &pal, &npal)) {
        v->st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: palette PNG without a PLTE chunk", name);
        goto done;
    }
    if ((v->st = vssm_image_alloc(out, (int)w, (int)h, 3, err)) != VSSM_OK) {
        vssm_err_prefix(err, "%s", name);
        goto done;
    }
    if ((v->st = png_read_pixels(v, out, name, interlace, rowbytes, color_type, depth, pal, npal, err)) != VSSM_OK)
        goto done;
    png_read_end(v->png, NULL); /* reaches IEND: a truncated file is refused, as PIL does */
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

/* stb reads through these callbacks rather than from memory, because from memory it
 * silently reads zeros past the end: here every request beyond the last byte is
 * recorded, and a decode that needed bytes the file does not have is refused as
 * truncated (PIL: "image file is truncated"). */
typedef struct stb_src {
    const uint8_t *p;
    size_t n, pos;
    int overrun;
} stb_src;

static int stb_read(void *user, char *data, int size) {
    stb_src *s = (stb_src *)user;
    if (size <= 0) return 0;
    size_t left = s->n - s->pos, k = (size_t)size < left ? (size_t)size : left;
    if (k == 0) s->overrun = 1;
    memcpy(data, s->p + s->pos, k);
    s->pos += k;
    return (int)k;
}

static void stb_skip(void *user, int k) {
    stb_src *s = (stb_src *)user;
    if (k < 0) return; /* stb handles a negative skip itself, never calls this with one */
    if ((size_t)k > s->n - s->pos) {
        s->overrun = 1;
        s->pos = s->n;
    } else {
        s->pos += (size_t)k;
    }
}

static int stb_eof(void *user) {
    stb_src *s = (stb_src *)user;
    return s->pos >= s->n;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The fewest bytes a file of this format and size can have (0: no bound known), from
 * its header: checked before stb allocates the pixels. */
static uint64_t stb_min_bytes(const uint8_t *b, size_t n, vssm_image_format fmt, uint64_t w, uint64_t h) {
    switch (fmt) {
    case VSSM_IMAGE_FORMAT_BMP: {
        if (n < 30) return 0;
        uint32_t off = le32(b + 10), hsz = le32(b + 14);
        unsigned bpp = hsz == 12 ? (unsigned)(b[24] | b[25] << 8) : (unsigned)(b[28] | b[29] << 8);
        uint32_t compression = hsz == 12 || n < 34 ? 0 : le32(b + 30);
        if (bpp == 0 || bpp > 32 || (compression != 0 && compression != 3 && compression != 6))
            return 0; /* RLE and the rest: stb refuses them anyway */
        /* rows are padded to 4 bytes, the last one too (PIL reads whole rows) */
        return (uint64_t)off + ((w * bpp + 31) / 32) * 4 * h;
    }
    case VSSM_IMAGE_FORMAT_TGA: {
        if (n < 18) return 0;
        int rle = (b[2] & 8) != 0, depth = b[16];
        uint64_t bpp = (uint64_t)(depth + 7) / 8;
        if (bpp == 0) bpp = 1;
        uint64_t head = 18 + (uint64_t)b[0]; /* header + image id; the colour map comes on top */
        /* a raw pixel takes bpp bytes; an RLE packet (1 + bpp bytes) covers <= 128 pixels */
        return rle ? head + (w * h + 127) / 128 * (1 + bpp) : head + w * h * bpp;
    }
    case VSSM_IMAGE_FORMAT_GIF:
        /* LZW: codes are >= 3 bits and each gives at most 4096 pixels */
        return (w * h / 4096) * 3 / 8;
    default: return 0;
    }
}

/* Binary PNM (P5 gray, P6 RGB), read here rather than by stb: Debian's stb 2.27 overflows
 * an int on a 10-digit header field (undefined behaviour) and reads past its buffer on
 * every 16-bit P5 (it widens gray to RGB with its 8-bit converter, then reads 16-bit
 * samples from it); fuzz_image found both. Header: "P5|P6", width, height, maxval
 * (1..65535) as decimal fields separated by whitespace or '#' comments, one whitespace
 * byte, then w * h * channels samples of 1 byte (maxval < 256) or 2 (big-endian). As stb
 * did: samples are not rescaled by maxval, a 16-bit sample keeps its high byte, gray is
 * replicated to RGB. */
static vssm_status decode_pnm(vssm_image *out, const uint8_t *b, size_t n, const char *name,
                              const vssm_image_limits *lim, vssm_err *err) {
    static const char *const what[3] = {"width", "height", "maxval"};
    size_t i = 2;
    int64_t f[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        for (;;) {
            while (i < n && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r'))) i++;
            if (i < n && b[i] == '#') {
                while (i < n && b[i] != '\n' && b[i] != '\r') i++;
                continue;
            }
            break;
        }
        if (i >= n || b[i] < '0' || b[i] > '9')
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: PNM header: %s is missing or not a number", name, what[k]);
        for (; i < n && b[i] >= '0' && b[i] <= '9'; i++) {
            f[k] = f[k] * 10 + (b[i] - '0');
            if (f[k] > INT_MAX)
                return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: PNM header: %s is too large", name, what[k]);
        }
    }
    if (f[2] < 1 || f[2] > 65535)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: PNM maxval %lld is outside 1..65535", name, (long long)f[2]);
    if (i >= n || !(b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r')))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: PNM header does not end in whitespace", name);
    i++;
    vssm_status st = check_size(name, "pnm", f[0], f[1], lim, err);
    if (st != VSSM_OK) return st;
    const int w = (int)f[0], h = (int)f[1], ch = b[1] == '6' ? 3 : 1, bps = f[2] > 255 ? 2 : 1;
    const uint64_t need = (uint64_t)w * (uint64_t)h * (uint64_t)ch * (uint64_t)bps; /* < 2^62 after check_size */
    if (need > n - i)
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "%s: truncated pnm data (a %dx%d image needs %llu bytes of samples, the file has %zu)",
                            name, w, h, (unsigned long long)need, n - i);
    if ((st = vssm_image_alloc(out, w, h, 3, err)) != VSSM_OK) {
        vssm_err_prefix(err, "%s", name);
        return st;
    }
    const uint8_t *p = b + i;
    const size_t px = (size_t)w * (size_t)h;
    for (size_t j = 0; j < px; j++)
        for (int c = 0; c < 3; c++) out->data[j * 3 + c] = p[(j * ch + (ch == 3 ? c : 0)) * bps];
    return VSSM_OK;
}

static vssm_status decode_stb(vssm_image *out, const uint8_t *buf, size_t n, const char *name, vssm_image_format fmt,
                              const vssm_image_limits *lim, vssm_err *err) {
    const char *fname = vssm_image_format_name(fmt);
    if (n > INT_MAX) return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: %s file too large", name, fname);
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(buf, (int)n, &w, &h, &comp))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: unreadable %s header (%s)", name, fname, stbi_failure_reason());
    vssm_status st = check_size(name, fname, w, h, lim, err);
    if (st != VSSM_OK) return st;
    uint64_t need = stb_min_bytes(buf, n, fmt, (uint64_t)w, (uint64_t)h);
    if (need > n)
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "%s: truncated %s data (a %dx%d image needs at least %llu bytes, the "
                            "file has %zu)",
                            name, fname, w, h, (unsigned long long)need, n);
    stb_src src = {buf, n, 0, 0};
    stbi_io_callbacks cb = {stb_read, stb_skip, stb_eof};
    int w2 = 0, h2 = 0;
    uint8_t *px = stbi_load_from_callbacks(&cb, &src, &w2, &h2, &comp, 3);
    if (!px)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: corrupt %s data (%s)", name, fname,
                            src.overrun ? "file ends early" : stbi_failure_reason());
    if (src.overrun) {
        stbi_image_free(px);
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "%s: truncated %s data (the file ends before "
                            "the pixels it promises)",
                            name, fname);
    }
    if (w2 != w || h2 != h) {
        stbi_image_free(px);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: %s size changed while decoding", name, fname);
    }
    /* stb's buffer comes from malloc (STBI_MALLOC's default), as vssm_image_alloc's does:
     * adopt it instead of copying it */
    out->data = px;
    out->w = w;
    out->h = h;
    out->c = 3;
    return VSSM_OK;
}

/* ------------------------------------------------------------------ entry points */

int vssm_image_probe(const void *buf, size_t n, int *w, int *h, int64_t *decode_bytes) {
    const uint8_t *b = (const uint8_t *)buf;
    int64_t W = 0, H = 0, per = 0; /* per: bytes a pixel takes while it decodes, the output's 3 included */
    const vssm_image_format fmt = vssm_image_sniff(buf, n);
    if (fmt == VSSM_IMAGE_FORMAT_PNG && n >= 29 && !memcmp(b + 12, "IHDR", 4)) {
        W = (int64_t)b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19];
        H = (int64_t)b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23];
        const int depth = b[24], ct = b[25], ch = ct == 2 ? 3 : ct == 4 ? 2 : ct == 6 ? 4 : 1;
        per = (int64_t)ch * (depth > 8 ? 2 : 1) + 3; /* an interlaced image is held whole (rowbytes x h) */
    } else if (fmt == VSSM_IMAGE_FORMAT_JPEG) {
        /* the frame header (SOFn), found by walking the markers: no decoder made for a probe
         * that runs before every image's decode */
        for (size_t i = 2; i + 4 <= n;) {
            const int m = b[i + 1];
            if (b[i] != 0xFF) break;
            if (m == 0xFF) { /* fill */
                i++;
                continue;
            }
            if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* markers without a length */
                i += 2;
                continue;
            }
            if (m == 0xDA || m == 0xD9) break; /* the scan came first: no frame header */
            const size_t len = be16(b + i + 2);
            if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
                if (len >= 8 && i + 10 <= n) H = be16(b + i + 5), W = be16(b + i + 7), per = b[i + 9] == 4 ? 7 : 3;
                break;
            }
            if (len < 2) break;
            i += 2 + len;
        }
    } else if (fmt != VSSM_IMAGE_FORMAT_UNKNOWN && fmt != VSSM_IMAGE_FORMAT_PNM && n <= INT_MAX) {
        /* not PNM: stb_image 2.27's PNM header parser overflows an int on a 10-digit field (UB;
         * fuzz regress/image/pnm_huge_width_int_overflow), the reason vssm decodes PNM itself */
        int sw = 0, sh = 0, comp = 0;
        if (stbi_info_from_memory(b, (int)n, &sw, &sh, &comp)) W = sw, H = sh, per = (int64_t)comp + 3;
    }
    if (W < 1 || H < 1 || W > INT_MAX || H > INT_MAX) return 0;
    if (w) *w = (int)W;
    if (h) *h = (int)H;
    /* W * H * per passes int64 for a PNG of 2^31 - 1 a side (fuzz regress/image/probe_size_overflow) */
    const double bytes = (double)W * (double)H * (double)per;
    if (decode_bytes) *decode_bytes = bytes >= 9.2e18 ? INT64_MAX : (int64_t)bytes;
    return 1;
}

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
            return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "%s: PNM type P%c is not supported (only binary P5/P6)",
                                name, b[1]);
        return decode_pnm(out, b, n, name, lim, err);
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

/* The most bytes an image file within the pixel limit may have: 9 bytes a pixel covers
 * the largest raw layouts (16-bit RGBA PNG stored uncompressed, 32-bit BMP, 16-bit PPM)
 * and noisy quality-100 JPEGs, plus 64 MB of metadata (ICC profiles, EXIF, XMP). */
static uint64_t max_file_bytes(const vssm_image_limits *lim) {
    int64_t max = lim ? lim->max_pixels : 0;
    if (max == 0) max = VSSM_IMAGE_MAX_PIXELS_DEFAULT;
    if (max < 0 || (uint64_t)max > (UINT64_MAX - ((uint64_t)64 << 20)) / 9) return UINT64_MAX;
    return (uint64_t)max * 9 + ((uint64_t)64 << 20);
}

vssm_status vssm_image_load(vssm_image *out, const char *path, const vssm_image_limits *lim, vssm_err *err) {
    if (out) memset(out, 0, sizeof(*out));
    if (!path || !out) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_image_load: NULL argument");
    /* O_NONBLOCK for the open only: a named pipe without a writer would block it forever
     * (it reads as empty instead); reads then block as usual. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    int fl = fcntl(fd, F_GETFL);
    if (fl != -1) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open (%s)", path, strerror(e));
    }
    /* A file too large for any image within the pixel limit is refused before it is read;
     * a stream without a size (a pipe, /dev/zero) is read only up to that many bytes. */
    const uint64_t limit = max_file_bytes(lim);
    struct stat sb;
    memset(&sb, 0, sizeof sb); /* fstat failing: read as a stream */
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return vssm_err_set(err, VSSM_ERR_IO, "%s: is a folder, not an image file", path);
    }
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > limit) {
        fclose(f);
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "%s: file of %lld bytes is larger than any image within the pixel limit "
                            "can be (%llu bytes; raise vssm_image_limits.max_pixels to allow it)",
                            path, (long long)sb.st_size, (unsigned long long)limit);
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    vssm_status st = VSSM_OK;
    for (;;) {
        if ((uint64_t)n > limit) {
            st = vssm_err_set(err, VSSM_ERR_FORMAT,
                              "%s: more than %llu bytes, larger than any image within the pixel limit "
                              "can be",
                              path, (unsigned long long)limit);
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = ncap > cap ? (uint8_t *)realloc(buf, ncap) : NULL;
            if (!nb) {
                st = vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory reading the file", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - n;
        if (limit != UINT64_MAX && (uint64_t)want > limit + 1 - n)
            want = (size_t)(limit + 1 - n); /* one byte past the limit: notices "more" */
        size_t got = fread(buf + n, 1, want, f);
        n += got;
        if (!S_ISREG(sb.st_mode) && n >= 18 && n - got < 18 &&
            vssm_image_sniff(buf, n) == VSSM_IMAGE_FORMAT_UNKNOWN) { /* a stream (/dev/zero): known at once */
            st = vssm_err_set(err, VSSM_ERR_FORMAT,
                              "%s: not an image vssm can read (unknown content: expected JPEG, PNG, BMP, GIF, PNM or "
                              "TGA)",
                              path);
            break;
        }
        if (got == 0) {
            if (ferror(f)) st = vssm_err_set(err, VSSM_ERR_IO, "%s: read error (%s)", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == VSSM_OK) st = vssm_image_decode_mem(out, buf, n, path, lim, err);
    free(buf);
    return st;
}
