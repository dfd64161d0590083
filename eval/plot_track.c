/* eval/plot_track.c - pytracking's success and precision plots (plot_results.py: title,
 * axis labels, grid, one curve per tracker with its score in the legend) through the page
 * of eval/plot.c (PNG, SVG or PDF by the extension), and box drawing for
 * `vssm track --video-out`. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eval/plot_internal.h"
#include "vssm/track.h"

/* pytracking's first plot colours (plot_results.get_plot_draw_styles) */
static const uint8_t COLORS[][3] = {{255, 0, 0},   {0, 160, 0},   {0, 0, 255},    {0, 0, 0},
                                    {255, 0, 255}, {0, 200, 200}, {128, 128, 128}};
#define N_COLORS (int)(sizeof COLORS / sizeof COLORS[0])

static void put(vssm_image *im, int x, int y, const uint8_t rgb[3]) {
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return;
    memcpy(im->data + ((size_t)y * im->w + x) * 3, rgb, 3);
}

void vssm_image_draw_box(vssm_image *im, vssm_box b, const uint8_t rgb[3], int thickness) {
    if (!im || !im->data || im->c != 3 || !isfinite(b.x) || !isfinite(b.y) || !isfinite(b.w) || !isfinite(b.h)) return;
    if (thickness < 1) thickness = 1;
    double lim = 4.0 * (im->w + im->h);
    if (thickness > 2 * lim + 1) thickness = (int)(2 * lim + 1); /* thicker lines lie outside the image */
    int x0 = (int)floor(fmax(fmin(b.x, lim), -lim)), y0 = (int)floor(fmax(fmin(b.y, lim), -lim));
    int x1 = (int)floor(fmax(fmin(b.x + b.w, lim), -lim)) - 1, y1 = (int)floor(fmax(fmin(b.y + b.h, lim), -lim)) - 1;
    if (x1 < x0) x1 = x0;
    if (y1 < y0) y1 = y0;
    for (int t = 0; t < thickness; t++) {
        for (int x = (x0 > 0 ? x0 : 0); x <= x1 && x < im->w; x++) {
            put(im, x, y0 + t, rgb);
            put(im, x, y1 - t, rgb);
        }
        for (int y = (y0 > 0 ? y0 : 0); y <= y1 && y < im->h; y++) {
            put(im, x0 + t, y, rgb);
            put(im, x1 - t, y, rgb);
        }
    }
}

/* ---------------------------------------------------------------- plots */

enum { PW = 520, PH = 400 }; /* one panel */
#define ML 62.0              /* margins of the axes inside a panel */
#define MR 18.0
#define MT 40.0
#define MB 52.0

typedef struct panel {
    const vssm_track_curve *c;
    int n;
    double xmax, xstep;
    const char *title, *xlabel, *ylabel;
    int legend_right; /* pytracking: success 'lower left', precision 'lower right' */
} panel;

static double px_x(const panel *p, double ox, double x) { return ox + ML + (PW - ML - MR) * x / p->xmax; }
static double px_y(double y) { return MT + (PH - MT - MB) * (1.0 - y / 100.0); }

static void set_rgb(cairo_t *cr, const uint8_t *c) {
    cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
}

