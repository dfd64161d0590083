/* eval/track_plot.c - success and precision plots (SVG with text, or a PNG without),
 * box drawing and an atomic PNG writer for `vssm track --video-out`. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vssm/outfile.h"
#include "vssm/track.h"

/* pytracking's first plot colours (plot_results.get_plot_draw_styles) */
static const uint8_t COLORS[][3] = {{255, 0, 0}, {0, 160, 0}, {0, 0, 255}, {0, 0, 0}, {255, 0, 255}, {0, 200, 200}, {128, 128, 128}};
#define N_COLORS (int)(sizeof COLORS / sizeof COLORS[0])

static void put(vssm_image *im, int x, int y, const uint8_t rgb[3]) {
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return;
    memcpy(im->data + ((size_t)y * im->w + x) * 3, rgb, 3);
}

void vssm_image_draw_box(vssm_image *im, vssm_box b, const uint8_t rgb[3], int thickness) {
    if (!im || !im->data || im->c != 3 || !isfinite(b.x) || !isfinite(b.y) || !isfinite(b.w) || !isfinite(b.h)) return;
    if (thickness < 1) thickness = 1;
    double lim = 4.0 * (im->w + im->h);
    int x0 = (int)floor(fmax(fmin(b.x, lim), -lim)), y0 = (int)floor(fmax(fmin(b.y, lim), -lim));
    int x1 = (int)floor(fmax(fmin(b.x + b.w, lim), -lim)) - 1, y1 = (int)floor(fmax(fmin(b.y + b.h, lim), -lim)) - 1;
    if (x1 < x0) x1 = x0;
    if (y1 < y0) y1 = y0;
    for (int t = 0; t < thickness; t++) {
        for (int x = (x0 > 0 ? x0 : 0); x <= x1 && x < im->w; x++) { put(im, x, y0 + t, rgb); put(im, x, y1 - t, rgb); }
        for (int y = (y0 > 0 ? y0 : 0); y <= y1 && y < im->h; y++) { put(im, x0 + t, y, rgb); put(im, x1 - t, y, rgb); }
    }
}

/* thick line by stepping along the longer axis */
static void line(vssm_image *im, double xa, double ya, double xb, double yb, const uint8_t rgb[3], int th) {
    double dx = xb - xa, dy = yb - ya;
    int steps = (int)ceil(fmax(fabs(dx), fabs(dy))) + 1;
    for (int i = 0; i <= steps; i++) {
        double x = xa + dx * i / steps, y = ya + dy * i / steps;
        for (int oy = -(th / 2); oy <= th / 2; oy++)
            for (int ox = -(th / 2); ox <= th / 2; ox++) put(im, (int)lround(x) + ox, (int)lround(y) + oy, rgb);
    }
}

/* ---------------------------------------------------------------- plots */

enum { PW = 480, PH = 360, ML = 60, MR = 20, MT = 36, MB = 50 };

typedef struct panel {
    const vssm_track_curve *c;
    int n;
    double xmax;
    const char *title, *xlabel;
    int xticks;   /* number of intervals */
} panel;

static double px_x(const panel *p, int ox, double x) { return ox + ML + (PW - ML - MR) * x / p->xmax; }
static double px_y(double y) { return MT + (PH - MT - MB) * (1.0 - y / 100.0); }
static double curve_x(const panel *p, const vssm_track_curve *c, int i) {
    return c->n > 1 ? p->xmax * i / (c->n - 1) : 0.0;
}

