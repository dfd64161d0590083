/* tests/test_plot.c - plots with text (eval/plot*.c, cairo), issue 18 item 1: the PNG
 * plots had no text at all (no class names, counts, axes, legend) and --plot ignored the
 * extension (cm.svg got PNG bytes, p.pdf got SVG).
 *   - the format follows the extension (.png/.svg/.pdf, any case; others refused, and by
 *     the CLI with exit 2 before the run); each file starts with its format's signature;
 *   - text is drawn: an SVG from cairo draws every character as a glyph (<use> of a
 *     <symbol>), so the glyphs counted bound the characters drawn from below (and, for
 *     1000 classes, from above: no per-cell text, no 1000 tick labels); with pdftotext
 *     installed (poppler-utils) the PDF's words are read back as well;
 *   - the PNG: the confusion cells are the Blues colours of their counts (darkest for the
 *     diagonal, lightest for zero), dark text pixels above the matrix (the title); the
 *     overlay keeps every image pixel's blend exactly and adds a legend with a swatch of
 *     each class present, the largest first, and none of an absent class.
 * VSSM_PLOT_KEEP=DIR keeps the pictures there to be looked at. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "vssm/image.h"
#include "vssm/plot.h"
#include "vssm/track.h"

static char dir[64];

static const char *out_path(const char *name) {
    static char p[4][512];
    static int k;
    const char *keep = getenv("VSSM_PLOT_KEEP");
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", keep && *keep ? keep : dir, name);
    return p[k];
}

/* 'p' PNG, 's' SVG, 'd' PDF, 0 anything else */
static int signature(const char *path) {
    size_t n = 0;
    char *b = test_read_file(path, &n);
    int kind = 0;
    if (b && n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8))
        kind = 'p';
    else if (b && n >= 5 && !memcmp(b, "<?xml", 5) && strstr(b, "<svg"))
        kind = 's';
    else if (b && n >= 5 && !memcmp(b, "%PDF-", 5))
        kind = 'd';
    free(b);
    return kind;
}

static int count(const char *hay, const char *needle) {
    int c = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) c++;
    return c;
}

/* glyphs drawn in a cairo SVG */
static int svg_glyphs(const char *path) {
    size_t n;
    char *b = test_read_file(path, &n);
    int c = b ? count(b, "<use xlink:href=\"#glyph") : -1;
    free(b);
    return c;
}

static int nonspace(const char *s) {
    int c = 0;
    for (; *s; s++) c += *s != ' ';
    return c;
}

/* pdftotext's text of a PDF into buf; 0 when the tool is absent */
static int pdf_text(const char *pdf, char *buf, size_t n) {
    if (system("command -v pdftotext >/dev/null 2>&1") != 0) return 0;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "pdftotext '%s' -", pdf);
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    size_t len = fread(buf, 1, n - 1, p);
    buf[len] = 0;
    pclose(p);
    return 1;
}

