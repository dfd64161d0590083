/* eval/plot.c - the page every plot draws on (cairo): one drawing, written as PNG, SVG or
 * PDF by the path's extension through vssm/outfile.h; text, colours and ticks. */
#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kernels/cnum.h"
#include "eval/plot_internal.h"

vssm_status vssm_plot_format_of(const char *path, vssm_plot_format *fmt, vssm_err *err) {
    static const struct {
        const char *ext;
        vssm_plot_format f;
    } known[] = {{".png", VSSM_PLOT_PNG}, {".svg", VSSM_PLOT_SVG}, {".pdf", VSSM_PLOT_PDF}};
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && strchr(dot, '/')) dot = NULL; /* "a.b/plot": no extension */
    for (size_t i = 0; dot && i < sizeof known / sizeof known[0]; i++)
        if (!strcasecmp(dot, known[i].ext)) {
            if (fmt) *fmt = known[i].f;
            return VSSM_OK;
        }
    return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                        "%s: a plot is written as .png, .svg or .pdf (by the file's extension)",
                        path ? path : "(null)");
}

/* ---------------------------------------------------------------- the page */

static cairo_status_t write_stream(void *closure, const unsigned char *data, unsigned int len) {
    return fwrite(data, 1, len, (FILE *)closure) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

cairo_t *vssm_plot_measure_new(void) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(s);
    cairo_surface_destroy(s); /* cr holds it */
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        cairo_destroy(cr);
        return NULL;
    }
    return cr;
}

vssm_status vssm_plot_begin(plot_doc *d, const char *path, vssm_plot_format fmt, int w, int h, vssm_err *err) {
    memset(d, 0, sizeof *d);
    if (w < 1 || h < 1 || w > 32767 || h > 32767)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: a %dx%d plot is out of range", path, w, h);
    vssm_status st = vssm_outfile_open(&d->o, path, err);
    if (st != VSSM_OK) return st;
    d->fmt = fmt;
    if (fmt == VSSM_PLOT_PNG)
        d->surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    else if (fmt == VSSM_PLOT_SVG)
        d->surf = cairo_svg_surface_create_for_stream(write_stream, d->o.f, w, h);
    else
        d->surf = cairo_pdf_surface_create_for_stream(write_stream, d->o.f, w, h);
    if (fmt == VSSM_PLOT_PDF) cairo_pdf_surface_set_metadata(d->surf, CAIRO_PDF_METADATA_CREATOR, "vssm");
    d->cr = cairo_create(d->surf);
    if (cairo_status(d->cr) != CAIRO_STATUS_SUCCESS) {
        st = vssm_err_set(err, VSSM_ERR_NOMEM, "%s: cannot start a %dx%d plot: %s", path, w, h,
                          cairo_status_to_string(cairo_status(d->cr)));
        vssm_plot_abort(d);
        return st;
    }
    cairo_set_source_rgb(d->cr, 1, 1, 1);
    cairo_paint(d->cr);
    return VSSM_OK;
}

void vssm_plot_abort(plot_doc *d) {
    if (d->cr) cairo_destroy(d->cr);
    if (d->surf) {
        cairo_surface_finish(d->surf); /* a vector surface writes its tail here: into the temp file */
        cairo_surface_destroy(d->surf);
    }
    vssm_outfile_abort(&d->o);
    memset(d, 0, sizeof *d);
}

vssm_status vssm_plot_end(plot_doc *d, vssm_err *err) {
    cairo_status_t cs = cairo_status(d->cr);
    cairo_destroy(d->cr);
    d->cr = NULL;
    if (cs == CAIRO_STATUS_SUCCESS) {
        cairo_surface_flush(d->surf);
        if (d->fmt == VSSM_PLOT_PNG) cs = cairo_surface_write_to_png_stream(d->surf, write_stream, d->o.f);
        cairo_surface_finish(d->surf);
        if (cs == CAIRO_STATUS_SUCCESS) cs = cairo_surface_status(d->surf);
    }
    cairo_surface_destroy(d->surf);
    d->surf = NULL;
    if (cs != CAIRO_STATUS_SUCCESS) {
        vssm_status st = vssm_err_set(err, cs == CAIRO_STATUS_NO_MEMORY ? VSSM_ERR_NOMEM : VSSM_ERR_IO,
                                      "%s: drawing the plot failed: %s", d->o.path ? d->o.path : "plot",
                                      cairo_status_to_string(cs));
        vssm_plot_abort(d);
        return st;
    }
    vssm_status st = vssm_outfile_commit(&d->o, err); /* checks every write, names the path */
    memset(d, 0, sizeof *d);
    return st;
}

/* ---------------------------------------------------------------- text */

void vssm_plot_font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

double vssm_plot_text_width(cairo_t *cr, const char *s) {
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    return te.x_advance;
}

double vssm_plot_text_height(cairo_t *cr) {
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    return fe.ascent + fe.descent;
}

void vssm_plot_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay, double angle) {
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double w = vssm_plot_text_width(cr, s);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    if (angle != 0) cairo_rotate(cr, angle);
    cairo_move_to(cr, -ax * w, fe.ascent - ay * (fe.ascent + fe.descent));
    cairo_show_text(cr, s);
    cairo_restore(cr);
}

const char *vssm_plot_fit(cairo_t *cr, const char *s, double max_w, char *buf, size_t n) {
    snprintf(buf, n, "%s", s ? s : "");
    size_t len = strlen(buf);
    if (vssm_plot_text_width(cr, buf) <= max_w) return buf;
    while (len > 0 && n > 4) {
        len--;
        while (len > 0 && ((unsigned char)buf[len] & 0xC0) == 0x80) len--; /* whole UTF-8 characters */
        if (len + 4 > n) continue;
        memcpy(buf + len, "...", 4);
        if (vssm_plot_text_width(cr, buf) <= max_w) return buf;
    }
    snprintf(buf, n, "...");
    return buf;
}

/* ---------------------------------------------------------------- colours, ticks */

void vssm_plot_blues(double t, double rgb[3]) {
    static const unsigned char stops[9][3] = {{0xf7, 0xfb, 0xff}, {0xde, 0xeb, 0xf7}, {0xc6, 0xdb, 0xef},
                                              {0x9e, 0xca, 0xe1}, {0x6b, 0xae, 0xd6}, {0x42, 0x92, 0xc6},
                                              {0x21, 0x71, 0xb5}, {0x08, 0x51, 0x9c}, {0x08, 0x30, 0x6b}};
    if (!(t > 0)) t = 0; /* NaN too */
    if (t > 1) t = 1;
    double p = t * 8;
    int i = (int)p < 8 ? (int)p : 7;
    double f = p - i;
    for (int c = 0; c < 3; c++) rgb[c] = ((1 - f) * stops[i][c] + f * stops[i + 1][c]) / 255.0;
}

double vssm_plot_tick_step(double range, int max_ticks) {
    if (!(range > 0) || max_ticks < 1) return 1;
    double raw = range / max_ticks, p = pow(10, floor(log10(raw)));
    static const double m[] = {1, 2, 2.5, 5, 10};
    for (int i = 0; i < 5; i++)
        if (m[i] * p >= raw * (1 - 1e-9)) return m[i] * p;
    return 10 * p;
}

void vssm_plot_tick_label(double v, char *buf, size_t n) {
    if (fabs(v) < 1e-12) v = 0;
    vssm_snprintf_c(buf, n, "%.6g", v);
}
