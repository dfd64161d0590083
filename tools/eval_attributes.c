/* tools/eval_attributes.c - `vssm eval attributes`: multi-label (pedestrian attribute)
 * metrics of Rethinking_of_PAR from a CSV of labels and a CSV of predicted probabilities. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/cli.h"
#include "tools/mpi_shard.h"
#include "vssm/eval.h"
#include "kernels/infile.h"

static void usage(FILE *f) {
    fprintf(f, "usage: vssm eval attributes --gt LABELS.csv --pred PROBS.csv [--json]\n"
               "Scores multi-label attribute predictions: mA and instance accuracy, precision, recall, F1.\n"
               "example: vssm eval attributes --gt labels.csv --pred probs.csv --json\n"
               "Both CSVs: a header line 'name,attr1,attr2,...' then one row per image; LABELS holds 0/1,\n"
               "PROBS probabilities in [0, 1] (pred = prob > 0.5). Rows are matched by name, columns by\n"
               "their header names (any order; both files must name the same attributes, each once).\n");
}

typedef struct {
    char **names;
    float *v;
    int *line; /* each row's line in the file (for messages) */
    int n, a, cap;
    char **attrs;
} csv_t;

static void csv_free(csv_t *c) {
    for (int i = 0; i < c->n; i++) free(c->names[i]);
    for (int j = 0; j < c->a && c->attrs; j++) free(c->attrs[j]);
    free(c->names);
    free(c->v);
    free(c->line);
    free(c->attrs);
    memset(c, 0, sizeof *c);
}

/* the next comma-separated field of *s (empty fields kept), NULL after the last */
static char *next_field(char **s) {
    if (!*s) return NULL;
    char *f = *s, *comma = strchr(f, ',');
    if (comma) {
        *comma = 0;
        *s = comma + 1;
    } else
        *s = NULL;
    return f;
}

/* s without its leading and trailing blanks (in place): "name, a1, a2" names a1 and a2 */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    return s;
}