static void test_format_of(void) {
    static const struct {
        const char *p;
        int ok, f;
    } cases[] = {{"a.png", 1, VSSM_PLOT_PNG},
                 {"A.PNG", 1, VSSM_PLOT_PNG},
                 {"d/x.svg", 1, VSSM_PLOT_SVG},
                 {"x.Pdf", 1, VSSM_PLOT_PDF},
                 {"x.jpg", 0, 0},
                 {"plot", 0, 0},
                 {"d.png/plot", 0, 0},
                 {"x.png.txt", 0, 0},
                 {".svg.", 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vssm_err e = {0};
        vssm_plot_format f = (vssm_plot_format)-1;
        vssm_status st = vssm_plot_format_of(cases[i].p, &f, &e);
        if (cases[i].ok)
            TEST_CHECK(st == VSSM_OK && (int)f == cases[i].f, "%s: format %d (got %d, %s)", cases[i].p, cases[i].f, f,
                       e.msg);
        else
            TEST_CHECK(st == VSSM_ERR_INVALID_ARG && strstr(e.msg, cases[i].p) && strstr(e.msg, ".pdf"),
                       "%s refused, naming it and the formats: %s", cases[i].p, e.msg);
    }
}

/* a 3-class matrix: every sample on the diagonal (50 each) but 10 of class 2 taken for 1 */
static const int64_t CM3[9] = {50, 0, 0, 0, 50, 0, 0, 10, 40};
static const char *const NAMES3[3] = {"alpha", "beta", "a rather long class name"};

static void test_confusion_formats(void) {
    const char *title = "Confusion of three";
    vssm_confusion_plot_opts o = {NAMES3, title, 0};
    static const char *ext[3] = {"png", "svg", "pdf"};
    static const int sig[3] = {'p', 's', 'd'};
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "cm3.%s", ext[k]);
        vssm_err e = {0};
        const char *p = out_path(name);
        TEST_CHECK(vssm_plot_confusion(p, CM3, 3, &o, &e) == VSSM_OK, "%s written: %s", name, e.msg);
        TEST_CHECK(signature(p) == sig[k], "%s starts with its format's signature (got '%c')", name,
                   signature(p) ? signature(p) : '?');
    }
    /* every character of the names (twice: both axes), the title, the 9 counts, the axis
     * titles and the colour bar's ticks is a glyph */
    int want = nonspace(title) + 9 + nonspace("predicted") + nonspace("true") + nonspace("images");
    for (int i = 0; i < 3; i++) want += 2 * nonspace(NAMES3[i]);
    int got = svg_glyphs(out_path("cm3.svg"));
    TEST_CHECK(got >= want, "the SVG draws at least %d glyphs (names, title, counts, axis titles): %d", want, got);
    char text[8192];
    if (pdf_text(out_path("cm3.pdf"), text, sizeof text)) {
        TEST_CHECK(strstr(text, title) && strstr(text, "alpha") && strstr(text, "beta") && strstr(text, "predicted") &&
                       strstr(text, "true") && strstr(text, "images") && strstr(text, "40") && strstr(text, "10"),
                   "the PDF's text has the title, names, axis titles and counts: %.400s", text);
    } else
        printf("  (pdftotext not installed: the PDF's words are not read back)\n");
    /* the PNG: the diagonal cells the darkest Blues (50 = the top of the scale), the zero
     * cells the lightest, about 2:1 by area (6 zero cells against 2 full and one 40/50 one,
     * less the digits); dark grey text in the band above the matrix (the title) */
    vssm_image im = {0};
    vssm_err e = {0};
    TEST_REQUIRE(vssm_image_load(&im, out_path("cm3.png"), NULL, &e) == VSSM_OK, "PNG readable: %s", e.msg);
    TEST_CHECK(im.c == 3 && im.w >= 300 && im.w <= 1200 && im.h >= 250 && im.h <= 1200, "PNG %dx%dx%d", im.w, im.h,
               im.c);
    long dark = 0, light = 0, title_ink = 0;
    for (int y = 0; y < im.h; y++)
        for (int x = 0; x < im.w; x++) {
            const uint8_t *q = im.data + ((size_t)y * im.w + x) * 3;
            dark += q[0] == 8 && q[1] == 48 && q[2] == 107;
            light += q[0] == 247 && q[1] == 251 && q[2] == 255;
            title_ink += y < 30 && q[0] < 60 && q[1] < 60 && q[2] < 60;
        }
    double ratio = dark ? (double)light / dark : 0;
    TEST_CHECK(dark > 1000 && ratio > 2.0 && ratio < 4.0,
               "cells coloured by count: %ld darkest, %ld lightest px (ratio %.2f)", dark, light, ratio);
    TEST_CHECK(title_ink > 100, "a title is drawn above the matrix (%ld dark px in the top 30 rows)", title_ink);
    vssm_image_free(&im);
    /* normalised: percent of the true class in the cells */
    o.normalize = 1;
    TEST_CHECK(vssm_plot_confusion(out_path("cm3_norm.pdf"), CM3, 3, &o, &e) == VSSM_OK, "normalised PDF: %s", e.msg);
    if (pdf_text(out_path("cm3_norm.pdf"), text, sizeof text))
        TEST_CHECK(strstr(text, "80.0") && strstr(text, "20.0") && strstr(text, "100") &&
                       strstr(text, "% of the true class"),
                   "normalised cells: 80.0 and 20.0 for class 2, 100 on the full rows: %.400s", text);
}

/* a diagonal-heavy matrix of C classes */
static int64_t *diag_matrix(int C) {
    int64_t *cm = calloc((size_t)C * C, sizeof *cm);
    for (int r = 0; cm && r < C; r++) {
        cm[(size_t)r * C + r] = 40 + r % 11;
        cm[(size_t)r * C + (r * 7 + 3) % C] += r % 5;
    }
    return cm;
}

