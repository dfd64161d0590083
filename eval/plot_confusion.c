/* eval/plot_confusion.c - a confusion matrix as sklearn's ConfusionMatrixDisplay draws it
 * (Blues, the value in every cell, a colour bar, class names on both axes), through the
 * page of eval/plot.c: PNG, SVG or PDF by the extension. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cnum.h"
#include "eval/plot_internal.h"
#include "vssm/plot.h"

enum {
    TEXT_MAX = 40,    /* classes up to which cells hold their value and axes their names */
    VECTOR_MAX = 100, /* classes up to which cells are rectangles (an image past it) */
    RASTER_MAX = 1024 /* matrix pixels at most: past it a pixel sums a block of cells */
};
#define PAD 10.0
#define F_TICK 12.0
#define F_LABEL 13.0
#define F_TITLE 15.0
#define NAME_MAX_W 170.0

typedef struct cm_view {
    const int64_t *cm;
    int C, normalize;
    int64_t *row; /* [C] row sums */
    double vmax;  /* top of the colour scale */
} cm_view;

static double cell_value(const cm_view *v, int r, int c) {
    double x = (double)v->cm[(size_t)r * v->C + c];
    if (!v->normalize) return x;
    return v->row[r] ? 100.0 * x / (double)v->row[r] : 0.0;
}

static void cell_text(const cm_view *v, int r, int c, char *buf, size_t n) {
    if (!v->normalize) {
        snprintf(buf, n, "%lld", (long long)v->cm[(size_t)r * v->C + c]);
        return;
    }
    double p = cell_value(v, r, c);
    if (p >= 99.95)
        snprintf(buf, n, "100");
    else
        vssm_snprintf_c(buf, n, "%.1f", p);
}

/* The matrix as an image of nb x nb pixels, each the sum (or, normalised, the mean row
 * share) of a k x k block of cells, coloured on a scale whose top is returned. */
static cairo_surface_t *cells_image(const cm_view *v, int k, int nb, double *vmax) {
    double *acc = calloc((size_t)nb * nb, sizeof *acc);
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, nb, nb);
    if (!acc || cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        free(acc);
        cairo_surface_destroy(img);
        return NULL;
    }
    for (int r = 0; r < v->C; r++)
        for (int c = 0; c < v->C; c++) acc[(size_t)(r / k) * nb + c / k] += cell_value(v, r, c);
    double top = 0;
    for (size_t i = 0; i < (size_t)nb * nb; i++) {
        if (v->normalize) acc[i] /= k; /* rows' share, averaged over the block's rows */
        top = acc[i] > top ? acc[i] : top;
    }
    if (v->normalize) top = 100;
    if (top <= 0) top = 1;
    cairo_surface_flush(img);
    unsigned char *px = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (int y = 0; y < nb; y++)
        for (int x = 0; x < nb; x++) {
            double rgb[3];
            vssm_plot_blues(acc[(size_t)y * nb + x] / top, rgb);
            uint32_t p = (uint32_t)lround(rgb[0] * 255) << 16 | (uint32_t)lround(rgb[1] * 255) << 8 |
                         (uint32_t)lround(rgb[2] * 255);
            memcpy(px + (size_t)y * stride + (size_t)x * 4, &p, 4);
        }
    cairo_surface_mark_dirty(img);
    free(acc);
    *vmax = top;
    return img;
}

typedef struct layout {
    int C, names, cell_text, rotate; /* class names on the axes; values in cells; x names turned */
    double cs, S;                    /* cell size, matrix side */
    double x0, y0, W, H;             /* matrix corner, page size */
    double ylab_w, xlab_h, cb_x, cb_lab_w, cell_font;
    double tick_step; /* class-index tick step (no names) */
} layout;

static const char *class_name(const vssm_confusion_plot_opts *o, int i, char *buf, size_t n) {
    if (o && o->names && o->names[i]) return o->names[i];
    snprintf(buf, n, "%d", i);
    return buf;
}

