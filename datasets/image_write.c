/* datasets/image_write.c - the one PNG writer (libpng, through vssm/outfile.h): RGB images
 * (overlays, tracking frames) and palette label maps (vssm/seg_data.h). */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include "vssm/image.h"
#include "vssm/outfile.h"
#include "vssm/seg_data.h"

/* libpng's errors are kept for the message (it would print them), its warnings dropped */
static void png_on_error(png_structp png, png_const_charp msg) {
    snprintf((char *)png_get_error_ptr(png), 160, "%s", msg);
    png_longjmp(png, 1);
}
static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* w x h pixels: RGB rows (palette NULL) or one palette index a pixel with a 256-entry RGB
 * palette; zlib level `level` (-1: libpng's default). Written to a temp name, renamed when whole. */
static vssm_status png_write(const char *path, const uint8_t *px, int w, int h, const uint8_t *palette, int level,
                             vssm_err *err) {
    vssm_outfile o;
    vssm_status s0 = vssm_outfile_open(&o, path, err);
    if (s0 != VSSM_OK) return s0;
    /* volatile: changed between setjmp and a possible longjmp */
    volatile vssm_status s = VSSM_OK;
    png_structp png = NULL;
    png_infop info = NULL;
    char why[160] = "";
    const size_t row = (size_t)w * (palette ? 1 : 3);
    if (!(png = png_create_write_struct(PNG_LIBPNG_VER_STRING, why, png_on_error, png_on_warning)) ||
        !(info = png_create_info_struct(png))) {
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory in libpng");
    } else if (setjmp(png_jmpbuf(png))) {
        s = vssm_err_set(err, VSSM_ERR_IO, "%s: cannot write the PNG (%s)", path, why);
    } else {
        png_init_io(png, o.f);
        png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                     palette ? PNG_COLOR_TYPE_PALETTE : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        if (level >= 0) png_set_compression_level(png, level);
        if (palette) {
            png_color pal[256];
            for (int i = 0; i < 256; i++) {
                pal[i].red = palette[3 * i];
                pal[i].green = palette[3 * i + 1];
                pal[i].blue = palette[3 * i + 2];
            }
            png_set_PLTE(png, info, pal, 256);
        }
        png_write_info(png, info);
        for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(px + (size_t)y * row));
        png_write_end(png, info);
    }
    if (png) png_destroy_write_struct(&png, info ? &info : NULL);
    if (s != VSSM_OK) {
        vssm_outfile_abort(&o);
        return s;
    }
    return vssm_outfile_commit(&o, err);
}

vssm_status vssm_image_write_png(const char *path, const vssm_image *im, vssm_err *err) {
    if (!im || !im->data || im->c != 3 || im->w < 1 || im->h < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: need a non-empty RGB image to write", path);
    return png_write(path, im->data, im->w, im->h, NULL, 3, err);
}

vssm_status vssm_label_png_write(const char *path, const uint8_t *labels, int w, int h, const uint8_t *palette,
                                 vssm_err *err) {
    if (!path || !labels || !palette || w <= 0 || h <= 0)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: bad label map to write (%dx%d)", path ? path : "(null)", w,
                            h);
    return png_write(path, labels, w, h, palette, -1, err);
}
