/* eval/plot_png.c - confusion-matrix heat map as a PNG (vssm_image_write_png: written
 * atomically through vssm/outfile.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vssm/eval.h"
#include "vssm/image.h"

#define VSSM_PLOT_MAX_CLASSES 4096 /* a 4096 x 4096 RGB image: 48 MB */

vssm_status vssm_plot_confusion_png(const char *path, const int64_t *cm, int C, vssm_err *err) {
    if (C < 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "no classes to plot");
    /* one pixel a cell from 256 classes up: the image is C x C, so a class count from a
     * stranger's weights file (up to 100000) would ask for 30 GB */
    if (C > VSSM_PLOT_MAX_CLASSES)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: %d classes are too many for a heat map (at most %d)", path, C,
                            VSSM_PLOT_MAX_CLASSES);
    const int cell = C >= 256 ? 1 : C >= 64 ? 4 : 512 / C, side = cell * C;
    unsigned char *img = malloc((size_t)side * side * 3);
    if (!img) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for a %dx%d plot", side, side);
    for (int r = 0; r < C; r++) {
        int64_t row = 0;
        for (int c = 0; c < C; c++) row += cm[(size_t)r * C + c];
        for (int c = 0; c < C; c++) {
            double v = row ? (double)cm[(size_t)r * C + c] / (double)row : 0;
            unsigned char px[3] = {(unsigned char)(255 - 247 * v), (unsigned char)(255 - 207 * v), (unsigned char)(255 - 148 * v)};
            for (int y = 0; y < cell; y++)
                for (int x = 0; x < cell; x++) {
                    unsigned char *p = img + (((size_t)(r * cell + y)) * side + (size_t)(c * cell + x)) * 3;
                    int grid = cell >= 4 && (x == 0 || y == 0);
                    p[0] = grid ? 200 : px[0];
                    p[1] = grid ? 200 : px[1];
                    p[2] = grid ? 200 : px[2];
                }
        }
    }
    /* the one RGB PNG writer (datasets/image_write.c: through vssm/outfile.h) */
    vssm_image im = {side, side, 3, img};
    vssm_status s = vssm_image_write_png(path, &im, err);
    free(img);
    return s;
}