static void compute_layout(cairo_t *cr, const cm_view *v, const vssm_confusion_plot_opts *o, const char *title,
                           layout *L) {
    const int C = v->C;
    char buf[256], fit[256];
    memset(L, 0, sizeof *L);
    L->C = C;
    L->names = C <= TEXT_MAX;
    if (C <= TEXT_MAX) L->cs = fmax(24, fmin(56, floor(560.0 / C)));
    L->S = C <= TEXT_MAX ? L->cs * C : C <= 800 ? 800 : C <= RASTER_MAX ? C : RASTER_MAX;
    if (C > TEXT_MAX) L->cs = L->S / C;
    vssm_plot_font(cr, F_TICK, 0);
    double th = vssm_plot_text_height(cr), name_w = 0;
    if (L->names)
        for (int i = 0; i < C; i++)
            name_w = fmax(name_w, vssm_plot_text_width(cr, vssm_plot_fit(cr, class_name(o, i, buf, sizeof buf),
                                                                         NAME_MAX_W, fit, sizeof fit)));
    else {
        L->tick_step = fmax(1, vssm_plot_tick_step(C - 1, 8));
        snprintf(buf, sizeof buf, "%d", C - 1);
        name_w = vssm_plot_text_width(cr, buf);
    }
    L->ylab_w = name_w;
    L->rotate = L->names && name_w > L->cs - 4;
    L->xlab_h = L->rotate ? (name_w + th) * sqrt(0.5) : th;
    /* values in the cells when the widest fits */
    if (L->names) {
        L->cell_font = fmin(F_TICK, L->cs * 0.3);
        vssm_plot_font(cr, L->cell_font, 0);
        double w = 0;
        for (int r = 0; r < C; r++)
            for (int c = 0; c < C; c++) {
                cell_text(v, r, c, buf, sizeof buf);
                w = fmax(w, vssm_plot_text_width(cr, buf));
            }
        L->cell_text = L->cell_font >= 7 && w <= L->cs - 4;
    }
    /* colour bar labels */
    vssm_plot_font(cr, F_TICK, 0);
    double step = vssm_plot_tick_step(v->vmax, 6);
    for (double t = 0; t <= v->vmax * (1 + 1e-9); t += step) {
        vssm_plot_tick_label(t, buf, sizeof buf);
        L->cb_lab_w = fmax(L->cb_lab_w, vssm_plot_text_width(cr, buf));
    }
    vssm_plot_font(cr, F_LABEL, 0);
    double lh = vssm_plot_text_height(cr);
    vssm_plot_font(cr, F_TITLE, 1);
    double title_h = vssm_plot_text_height(cr), title_w = vssm_plot_text_width(cr, title);
    L->x0 = PAD + lh + 8 + L->ylab_w + 7;
    L->y0 = PAD + title_h + 12;
    L->cb_x = L->x0 + L->S + 20;
    L->W = ceil(L->cb_x + 16 + 6 + L->cb_lab_w + 8 + lh + PAD);
    L->H = ceil(L->y0 + L->S + 7 + L->xlab_h + 8 + lh + PAD);
    if (L->W < title_w + 2 * PAD) L->W = ceil(title_w + 2 * PAD);
}

static void draw_cells(cairo_t *cr, const cm_view *v, const layout *L) {
    char buf[64];
    if (v->C > VECTOR_MAX) return; /* drawn as an image by the caller */
    for (int r = 0; r < v->C; r++)
        for (int c = 0; c < v->C; c++) {
            double rgb[3], x = L->x0 + c * L->cs, y = L->y0 + r * L->cs, val = cell_value(v, r, c);
            vssm_plot_blues(val / v->vmax, rgb);
            cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
            /* a hair over the cell so that antialiased edges of neighbours do not show seams */
            cairo_rectangle(cr, x, y, L->cs + 0.5, L->cs + 0.5);
            cairo_fill(cr);
        }
    if (!L->cell_text) return;
    vssm_plot_font(cr, L->cell_font, 0);
    double lo[3], hi[3];
    vssm_plot_blues(0, lo);
    vssm_plot_blues(1, hi);
    for (int r = 0; r < v->C; r++)
        for (int c = 0; c < v->C; c++) {
            double val = cell_value(v, r, c);
            const double *tc = val > v->vmax / 2 ? lo : hi; /* sklearn: the far end of the map */
            cairo_set_source_rgb(cr, tc[0], tc[1], tc[2]);
            cell_text(v, r, c, buf, sizeof buf);
            vssm_plot_text(cr, L->x0 + (c + 0.5) * L->cs, L->y0 + (r + 0.5) * L->cs, buf, 0.5, 0.5, 0);
        }
}