static void svg_escape(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static void svg_panel(FILE *f, const panel *p, int ox) {
    fprintf(f, "<g font-family=\"sans-serif\" font-size=\"12\">\n");
    fprintf(f, "<text x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">", ox + PW / 2);
    svg_escape(f, p->title);
    fprintf(f, "</text>\n");
    for (int i = 0; i <= 10; i++) {   /* y grid every 10 % */
        double y = px_y(i * 10.0);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>", ox + ML, y, ox + PW - MR, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d</text>\n", ox + ML - 6, y + 4, i * 10);
    }
    for (int i = 0; i <= p->xticks; i++) {
        double xv = p->xmax * i / p->xticks, x = px_x(p, ox, xv);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>", x, MT, x, PH - MB);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x, PH - MB + 16, xv);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#000\"/>\n", ox + ML, MT, PW - ML - MR,
            PH - MT - MB);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", ox + ML + (PW - ML - MR) / 2, PH - 12);
    svg_escape(f, p->xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", ox + 16,
            MT + (PH - MT - MB) / 2, p->xmax > 1 ? "Distance Precision [%]" : "Overlap Precision [%]");
    for (int k = 0; k < p->n; k++) {
        const vssm_track_curve *c = &p->c[k];
        const uint8_t *col = COLORS[k % N_COLORS];
        fprintf(f, "<polyline fill=\"none\" stroke=\"rgb(%d,%d,%d)\" stroke-width=\"2\" points=\"", col[0], col[1], col[2]);
        for (int i = 0; i < c->n; i++) fprintf(f, "%.2f,%.2f ", px_x(p, ox, curve_x(p, c, i)), px_y(c->y[i]));
        fprintf(f, "\"/>\n");
        /* legend: lower left for success, lower right for precision (as pytracking) */
        int lx = p->xmax > 1 ? ox + PW - MR - 200 : ox + ML + 10, ly = PH - MB - 12 - 18 * (p->n - 1 - k);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"rgb(%d,%d,%d)\" stroke-width=\"2\"/>", lx, ly - 4,
                lx + 20, ly - 4, col[0], col[1], col[2]);
        fprintf(f, "<text x=\"%d\" y=\"%d\">", lx + 26, ly);
        svg_escape(f, c->label ? c->label : "");
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</g>\n");
}

static void png_panel(vssm_image *im, const panel *p, int ox) {
    static const uint8_t grid[3] = {221, 221, 221}, black[3] = {0, 0, 0};
    for (int i = 0; i <= 10; i++) line(im, ox + ML, px_y(i * 10.0), ox + PW - MR, px_y(i * 10.0), grid, 1);
    for (int i = 0; i <= p->xticks; i++) {
        double x = px_x(p, ox, p->xmax * i / p->xticks);
        line(im, x, MT, x, PH - MB, grid, 1);
    }
    line(im, ox + ML, MT, ox + PW - MR, MT, black, 1);
    line(im, ox + ML, PH - MB, ox + PW - MR, PH - MB, black, 1);
    line(im, ox + ML, MT, ox + ML, PH - MB, black, 1);
    line(im, ox + PW - MR, MT, ox + PW - MR, PH - MB, black, 1);
    for (int k = 0; k < p->n; k++) {
        const vssm_track_curve *c = &p->c[k];
        for (int i = 1; i < c->n; i++)
            line(im, px_x(p, ox, curve_x(p, c, i - 1)), px_y(c->y[i - 1]), px_x(p, ox, curve_x(p, c, i)), px_y(c->y[i]),
                 COLORS[k % N_COLORS], 3);
    }
}

vssm_status vssm_track_plot(const char *path, const vssm_track_curve *success, int n_success,
                            const vssm_track_curve *prec, int n_prec, const char *title, vssm_err *err) {
    if (!path || (!success && !prec)) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "plot: nothing to plot");
    panel ps[2];
    int np = 0;
    char t1[256], t2[256];
    snprintf(t1, sizeof t1, "Success plot%s%s", title ? " - " : "", title ? title : "");
    snprintf(t2, sizeof t2, "Precision plot%s%s", title ? " - " : "", title ? title : "");
    if (success && n_success > 0) ps[np++] = (panel){success, n_success, 1.0, t1, "Overlap threshold", 10};
    if (prec && n_prec > 0) ps[np++] = (panel){prec, n_prec, 50.0, t2, "Location error threshold [pixels]", 10};
    if (!np) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "plot: no curves");
    size_t L = strlen(path);
    int is_png = L >= 4 && !strcmp(path + L - 4, ".png");
    if (is_png) {
        vssm_image im = {0};
        vssm_status s = vssm_image_alloc(&im, PW * np, PH, 3, err);
        if (s != VSSM_OK) return s;
        memset(im.data, 255, (size_t)im.w * im.h * 3);
        for (int i = 0; i < np; i++) png_panel(&im, &ps[i], i * PW);
        s = vssm_image_write_png(path, &im, err);
        vssm_image_free(&im);
        return s;
    }
    vssm_outfile o;
    vssm_status s = vssm_outfile_open(&o, path, err);
    if (s != VSSM_OK) return s;
    FILE *f = o.f;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n", PW * np, PH, PW * np, PH);
    for (int i = 0; i < np; i++) svg_panel(f, &ps[i], i * PW);
    fprintf(f, "</svg>\n");
    return vssm_outfile_commit(&o, err);   /* checks every write, names path on failure */
}
