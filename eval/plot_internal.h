/* eval/plot_internal.h - what the plots share: a cairo drawing written as PNG, SVG or PDF
 * through vssm/outfile.h, text placed by anchor, the Blues colour map and round ticks. */
#ifndef VSSM_EVAL_PLOT_INTERNAL_H
#define VSSM_EVAL_PLOT_INTERNAL_H

#include <cairo.h>
#include "vssm/outfile.h"
#include "vssm/plot.h"

typedef struct plot_doc {
    vssm_plot_format fmt;
    cairo_surface_t *surf;
    cairo_t *cr; /* draw here; the page is white */
    vssm_outfile o;
} plot_doc;

/* A context on a 1x1 surface for measuring text before the page size is known
 * (cairo_destroy it); NULL when out of memory. */
cairo_t *vssm_plot_measure_new(void);
/* Opens path (vssm_outfile) and a w x h page of fmt. On failure nothing is left open. */
vssm_status vssm_plot_begin(plot_doc *d, const char *path, vssm_plot_format fmt, int w, int h, vssm_err *err);
/* Finishes the drawing, checks cairo's status and renames the file into place; always
 * releases d. */
vssm_status vssm_plot_end(plot_doc *d, vssm_err *err);
/* Drops the drawing and the temporary file. Safe on a zeroed or released d. */
void vssm_plot_abort(plot_doc *d);

/* Text: sans-serif at size units (bold when bold). */
void vssm_plot_font(cairo_t *cr, double size, int bold);
double vssm_plot_text_width(cairo_t *cr, const char *s);
/* The height of a line of text (ascent + descent) in the current font. */
double vssm_plot_text_height(cairo_t *cr);
/* Draws s with its box anchored at (x, y): ax 0 / 0.5 / 1 = left / centre / right end,
 * ay 0 / 0.5 / 1 = top / middle / bottom of the line; turned by angle (radians,
 * clockwise as on screen) about the anchor. */
void vssm_plot_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay, double angle);
/* s cut to at most max_w wide with an ellipsis ("..."), into buf (size n). */
const char *vssm_plot_fit(cairo_t *cr, const char *s, double max_w, char *buf, size_t n);

/* matplotlib's "Blues" (ColorBrewer, 9 stops, linear between them) at t in [0, 1]. */
void vssm_plot_blues(double t, double rgb[3]);
/* A round tick step (1, 2, 2.5 or 5 times a power of ten) giving at most max_ticks
 * intervals over [0, range]. */
double vssm_plot_tick_step(double range, int max_ticks);
/* A tick value as text without trailing zeros ("0.25", "100"). */
void vssm_plot_tick_label(double v, char *buf, size_t n);

#endif
