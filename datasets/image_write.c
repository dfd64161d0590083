/* datasets/image_write.c - the one RGB PNG writer (libpng, through vssm/outfile.h): masks'
 * overlays, confusion heat maps, tracking frames. Label maps (palette PNGs) are written by
 * datasets/seg.c. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include "vssm/image.h"
#include "vssm/outfile.h"

vssm_status vssm_image_write_png(const char *path, const vssm_image *im, vssm_err *err) {
    if (!im || !im->data || im->c != 3 || im->w < 1 || im->h < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: need a non-empty RGB image to write", path);
    vssm_outfile o;
    vssm_status s0 = vssm_outfile_open(&o, path, err);
    if (s0 != VSSM_OK) return s0;
    /* volatile: changed between setjmp and a possible longjmp */
    volatile vssm_status s = VSSM_OK;
    png_structp png = NULL;
    png_infop info = NULL;
    if (!(png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL)) || !(info = png_create_info_struct(png)))
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory in libpng");
    else if (setjmp(png_jmpbuf(png))) {
        s = vssm_err_set(err, VSSM_ERR_IO, "%s: libpng failed while writing", path);
    } else {
        png_init_io(png, o.f);
        png_set_IHDR(png, info, (png_uint_32)im->w, (png_uint_32)im->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_set_compression_level(png, 3);
        png_write_info(png, info);
        for (int y = 0; y < im->h; y++) png_write_row(png, im->data + (size_t)y * im->w * 3);
        png_write_end(png, NULL);
    }
    if (png) png_destroy_write_struct(&png, info ? &info : NULL);
    if (s != VSSM_OK) {
        vssm_outfile_abort(&o);
        return s;
    }
    return vssm_outfile_commit(&o, err);
}

