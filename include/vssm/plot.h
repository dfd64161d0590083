/* vssm/plot.h - plots with text (cairo): one drawing, written as PNG, SVG or PDF by the
 * extension of the path (.png, .svg, .pdf, any case), through vssm/outfile.h (a unique
 * temporary name beside the path, renamed into place when whole).
 *
 *     vssm_plot_format f;
 *     if (vssm_plot_format_of(path, &f, &err) != VSSM_OK) ...   // check before a long run
 *     vssm_confusion_plot_opts o = {names, "top-1 91.6%", 0};
 *     vssm_plot_confusion(path, m.confusion, m.classes, &o, &err);
 *
 * The look follows matplotlib's defaults (sklearn's ConfusionMatrixDisplay with the Blues
 * map, pytracking's success / precision plots, in track.h): DejaVu Sans or the system's
 * sans-serif, 1 unit = 1 pixel in a PNG and 1 point in an SVG or PDF. */
#ifndef VSSM_PLOT_H
#define VSSM_PLOT_H

#include "vssm/common.h"
#include "vssm/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vssm_plot_format { VSSM_PLOT_PNG = 0, VSSM_PLOT_SVG, VSSM_PLOT_PDF } vssm_plot_format;

/* The format path's extension names; VSSM_ERR_INVALID_ARG naming path and the known
 * extensions when it names none of them. */
VSSM_API vssm_status vssm_plot_format_of(const char *path, vssm_plot_format *fmt, vssm_err *err);

typedef struct vssm_confusion_plot_opts {
    const char *const *names; /* [classes] class names for the axes, or NULL: indices */
    const char *title;        /* NULL: "Confusion matrix" */
    int normalize;            /* 1: cells and colours are percent of the true class (row) */
} vssm_confusion_plot_opts;

/* The largest class count vssm_plot_confusion draws (its counts alone are 32 GiB). */
#define VSSM_PLOT_MAX_CLASSES 65536

/* confusion: (classes, classes), row = true class, column = predicted. Class names on both
 * axes (x labels turned 45 degrees when wider than a cell), the count (or percent) in every
 * cell, a colour bar, axis titles and the title. Past 40 classes the cells lose their text
 * and the axes show class indices; past 1024 each pixel of the matrix sums a block of
 * cells. opts may be NULL. */
VSSM_API vssm_status vssm_plot_confusion(const char *path, const int64_t *confusion, int classes,
                                         const vssm_confusion_plot_opts *opts, vssm_err *err);

/* A segmentation overlay as an RGB PNG: im (RGB, h x w) blended half and half with the
 * palette colour of labels (h * w class indices), and at its right a legend of the classes
 * present (colour swatch, name, share of the pixels; the largest first). names: [classes]
 * (NULL or a NULL entry: "class <i>"); palette: 256 RGB triplets. Always PNG. */
VSSM_API vssm_status vssm_seg_overlay_write(const char *path, const vssm_image *im, const uint8_t *labels,
                                            const uint8_t *palette, const char *const *names, int classes,
                                            vssm_err *err);

#ifdef __cplusplus
}
#endif
#endif
