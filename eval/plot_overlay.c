/* eval/plot_overlay.c - `vssm segment --overlay`: the image blended with its label colours,
 * and beside it a legend of the classes it shows (swatch, name, share of the pixels), as
 * mmseg's visualizer names the classes present. An RGB PNG through eval/plot.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/plot_internal.h"
#include "vssm/plot.h"

enum { LEGEND_ROWS = 20 }; /* classes listed at most; the rest are summed in one line */

typedef struct entry {
    int c;
    int64_t n;
} entry;

static int by_count(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return x->c - y->c;
}

static const char *name_of(const char *const *names, int classes, int c, char *buf, size_t n) {
    if (names && c < classes && names[c]) return names[c];
    snprintf(buf, n, "class %d", c);
    return buf;
}

/* a share of the pixels: "12.3%", or "<0.1%" for a few pixels (not "0.0%") */
static void share(char *buf, size_t n, int64_t part, int64_t total) {
    double p = 100.0 * part / total;
    if (p < 0.05)
        snprintf(buf, n, "<0.1%%");
    else
        snprintf(buf, n, "%.1f%%", p);
}

/* the legend's rows of text: "name  12.3%" (and "+ K more  4.5%"); returns the row count */
static int legend_rows(const entry *e, int n_present, int64_t total, const char *const *names, int classes,
                       char rows[][320], int *is_more) {
    int shown = n_present <= LEGEND_ROWS ? n_present : LEGEND_ROWS - 1;
    char buf[32], pc[16];
    for (int i = 0; i < shown; i++) {
        share(pc, sizeof pc, e[i].n, total);
        snprintf(rows[i], 320, "%.280s  %s", name_of(names, classes, e[i].c, buf, sizeof buf), pc);
    }
    *is_more = shown < n_present;
    if (*is_more) {
        int64_t rest = 0;
        for (int i = shown; i < n_present; i++) rest += e[i].n;
        share(pc, sizeof pc, rest, total);
        snprintf(rows[shown], 320, "+ %d more  %s", n_present - shown, pc);
        shown++;
    }
    return shown;
}

vssm_status vssm_seg_overlay_write(const char *path, const vssm_image *im, const uint8_t *labels,
                                   const uint8_t *palette, const char *const *names, int classes, vssm_err *err) {
    if (!path || !im || !im->data || im->c != 3 || im->w < 1 || im->h < 1 || !labels || !palette)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: an overlay needs an RGB image, its labels and a palette",
                            path ? path : "overlay");
    const size_t npx = (size_t)im->w * im->h;
    entry e[256];
    for (int c = 0; c < 256; c++) e[c] = (entry){c, 0};
    for (size_t p = 0; p < npx; p++) e[labels[p]].n++;
    qsort(e, 256, sizeof *e, by_count);
    int present = 0;
    while (present < 256 && e[present].n > 0) present++;
    /* the legend's size: its text scales with the image (12 units at 384 rows) */
    const double fs = fmin(28, fmax(11, round(im->h / 32.0)));
    char(*text)[320] = malloc(LEGEND_ROWS * sizeof *text);
    if (!text) return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
    int more = 0, nr = legend_rows(e, present, (int64_t)npx, names, classes, text, &more);
    cairo_t *m = plot_measure_new();
    if (!m) {
        free(text);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
    }
    plot_font(m, fs, 0);
    double th = plot_text_height(m), row_h = th + 0.4 * fs, tw = plot_text_width(m, "classes");
    char fit[400];
    for (int i = 0; i < nr; i++) tw = fmax(tw, plot_text_width(m, plot_fit(m, text[i], 22 * fs, fit, sizeof fit)));
    cairo_destroy(m);
    const double pad = fs, sw = th, lw = ceil(pad + sw + 0.5 * fs + tw + pad);
    const double lh = ceil(pad + row_h * (nr + 1) + pad);
    const int W = im->w + (int)lw, H = im->h > (int)lh ? im->h : (int)lh;
    /* the blend (half image, half label colour), as before the legend */
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, im->w, im->h);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        free(text);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory for a %dx%d overlay", path, im->w, im->h);
    }
    cairo_surface_flush(img);
    unsigned char *px = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            size_t p = (size_t)y * im->w + x;
            const uint8_t *s = im->data + p * 3, *c = palette + labels[p] * 3;
            uint32_t v = (uint32_t)((s[0] + c[0] + 1) / 2) << 16 | (uint32_t)((s[1] + c[1] + 1) / 2) << 8 |
                         (uint32_t)((s[2] + c[2] + 1) / 2);
            memcpy(px + (size_t)y * stride + (size_t)x * 4, &v, 4);
        }
    cairo_surface_mark_dirty(img);
    plot_doc d;
    vssm_status st = plot_begin(&d, path, VSSM_PLOT_PNG, W, H, err);
    if (st != VSSM_OK) {
        cairo_surface_destroy(img);
        free(text);
        return st;
    }
    cairo_t *cr = d.cr;
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_paint(cr);
    cairo_surface_destroy(img);
    /* the legend: a heading, then one swatch and line per class, the largest first */
    const double x0 = im->w + pad;
    cairo_set_source_rgb(cr, 0, 0, 0);
    plot_font(cr, fs, 1);
    plot_text(cr, x0, pad + row_h / 2, "classes", 0, 0.5, 0);
    plot_font(cr, fs, 0);
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < nr; i++) {
        double yc = pad + row_h * (i + 1) + row_h / 2;
        if (!(more && i == nr - 1)) {
            const uint8_t *c = palette + e[i].c * 3;
            cairo_rectangle(cr, x0 + 0.5, yc - sw / 2 + 0.5, sw - 1, sw - 1);
            cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
            cairo_fill_preserve(cr);
            cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
            cairo_stroke(cr);
        }
        cairo_set_source_rgb(cr, 0, 0, 0);
        plot_text(cr, x0 + sw + 0.5 * fs, yc, plot_fit(cr, text[i], 22 * fs, fit, sizeof fit), 0, 0.5, 0);
    }
    free(text);
    return plot_end(&d, err);
}