static void test_confusion_sizes(void) {
    /* 40 classes: still names and counts in the cells */
    int64_t *cm = diag_matrix(40);
    const char *names[40];
    char buf[40][16];
    int letters = 0;
    for (int i = 0; i < 40; i++) {
        snprintf(buf[i], sizeof buf[i], "cls%02d", i);
        names[i] = buf[i];
        letters += 2 * 5;
    }
    vssm_confusion_plot_opts o = {names, NULL, 0};
    vssm_err e = {0};
    TEST_CHECK(vssm_plot_confusion(out_path("cm40.svg"), cm, 40, &o, &e) == VSSM_OK, "40 classes: %s", e.msg);
    TEST_CHECK(vssm_plot_confusion(out_path("cm40.png"), cm, 40, &o, &e) == VSSM_OK, "40 classes PNG: %s", e.msg);
    int g = svg_glyphs(out_path("cm40.svg"));
    TEST_CHECK(g >= letters + 1600, "40 classes: names on both axes and a value in each of the 1600 cells (%d glyphs)",
               g);
    free(cm);
    /* 1000 classes: no text in the cells, index ticks only; a bounded page */
    cm = diag_matrix(1000);
    TEST_REQUIRE(cm, "malloc");
    TEST_CHECK(vssm_plot_confusion(out_path("cm1000.png"), cm, 1000, NULL, &e) == VSSM_OK, "1000 classes PNG: %s",
               e.msg);
    TEST_CHECK(vssm_plot_confusion(out_path("cm1000.svg"), cm, 1000, NULL, &e) == VSSM_OK, "1000 classes SVG: %s",
               e.msg);
    g = svg_glyphs(out_path("cm1000.svg"));
    TEST_CHECK(g > 30 && g < 300,
               "1000 classes: a title, axis titles and a few index ticks, no per-cell text (%d glyphs)", g);
    vssm_image im = {0};
    TEST_CHECK(vssm_image_load(&im, out_path("cm1000.png"), NULL, &e) == VSSM_OK && im.w <= 1400 && im.h <= 1400 &&
                   im.w >= 1000,
               "1000 classes: one pixel a cell, a page under 1400 px (%dx%d) %s", im.w, im.h, e.msg);
    vssm_image_free(&im);
    free(cm);
    /* 3000 classes: blocks of cells per pixel; the page stays bounded */
    cm = diag_matrix(3000);
    TEST_REQUIRE(cm, "malloc");
    TEST_CHECK(vssm_plot_confusion(out_path("cm3000.png"), cm, 3000, NULL, &e) == VSSM_OK, "3000 classes: %s", e.msg);
    TEST_CHECK(vssm_image_load(&im, out_path("cm3000.png"), NULL, &e) == VSSM_OK && im.w <= 1400 && im.h <= 1400,
               "3000 classes: a page under 1400 px (%dx%d)", im.w, im.h);
    vssm_image_free(&im);
    free(cm);
    /* refused: no classes, an unknown extension (nothing written) */
    TEST_CHECK(vssm_plot_confusion(out_path("cm0.png"), CM3, 0, NULL, &e) == VSSM_ERR_INVALID_ARG, "0 classes refused");
    TEST_CHECK(vssm_plot_confusion(out_path("cm.gif"), CM3, 3, NULL, &e) == VSSM_ERR_INVALID_ARG &&
                   access(out_path("cm.gif"), F_OK) != 0,
               "an unknown extension is refused, nothing written: %s", e.msg);
}