static void draw_legend(cairo_t *cr, const panel *p, double ox) {
    vssm_plot_font(cr, 12, 0);
    double tw = 0, th = vssm_plot_text_height(cr), row = th + 4;
    char fit[256];
    for (int k = 0; k < p->n; k++)
        tw = fmax(tw, vssm_plot_text_width(cr, vssm_plot_fit(cr, p->c[k].label, PW - ML - MR - 60, fit, sizeof fit)));
    double bw = 8 + 24 + 6 + tw + 8, bh = 6 + row * p->n + 2;
    double bx = p->legend_right ? ox + PW - MR - 8 - bw : ox + ML + 8, by = PH - MB - 8 - bh;
    cairo_rectangle(cr, bx, by, bw, bh); /* matplotlib: white box, alpha 0.8, grey edge */
    cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (int k = 0; k < p->n; k++) {
        double y = by + 6 + row * k + th / 2;
        set_rgb(cr, COLORS[k % N_COLORS]);
        cairo_set_line_width(cr, 2);
        cairo_move_to(cr, bx + 8, y);
        cairo_line_to(cr, bx + 32, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        vssm_plot_text(cr, bx + 38, y, vssm_plot_fit(cr, p->c[k].label, PW - ML - MR - 60, fit, sizeof fit), 0, 0.5, 0);
    }
}

static void draw_panel(cairo_t *cr, const panel *p, double ox) {
    char buf[64];
    const double x0 = ox + ML, x1 = ox + PW - MR, y0 = MT, y1 = PH - MB;
    cairo_set_line_width(cr, 1);
    cairo_set_source_rgb(cr, 0.87, 0.87, 0.87); /* grid */
    for (int i = 0; i <= 10; i++) {
        cairo_move_to(cr, x0, px_y(i * 10.0));
        cairo_line_to(cr, x1, px_y(i * 10.0));
    }
    int nx = (int)lround(p->xmax / p->xstep);
    for (int i = 0; i <= nx; i++) {
        cairo_move_to(cr, px_x(p, ox, i * p->xstep), y0);
        cairo_line_to(cr, px_x(p, ox, i * p->xstep), y1);
    }
    cairo_stroke(cr);
    /* curves, clipped to the axes */
    cairo_save(cr);
    cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
    cairo_clip(cr);
    cairo_set_line_width(cr, 2);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (int k = p->n - 1; k >= 0; k--) { /* the first curve on top */
        const vssm_track_curve *c = &p->c[k];
        for (int i = 0; i < c->n; i++) {
            double x = px_x(p, ox, c->n > 1 ? p->xmax * i / (c->n - 1) : 0), y = px_y(isfinite(c->y[i]) ? c->y[i] : 0);
            if (i)
                cairo_line_to(cr, x, y);
            else
                cairo_move_to(cr, x, y);
        }
        set_rgb(cr, COLORS[k % N_COLORS]);
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    /* frame, ticks, tick labels */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
    for (int i = 0; i <= 10; i++) {
        cairo_move_to(cr, x0 - 4, px_y(i * 10.0));
        cairo_line_to(cr, x0, px_y(i * 10.0));
    }
    for (int i = 0; i <= nx; i++) {
        cairo_move_to(cr, px_x(p, ox, i * p->xstep), y1);
        cairo_line_to(cr, px_x(p, ox, i * p->xstep), y1 + 4);
    }
    cairo_stroke(cr);
    vssm_plot_font(cr, 11, 0);
    for (int i = 0; i <= 10; i++) {
        snprintf(buf, sizeof buf, "%d", i * 10);
        vssm_plot_text(cr, x0 - 7, px_y(i * 10.0), buf, 1, 0.5, 0);
    }
    for (int i = 0; i <= nx; i++) {
        vssm_plot_tick_label(i * p->xstep, buf, sizeof buf);
        vssm_plot_text(cr, px_x(p, ox, i * p->xstep), y1 + 7, buf, 0.5, 0, 0);
    }
    vssm_plot_font(cr, 13, 0);
    vssm_plot_text(cr, (x0 + x1) / 2, PH - 8, p->xlabel, 0.5, 1, 0);
    vssm_plot_text(cr, ox + 8, (y0 + y1) / 2, p->ylabel, 0.5, 0, -M_PI / 2);
    vssm_plot_font(cr, 15, 1);
    char fit[512];
    vssm_plot_text(cr, (x0 + x1) / 2, 12, vssm_plot_fit(cr, p->title, PW - 16, fit, sizeof fit), 0.5, 0, 0);
    if (p->n > 0) draw_legend(cr, p, ox);
}

vssm_status vssm_track_plot(const char *path, const vssm_track_curve *success, int n_success,
                            const vssm_track_curve *prec, int n_prec, const char *title, vssm_err *err) {
    vssm_plot_format fmt;
    vssm_status st = vssm_plot_format_of(path, &fmt, err);
    if (st != VSSM_OK) return st;
    if (!success && !prec) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: nothing to plot", path);
    const vssm_track_curve *all[2] = {success, prec};
    int counts[2] = {success ? n_success : 0, prec ? n_prec : 0};
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < counts[s]; k++)
            if (!all[s][k].y || all[s][k].n < 1 || !all[s][k].label)
                return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: curve %d has no points or no label", path, k);
    panel ps[2];
    int np = 0;
    char t1[256], t2[256];
    snprintf(t1, sizeof t1, "Success plot%s%s", title ? " - " : "", title ? title : "");
    snprintf(t2, sizeof t2, "Precision plot%s%s", title ? " - " : "", title ? title : "");
    if (counts[0] > 0)
        ps[np++] = (panel){success, n_success, 1.0, 0.1, t1, "Overlap threshold", "Overlap Precision [%]", 0};
    if (counts[1] > 0)
        ps[np++] = (panel){prec, n_prec, 50.0, 5, t2, "Location error threshold [pixels]", "Distance Precision [%]", 1};
    if (!np) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: no curves to plot", path);
    plot_doc d;
    if ((st = vssm_plot_begin(&d, path, fmt, PW * np, PH, err)) != VSSM_OK) return st;
    for (int i = 0; i < np; i++) draw_panel(d.cr, &ps[i], i * PW);
    return vssm_plot_end(&d, err);
}
