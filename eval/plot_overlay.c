/* eval/plot_overlay.c - `vssm segment --overlay`: the image blended with its label colours,
 * and beside it a legend of the classes it shows (swatch, name, share of the pixels), as
 * mmseg's visualizer names the classes present. An RGB PNG through eval/plot.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cnum.h"
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
        vssm_snprintf_c(buf, n, "%.1f%%", p);
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

/* the blend (half image, half label colour), as before the legend; NULL when out of memory */
static cairo_surface_t *blend_surface(const vssm_image *im, const uint8_t *labels, const uint8_t *palette) {
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, im->w, im->h);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return NULL;
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
    return img;
}

/* the legend's geometry: font size, row height, swatch side, and the panel's width and height */
typedef struct legend {
    double fs, row_h, sw, pad, w, h;
    int rows, more;
} legend;

/* measures the nr rows of text; 0 or out of memory */
static int legend_measure(legend *L, int img_h, char (*text)[320], int nr) {
    L->fs = fmin(28, fmax(11, round(img_h / 32.0))); /* its text scales with the image (12 units at 384 rows) */
    cairo_t *m = vssm_plot_measure_new();
    if (!m) return 1;
    vssm_plot_font(m, L->fs, 0);
    double th = vssm_plot_text_height(m), tw = vssm_plot_text_width(m, "classes");
    char fit[400];
    for (int i = 0; i < nr; i++)
        tw = fmax(tw, vssm_plot_text_width(m, vssm_plot_fit(m, text[i], 22 * L->fs, fit, sizeof fit)));
    cairo_destroy(m);
    L->row_h = th + 0.4 * L->fs;
    L->pad = L->fs;
    L->sw = th;
    L->w = ceil(L->pad + L->sw + 0.5 * L->fs + tw + L->pad);
    L->h = ceil(L->pad + L->row_h * (nr + 1) + L->pad);
    L->rows = nr;
    return 0;
}

/* a heading, then one swatch and line per class, the largest first, right of the image */
static void legend_draw(cairo_t *cr, const legend *L, double x_img, const entry *e, const uint8_t *palette,
                        char (*text)[320]) {
    const double x0 = x_img + L->pad, fs = L->fs;
    char fit[400];
    cairo_set_source_rgb(cr, 0, 0, 0);
    vssm_plot_font(cr, fs, 1);
    vssm_plot_text(cr, x0, L->pad + L->row_h / 2, "classes", 0, 0.5, 0);
    vssm_plot_font(cr, fs, 0);
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < L->rows; i++) {
        double yc = L->pad + L->row_h * (i + 1) + L->row_h / 2;
        if (!(L->more && i == L->rows - 1)) {
            const uint8_t *c = palette + e[i].c * 3;
            cairo_rectangle(cr, x0 + 0.5, yc - L->sw / 2 + 0.5, L->sw - 1, L->sw - 1);
            cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
            cairo_fill_preserve(cr);
            cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
            cairo_stroke(cr);
        }
        cairo_set_source_rgb(cr, 0, 0, 0);
        vssm_plot_text(cr, x0 + L->sw + 0.5 * fs, yc, vssm_plot_fit(cr, text[i], 22 * fs, fit, sizeof fit), 0, 0.5, 0);
    }
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
    char(*text)[320] = malloc(LEGEND_ROWS * sizeof *text);
    legend L = {0};
    if (text) L.rows = legend_rows(e, present, (int64_t)npx, names, classes, text, &L.more);
    const int more = L.more;
    cairo_surface_t *img = NULL;
    if (!text || legend_measure(&L, im->h, text, L.rows) || !(img = blend_surface(im, labels, palette))) {
        free(text);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory for a %dx%d overlay", path, im->w, im->h);
    }
    L.more = more;
    const int W = im->w + (int)L.w, H = im->h > (int)L.h ? im->h : (int)L.h;
    plot_doc d;
    vssm_status st = vssm_plot_begin(&d, path, VSSM_PLOT_PNG, W, H, err);
    if (st == VSSM_OK) {
        cairo_set_source_surface(d.cr, img, 0, 0);
        cairo_paint(d.cr);
        legend_draw(d.cr, &L, im->w, e, palette, text);
        st = vssm_plot_end(&d, err);
    }
    cairo_surface_destroy(img);
    free(text);
    return st;
}