static void test_track(void) {
    double s1[21], s2[21], p1[51], p2[51];
    for (int i = 0; i < 21; i++) s1[i] = 100 * (1 - pow(i / 20.0, 2)), s2[i] = 100 * (1 - i / 20.0);
    for (int i = 0; i < 51; i++) p1[i] = 100 * (1 - exp(-i / 8.0)), p2[i] = 90 * (1 - exp(-i / 15.0));
    vssm_track_curve cs[2] = {{"vssm [AUC 66.7]", s1, 21}, {"other [AUC 50.0]", s2, 21}};
    vssm_track_curve cp[2] = {{"vssm [92.0 at 20 px]", p1, 51}, {"other [66.1 at 20 px]", p2, 51}};
    static const char *ext[3] = {"png", "svg", "pdf"};
    static const int sig[3] = {'p', 's', 'd'};
    vssm_err e = {0};
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "track.%s", ext[k]);
        TEST_CHECK(vssm_track_plot(out_path(name), cs, 2, cp, 2, "otb, 8 sequences", &e) == VSSM_OK, "%s: %s", name,
                   e.msg);
        TEST_CHECK(signature(out_path(name)) == sig[k], "%s has its format's signature", name);
    }
    int want = 2 * nonspace("otb, 8 sequences") + nonspace("Success plot - ") + nonspace("Precision plot - ") +
               nonspace("Overlap threshold") + nonspace("Location error threshold [pixels]") +
               nonspace("Overlap Precision [%]") + nonspace("Distance Precision [%]") + 11 * 2 + 11;
    for (int i = 0; i < 2; i++) want += nonspace(cs[i].label) + nonspace(cp[i].label);
    int g = svg_glyphs(out_path("track.svg"));
    TEST_CHECK(g >= want, "the track SVG draws titles, axis labels, ticks and legends: >= %d glyphs, %d", want, g);
    char text[8192];
    if (pdf_text(out_path("track.pdf"), text, sizeof text))
        TEST_CHECK(strstr(text, "Success plot") && strstr(text, "Precision plot") && strstr(text, "vssm [AUC 66.7]") &&
                       strstr(text, "other [66.1 at 20 px]") && strstr(text, "Location error threshold [pixels]") &&
                       strstr(text, "Overlap Precision [%]"),
                   "the track PDF's text: %.500s", text);
    vssm_image im = {0};
    TEST_CHECK(vssm_image_load(&im, out_path("track.png"), NULL, &e) == VSSM_OK && im.w == 1040 && im.h == 400,
               "two 520x400 panels side by side (%dx%d)", im.w, im.h);
    long red = 0, green = 0; /* the two curves' colours (pytracking's first two) */
    for (size_t i = 0; im.data && i < (size_t)im.w * im.h; i++) {
        const uint8_t *q = im.data + i * 3;
        red += q[0] == 255 && q[1] == 0 && q[2] == 0;
        green += q[0] == 0 && q[1] == 160 && q[2] == 0;
    }
    TEST_CHECK(red > 300 && green > 300, "both curves drawn in their colours (%ld red, %ld green px)", red, green);
    vssm_image_free(&im);
    TEST_CHECK(vssm_track_plot(out_path("track.eps"), cs, 2, NULL, 0, "t", &e) == VSSM_ERR_INVALID_ARG,
               "eps refused: %s", e.msg);
}