/* a JSON string (attribute names come from the CSV: quotes, backslashes, control bytes) */
static void json_str(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* prediction rows sorted by (name, row): a lookup per label row is a binary search, not a
 * scan of every prediction (n^2 string compares on a large CSV) */
typedef struct {
    const char *name;
    int row;
} name_row;

static int cmp_name_row(const void *a, const void *b) {
    const name_row *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* the first row named name in idx (n entries sorted by cmp_name_row), -1 if none */
static int find_row(const name_row *idx, int n, const char *name) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(idx[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && !strcmp(idx[lo].name, name) ? idx[lo].row : -1;
}

#define CSV_MAX_ATTRS 100000
#define CSV_MAX_ROWS 100000000

/* the first i > 0 with idx[i] named as idx[i - 1] (n entries sorted by cmp_name_row: the two
 * first rows of that name), 0 when the names are distinct */
static int first_repeat(const name_row *idx, int n) {
    for (int i = 1; i < n; i++)
        if (!strcmp(idx[i - 1].name, idx[i].name)) return i;
    return 0;
}

/* Reads a header + rows CSV into c; labels: every value must be 0 or 1 (a labels file).
 * On any error c is released and -1 returned (the error named with file:line on stderr).
 * Attribute names in the header and row names must be distinct. */
static int csv_read(const char *path, csv_t *c, int labels) {
    memset(c, 0, sizeof *c);
    FILE *f;
    vssm_err err = {0};
    if (vssm_fopen_regular(&f, path, labels ? "the labels CSV" : "the predictions CSV", VSSM_TEXT_FILE_MAX, &err) !=
        VSSM_OK) {
        cli_error("%s", err.msg);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0, header = 0, header_line = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        int cols = 1;
        for (char *p = line; *p; p++) cols += *p == ',';
        char *rest = line, *tok = next_field(&rest);
        if (!header) {
            header = 1;
            header_line = lineno;
            if (cols - 1 < 1 || cols - 1 > CSV_MAX_ATTRS) {
                cli_error("%s:%d: the header names %d attributes (1 .. %d expected)", path, lineno, cols - 1,
                          CSV_MAX_ATTRS);
                rc = -1;
                break;
            }
            if (!(c->attrs = calloc((size_t)(cols - 1), sizeof(char *)))) {
                cli_error("out of memory");
                rc = -1;
                break;
            }
            c->a = cols - 1;
            for (int j = 0; j < c->a && rc == 0; j++)
                if (!(c->attrs[j] = strdup(trim(next_field(&rest))))) {
                    cli_error("out of memory");
                    rc = -1;
                }
            if (rc) break;
            continue;
        }
        if (cols - 1 != c->a) {
            cli_error("%s:%d: %d values, the header has %d attributes", path, lineno, cols - 1, c->a);
            rc = -1;
            break;
        }
        if (c->n == CSV_MAX_ROWS) {
            cli_error("%s:%d: more than %d rows", path, lineno, CSV_MAX_ROWS);
            rc = -1;
            break;
        }
        if (c->n == c->cap) {
            int nc = c->cap ? 2 * c->cap : 256;
            char **nn = realloc(c->names, (size_t)nc * sizeof(char *));
            if (nn) c->names = nn;
            float *nv = nn ? realloc(c->v, (size_t)nc * (size_t)c->a * sizeof(float)) : NULL;
            if (nv) c->v = nv;
            int *nl = nv ? realloc(c->line, (size_t)nc * sizeof(int)) : NULL;
            if (nl) c->line = nl;
            if (!nn || !nv || !nl) {
                cli_error("%s: out of memory at line %d", path, lineno);
                rc = -1;
                break;
            }
            c->cap = nc;
        }
        for (int j = 0; j < c->a; j++) {
            tok = next_field(&rest);
            char *end;
            float v = strtof(tok, &end);
            while (*end == ' ' || *end == '\t') end++;
            if (end == tok || *end || !(v >= 0 && v <= 1)) {
                cli_error("%s:%d: value %d ('%.20s') is not a number in [0, 1]", path, lineno, j + 1, tok);
                rc = -1;
                break;
            }
            if (labels && v != 0 && v != 1) {
                cli_error("%s:%d: value %d ('%.20s', attribute '%s') is not a label: labels are 0 or 1", path, lineno,
                          j + 1, tok, c->attrs[j]);
                rc = -1;
                break;
            }
            c->v[(size_t)c->n * c->a + j] = v;
        }
        if (rc) break;
        if (!(c->names[c->n] = strdup(line))) {
            cli_error("out of memory");
            rc = -1;
            break;
        } /* line: the name field */
        c->line[c->n++] = lineno;
    }
    free(line);
    fclose(f);
    if (!rc && !header) {
        cli_error("%s: empty (expected a header line 'name,attr1,...')", path);
        rc = -1;
    } else if (!rc && c->n == 0) {
        cli_error("%s: no rows", path);
        rc = -1;
    }
    /* a repeated attribute (which column?) or row (which values?) is ambiguous: refused */
    int m = c->a > c->n ? c->a : c->n;
    name_row *idx = rc ? NULL : malloc((size_t)m * sizeof *idx);
    if (!rc && !idx) {
        cli_error("out of memory");
        rc = -1;
    }
    int k;
    if (!rc) {
        for (int j = 0; j < c->a; j++) idx[j] = (name_row){c->attrs[j], j};
        qsort(idx, (size_t)c->a, sizeof *idx, cmp_name_row);
        if ((k = first_repeat(idx, c->a))) {
            cli_error("%s:%d: the header names attribute '%s' twice (columns %d and %d)", path, header_line,
                      idx[k].name, idx[k - 1].row + 2, idx[k].row + 2);
            rc = -1;
        }
    }
    if (!rc) {
        for (int i = 0; i < c->n; i++) idx[i] = (name_row){c->names[i], i};
        qsort(idx, (size_t)c->n, sizeof *idx, cmp_name_row);
        if ((k = first_repeat(idx, c->n))) {
            cli_error("%s:%d: row '%s' again (first on line %d): each name must have one row", path,
                      c->line[idx[k].row], idx[k].name, c->line[idx[k - 1].row]);
            rc = -1;
        }
    }
    free(idx);
    if (rc) csv_free(c);
    return rc;
}

/* col[j]: the column of pred holding gt's attribute j, matched by header name (any order).
 * 0, or -1 with every attribute of gt that pred lacks and every column of pred that is not
 * an attribute of gt named (the first 5 of each). */
static int map_columns(const csv_t *g, const char *gtp, const csv_t *p, const char *pp, int *col) {
    const int m = g->a > p->a ? g->a : p->a;
    name_row *idx = malloc((size_t)m * sizeof *idx);
    if (!idx) {
        cli_error("out of memory");
        return -1;
    }
    int missing = 0, unknown = 0;
    for (int k = 0; k < p->a; k++) idx[k] = (name_row){p->attrs[k], k};
    qsort(idx, (size_t)p->a, sizeof *idx, cmp_name_row);
    for (int j = 0; j < g->a; j++)
        if ((col[j] = find_row(idx, p->a, g->attrs[j])) < 0 && ++missing <= 5)
            cli_error("%s has no column '%s' (an attribute of %s)", pp, g->attrs[j], gtp);
    for (int j = 0; j < g->a; j++) idx[j] = (name_row){g->attrs[j], j};
    qsort(idx, (size_t)g->a, sizeof *idx, cmp_name_row);
    for (int k = 0; k < p->a; k++)
        if (find_row(idx, g->a, p->attrs[k]) < 0 && ++unknown <= 5)
            cli_error("%s: column '%s' is not an attribute of %s", pp, p->attrs[k], gtp);
    free(idx);
    if (missing > 5 || unknown > 5)
        cli_error("%s: %d attributes of %s missing, %d unknown columns in all", pp, missing, gtp, unknown);
    if (missing || unknown)
        cli_error("eval attributes: the prediction columns are matched to the labels by their header names, "
                  "which must be the same set");
    return missing || unknown ? -1 : 0;
}

int vssm_eval_attributes(int argc, char **argv) {
    const char *gtp = NULL, *pp = NULL;
    int json = 0, bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (cli_opt_str(argc, argv, &i, "--gt", &gtp, &bad) || cli_opt_str(argc, argv, &i, "--pred", &pp, &bad) ||
            cli_opt_flag(argv, i, "--json", &json))
            continue;
        cli_bad_arg("eval attributes", argv[i]);
        bad = 1;
    }
    if (!bad && (!gtp || !pp)) {
        cli_error("eval attributes: --gt and --pred are required");
        bad = 1;
    }
    if (bad) {
        usage(stderr);
        return VSSM_EXIT_USAGE;
    }
    /* two CSVs and one pass: under mpirun rank 0 does it; the others wait for its exit code */
    if (!shard_is_root()) return VSSM_EXIT_OK;
    csv_t g, p;
    if (csv_read(gtp, &g, 1)) return VSSM_EXIT_USAGE;
    if (csv_read(pp, &p, 0)) {
        csv_free(&g);
        return VSSM_EXIT_USAGE;
    }
    int rc = VSSM_EXIT_OK;
    float *probs = malloc((size_t)g.n * g.a * sizeof(float));
    uint8_t *gt = malloc((size_t)g.n * g.a);
    double *lab = malloc((size_t)g.a * sizeof(double));
    name_row *idx = malloc((size_t)p.n * sizeof *idx);
    int *col = malloc((size_t)g.a * sizeof *col);
    if (!probs || !gt || !lab || !idx || !col) {
        cli_error("out of memory");
        rc = VSSM_EXIT_USAGE;
    }
    if (rc == VSSM_EXIT_OK && map_columns(&g, gtp, &p, pp, col)) rc = VSSM_EXIT_USAGE;
    if (rc == VSSM_EXIT_OK) {
        for (int j = 0; j < p.n; j++) idx[j] = (name_row){p.names[j], j};
        qsort(idx, (size_t)p.n, sizeof *idx, cmp_name_row);
    }
    int n = 0;
    for (int i = 0; rc != VSSM_EXIT_USAGE && i < g.n; i++) { /* a missing row is named, the others scored */
        int k = find_row(idx, p.n, g.names[i]);              /* names are unique: csv_read checked */
        if (k < 0) {
            cli_error("%s: no prediction for '%s'", pp, g.names[i]);
            rc = VSSM_EXIT_INPUT;
            continue;
        }
        for (int j = 0; j < g.a; j++) {
            gt[(size_t)n * g.a + j] = g.v[(size_t)i * g.a + j] == 1; /* 0 or 1: csv_read checked */
            probs[(size_t)n * g.a + j] = p.v[(size_t)k * p.a + col[j]];
        }
        n++;
    }
    vssm_attr_metrics m;
    vssm_err err = {0};
    if (rc != VSSM_EXIT_USAGE && n > 0 && vssm_attr_metrics_compute(probs, gt, n, g.a, &m, lab, &err) == VSSM_OK) {
        if (json) {
            printf("{\"samples\": %d, \"mA\": %.6f, \"acc\": %.6f, \"prec\": %.6f, \"rec\": %.6f, \"f1\": %.6f, "
                   "\"label_mA\": {",
                   n, m.mA, m.acc, m.prec, m.rec, m.f1);
            for (int j = 0; j < g.a; j++) {
                printf("%s", j ? ", " : "");
                json_str(g.attrs[j]);
                printf(": %.6f", lab[j]);
            }
            printf("}}\n");
        } else {
            printf("samples %d, attributes %d\nmA   %.4f\nacc  %.4f\nprec %.4f\nrec  %.4f\nF1   %.4f\n", n, g.a, m.mA,
                   m.acc, m.prec, m.rec, m.f1);
        }
    } else if (rc != VSSM_EXIT_USAGE) {
        if (n > 0)
            cli_error("eval attributes: %s", err.msg);
        else
            cli_error("eval attributes: no sample could be scored");
        rc = n > 0 ? VSSM_EXIT_INPUT : VSSM_EXIT_USAGE; /* nothing scored: nothing done */
    }
    free(lab);
    free(probs);
    free(gt);
    free(idx);
    free(col);
    csv_free(&g);
    csv_free(&p);
    return rc;
}