static void draw_axes(cairo_t *cr, const cm_view *v, const vssm_confusion_plot_opts *o, const layout *L) {
    char buf[256], fit[256];
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, L->x0, L->y0, L->S, L->S);
    cairo_stroke(cr);
    vssm_plot_font(cr, F_TICK, 0);
    int n_ticks = L->names ? v->C : (int)((v->C - 1) / L->tick_step) + 1;
    for (int t = 0; t < n_ticks; t++) {
        int i = L->names ? t : (int)lround(t * L->tick_step);
        double p = (i + 0.5) * L->S / v->C;
        const char *s = L->names ? vssm_plot_fit(cr, class_name(o, i, buf, sizeof buf), NAME_MAX_W, fit, sizeof fit)
                                 : (snprintf(buf, sizeof buf, "%d", i), buf);
        cairo_move_to(cr, L->x0 - 4, L->y0 + p); /* y tick */
        cairo_line_to(cr, L->x0, L->y0 + p);
        cairo_move_to(cr, L->x0 + p, L->y0 + L->S); /* x tick */
        cairo_line_to(cr, L->x0 + p, L->y0 + L->S + 4);
        cairo_stroke(cr);
        vssm_plot_text(cr, L->x0 - 7, L->y0 + p, s, 1, 0.5, 0);
        if (L->rotate)
            vssm_plot_text(cr, L->x0 + p + 4, L->y0 + L->S + 7, s, 1, 0.5, -M_PI / 4);
        else
            vssm_plot_text(cr, L->x0 + p, L->y0 + L->S + 7, s, 0.5, 0, 0);
    }
    vssm_plot_font(cr, F_LABEL, 0);
    const char *xl = L->names ? "predicted" : "predicted (class index)", *yl = L->names ? "true" : "true (class index)";
    vssm_plot_text(cr, L->x0 + L->S / 2, L->y0 + L->S + 7 + L->xlab_h + 8, xl, 0.5, 0, 0);
    vssm_plot_text(cr, PAD, L->y0 + L->S / 2, yl, 0.5, 0, -M_PI / 2);
}

static void draw_colorbar(cairo_t *cr, const cm_view *v, const layout *L, const char *label) {
    char buf[64];
    const double x = L->cb_x, w = 16, y = L->y0, h = L->S;
    cairo_pattern_t *g = cairo_pattern_create_linear(0, y + h, 0, y);
    for (int i = 0; i <= 8; i++) {
        double rgb[3];
        vssm_plot_blues(i / 8.0, rgb);
        cairo_pattern_add_color_stop_rgb(g, i / 8.0, rgb[0], rgb[1], rgb[2]);
    }
    cairo_rectangle(cr, x, y, w, h);
    cairo_set_source(cr, g);
    cairo_fill(cr);
    cairo_pattern_destroy(g);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, x, y, w, h);
    cairo_stroke(cr);
    vssm_plot_font(cr, F_TICK, 0);
    double step = vssm_plot_tick_step(v->vmax, 6);
    for (double t = 0; t <= v->vmax * (1 + 1e-9); t += step) {
        double ty = y + h - h * t / v->vmax;
        cairo_move_to(cr, x + w, ty);
        cairo_line_to(cr, x + w + 4, ty);
        cairo_stroke(cr);
        vssm_plot_tick_label(t, buf, sizeof buf);
        vssm_plot_text(cr, x + w + 6, ty, buf, 0, 0.5, 0);
    }
    vssm_plot_font(cr, F_LABEL, 0);
    vssm_plot_text(cr, x + w + 6 + L->cb_lab_w + 8, y + h / 2, label, 0.5, 0, -M_PI / 2);
}