static void test_overlay(void) {
    const int w = 64, h = 48;
    vssm_image im = {w, h, 3, malloc((size_t)w * h * 3)};
    uint8_t *lab = malloc((size_t)w * h), pal[768];
    TEST_REQUIRE(im.data && lab, "malloc");
    for (int i = 0; i < 256; i++)
        pal[i * 3] = (uint8_t)(i * 37), pal[i * 3 + 1] = (uint8_t)(255 - i * 11),
                pal[i * 3 + 2] = (uint8_t)(i * 91 + 7);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = im.data + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(x * 4), q[1] = (uint8_t)(y * 5), q[2] = (uint8_t)(x ^ y);
            lab[y * w + x] = x < 32 ? 5 : y < 30 ? 2 : 9; /* 50%, 31%, 19%; class 7 absent */
        }
    const char *names[12] = {0};
    names[5] = "road";
    names[2] = "sky";
    names[9] = "tree";
    names[7] = "car";
    vssm_err e = {0};
    const char *p = out_path("overlay.png");
    TEST_REQUIRE(vssm_seg_overlay_write(p, &im, lab, pal, names, 12, &e) == VSSM_OK, "overlay written: %s", e.msg);
    vssm_image o = {0};
    TEST_REQUIRE(vssm_image_load(&o, p, NULL, &e) == VSSM_OK, "overlay readable: %s", e.msg);
    TEST_CHECK(o.w > w + 40 && o.h >= h, "the legend sits at the right (%dx%d for a %dx%d image)", o.w, o.h, w, h);
    int same = 1;
    for (int y = 0; y < h && same; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                int want = (im.data[((size_t)y * w + x) * 3 + c] + pal[lab[y * w + x] * 3 + c] + 1) / 2;
                if (o.data[((size_t)y * o.w + x) * 3 + c] != want) {
                    same = 0;
                    break;
                }
            }
    TEST_CHECK(same, "every image pixel is its half-and-half blend, as before the legend");
    /* legend: the swatches of 5, 2 and 9 in that order from the top, none of class 7 */
    int first_row[3] = {-1, -1, -1}, absent = 0;
    long ink = 0;
    const int cls[3] = {5, 2, 9};
    for (int y = 0; y < o.h; y++)
        for (int x = w; x < o.w; x++) {
            const uint8_t *q = o.data + ((size_t)y * o.w + x) * 3;
            for (int k = 0; k < 3; k++)
                if (!memcmp(q, pal + cls[k] * 3, 3) && first_row[k] < 0) first_row[k] = y;
            absent += !memcmp(q, pal + 7 * 3, 3);
            ink += q[0] < 60 && q[1] < 60 && q[2] < 60;
        }
    TEST_CHECK(first_row[0] >= 0 && first_row[0] < first_row[1] && first_row[1] < first_row[2],
               "swatches of the classes present, the largest first (rows %d, %d, %d)", first_row[0], first_row[1],
               first_row[2]);
    TEST_CHECK(absent == 0, "no swatch for a class absent from the image (%d px)", absent);
    TEST_CHECK(ink > 100, "legend text drawn (%ld dark px)", ink);
    vssm_image_free(&o);
    /* 30 classes present: 19 listed, the rest in one "+ 11 more" line */
    for (int i = 0; i < w * h; i++) lab[i] = (uint8_t)(i % 30);
    TEST_CHECK(vssm_seg_overlay_write(out_path("overlay30.png"), &im, lab, pal, NULL, 0, &e) == VSSM_OK,
               "30 classes: %s", e.msg);
    TEST_CHECK(vssm_image_load(&o, out_path("overlay30.png"), NULL, &e) == VSSM_OK && o.h > h,
               "30 classes: the page grows below the image (%d rows)", o.h);
    int swatches = 0;
    for (int c = 0; c < 30; c++) {
        int found = 0;
        for (int y = 0; y < o.h && !found; y++)
            for (int x = w; x < o.w && !found; x++) found = !memcmp(o.data + ((size_t)y * o.w + x) * 3, pal + c * 3, 3);
        swatches += found;
    }
    TEST_CHECK(swatches == 19, "19 swatches, then one line for the other 11 (%d)", swatches);
    vssm_image_free(&o);
    im.c = 1;
    TEST_CHECK(vssm_seg_overlay_write(out_path("bad.png"), &im, lab, pal, NULL, 0, &e) == VSSM_ERR_INVALID_ARG,
               "a gray image refused");
    free(im.data);
    free(lab);
}

#ifdef VSSM_BIN
/* the CLI: an unknown plot extension is a usage error before the run, by name */
static void test_cli(void) {
    static char out[1 << 14], err[1 << 14];
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' eval classify --weights /nonexistent.safetensors --plot %s tests/data/cli/folder",
             VSSM_BIN, out_path("cm.jpg"));
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 2 && strstr(err, "cm.jpg") && strstr(err, ".pdf") && !strstr(err, "nonexistent") && !out[0],
               "eval classify --plot cm.jpg: exit 2 naming it, before loading anything (rc %d): %s", rc, err);
    snprintf(cmd, sizeof cmd, "'%s' eval track --results /nonexistent --gt /nonexistent --format otb --plot %s",
             VSSM_BIN, out_path("p.txt"));
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 2 && strstr(err, "p.txt") && !strstr(err, "nonexistent"),
               "eval track --plot p.txt: exit 2 first (rc %d): %s", rc, err);
    snprintf(cmd, sizeof cmd,
             "'%s' eval classify --weights weights/fashion_mnist/vmamba_fashion.safetensors --threads 1 "
             "--normalize --plot %s weights/fashion_mnist/sample",
             VSSM_BIN, out_path("fashion.svg"));
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 0 && signature(out_path("fashion.svg")) == 's',
               "eval classify --plot x.svg writes an SVG (rc %d): %s", rc, err);
}
#endif

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/vssm_plot_XXXXXX");
    TEST_REQUIRE(mkdtemp(dir), "mkdtemp");
    test_format_of();
    test_confusion_formats();
    test_confusion_sizes();
    test_track();
    test_overlay();
#ifdef VSSM_BIN
    test_cli();
#endif
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("  could not remove %s\n", dir);
    return test_finish("test_plot");
}