vssm_status vssm_plot_confusion(const char *path, const int64_t *confusion, int C, const vssm_confusion_plot_opts *o,
                                vssm_err *err) {
    vssm_plot_format fmt;
    vssm_status st = vssm_plot_format_of(path, &fmt, err);
    if (st != VSSM_OK) return st;
    if (!confusion || C < 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: no classes to plot", path);
    if (C > VSSM_PLOT_MAX_CLASSES)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: %d classes are too many for a confusion plot (at most %d)",
                            path, C, VSSM_PLOT_MAX_CLASSES);
    cm_view v = {confusion, C, o && o->normalize, calloc((size_t)C, sizeof(int64_t)), 0};
    if (!v.row) return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
    int64_t total = 0, diag = 0;
    for (int r = 0; r < C; r++) {
        for (int c = 0; c < C; c++) v.row[r] += confusion[(size_t)r * C + c];
        total += v.row[r];
        diag += confusion[(size_t)r * C + r];
    }
    char title[512];
    if (o && o->title)
        snprintf(title, sizeof title, "%s", o->title);
    else if (total)
        vssm_snprintf_c(title, sizeof title, "Confusion matrix: top-1 %.2f%% of %lld samples", 100.0 * diag / total,
                        (long long)total);
    else
        snprintf(title, sizeof title, "Confusion matrix");
    const char *cb_label = v.normalize ? "% of the true class" : "images";
    /* the colour scale: cells one by one, or the blocks an image pixel sums */
    int k = (C + RASTER_MAX - 1) / RASTER_MAX, nb = (C + k - 1) / k;
    cairo_surface_t *img = NULL;
    if (C > VECTOR_MAX) {
        if (!(img = cells_image(&v, k, nb, &v.vmax))) {
            free(v.row);
            return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
        }
    } else {
        v.vmax = v.normalize ? 100 : 1;
        for (int r = 0; r < C; r++)
            for (int c = 0; c < C; c++) v.vmax = fmax(v.vmax, cell_value(&v, r, c));
    }
    layout L;
    cairo_t *m = vssm_plot_measure_new();
    if (!m) {
        cairo_surface_destroy(img);
        free(v.row);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
    }
    compute_layout(m, &v, o, title, &L);
    cairo_destroy(m);
    plot_doc d;
    if ((st = vssm_plot_begin(&d, path, fmt, (int)L.W, (int)L.H, err)) != VSSM_OK) {
        cairo_surface_destroy(img);
        free(v.row);
        return st;
    }
    cairo_t *cr = d.cr;
    if (img) {
        cairo_save(cr);
        cairo_translate(cr, L.x0, L.y0);
        cairo_scale(cr, L.S / nb, L.S / nb);
        cairo_set_source_surface(cr, img, 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr), L.S >= nb ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
        cairo_rectangle(cr, 0, 0, nb, nb);
        cairo_fill(cr);
        cairo_restore(cr);
        cairo_surface_destroy(img);
    }
    draw_cells(cr, &v, &L);
    draw_axes(cr, &v, o, &L);
    draw_colorbar(cr, &v, &L, cb_label);
    cairo_set_source_rgb(cr, 0, 0, 0);
    vssm_plot_font(cr, F_TITLE, 1);
    vssm_plot_text(cr,
                   fmin(fmax(L.x0 + L.S / 2, PAD + vssm_plot_text_width(cr, title) / 2),
                        L.W - PAD - vssm_plot_text_width(cr, title) / 2),
                   PAD, title, 0.5, 0, 0);
    free(v.row);
    return vssm_plot_end(&d, err);
}
