/* tools/eval_attributes.c - `vssm eval attributes`: multi-label (pedestrian attribute)
 * metrics of Rethinking_of_PAR from a CSV of labels and a CSV of predicted probabilities. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/cli.h"
#include "tools/mpi_shard.h"
#include "vssm/eval.h"

static void usage(FILE *f) {
    fprintf(f, "usage: vssm eval attributes --gt LABELS.csv --pred PROBS.csv [--json]\n"
               "Both CSVs: a header line 'name,attr1,attr2,...' then one row per image; LABELS holds 0/1,\n"
               "PROBS probabilities in [0, 1] (pred = prob > 0.5). Rows are matched by name.\n");
}

typedef struct { char **names; float *v; int n, a, cap; char **attrs; } csv_t;

static void csv_free(csv_t *c) {
    for (int i = 0; i < c->n; i++) free(c->names[i]);
    for (int j = 0; j < c->a; j++) free(c->attrs[j]);
    free(c->names); free(c->v); free(c->attrs);
}

static int csv_read(const char *path, csv_t *c) {
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    if (!f) { cli_error("%s: cannot open", path); return -1; }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        int cols = 1;
        for (char *p = line; *p; p++) cols += *p == ',';
        char *save = NULL, *tok = strtok_r(line, ",", &save);
        if (lineno == 1) {
            c->a = cols - 1;
            if (c->a < 1) { cli_error("%s: the header names no attributes", path); rc = -1; break; }
            c->attrs = calloc((size_t)c->a, sizeof(char *));
            for (int j = 0; j < c->a && (tok = strtok_r(NULL, ",", &save)); j++) c->attrs[j] = strdup(tok);
            continue;
        }
        if (cols - 1 != c->a) { cli_error("%s:%d: %d values, the header has %d attributes", path, lineno, cols - 1, c->a); rc = -1; break; }
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 256;
            c->names = realloc(c->names, (size_t)c->cap * sizeof(char *));
            c->v = realloc(c->v, (size_t)c->cap * c->a * sizeof(float));
        }
        c->names[c->n] = strdup(tok ? tok : "");
        for (int j = 0; j < c->a; j++) {
            tok = strtok_r(NULL, ",", &save);
            char *end;
            float v = tok ? strtof(tok, &end) : 0;
            if (!tok || end == tok || !(v >= 0 && v <= 1)) { cli_error("%s:%d: value %d is not a number in [0, 1]", path, lineno, j + 1); rc = -1; break; }
            c->v[(size_t)c->n * c->a + j] = v;
        }
        if (rc) break;
        c->n++;
    }
    free(line);
    fclose(f);
    if (!rc && c->n == 0) { cli_error("%s: no rows", path); rc = -1; }
    return rc;
}

int vssm_eval_attributes(int argc, char **argv) {
    const char *gtp = NULL, *pp = NULL;
    int json = 0, bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (cli_opt_str(argc, argv, &i, "--gt", &gtp, &bad) || cli_opt_str(argc, argv, &i, "--pred", &pp, &bad) ||
            cli_opt_flag(argv, i, "--json", &json))
            continue;
        cli_error("eval attributes: unexpected argument '%s'", argv[i]);
        bad = 1;
    }
    if (!bad && (!gtp || !pp)) { cli_error("eval attributes: --gt and --pred are required"); bad = 1; }
    if (bad) { usage(stderr); return VSSM_EXIT_USAGE; }
    /* two CSVs and one pass: under mpirun rank 0 does it; the others wait for its exit code */
    if (!shard_is_root()) return VSSM_EXIT_OK;
    csv_t g, p;
    if (csv_read(gtp, &g) || csv_read(pp, &p)) { csv_free(&g); return VSSM_EXIT_USAGE; }
    int rc = VSSM_EXIT_OK;
    if (g.a != p.a) { cli_error("%s has %d attributes, %s has %d", gtp, g.a, pp, p.a); rc = VSSM_EXIT_USAGE; }
    float *probs = malloc((size_t)g.n * g.a * sizeof(float));
    uint8_t *gt = malloc((size_t)g.n * g.a);
    int n = 0;
    for (int i = 0; rc == VSSM_EXIT_OK && i < g.n; i++) {
        int k = -1;
        for (int j = 0; j < p.n && k < 0; j++) if (!strcmp(g.names[i], p.names[j])) k = j;
        if (k < 0) { fprintf(stderr, "vssm: %s: no prediction for '%s'\n", pp, g.names[i]); rc = VSSM_EXIT_INPUT; continue; }
        for (int j = 0; j < g.a; j++) {
            gt[(size_t)n * g.a + j] = g.v[(size_t)i * g.a + j] > 0.5f;
            probs[(size_t)n * g.a + j] = p.v[(size_t)k * g.a + j];
        }
        n++;
    }
    vssm_attr_metrics m;
    double *lab = malloc((size_t)g.a * sizeof(double));
    vssm_err err = {0};
    if (rc != VSSM_EXIT_USAGE && n > 0 && vssm_attr_metrics_compute(probs, gt, n, g.a, &m, lab, &err) == VSSM_OK) {
        if (json) {
            printf("{\"samples\": %d, \"mA\": %.6f, \"acc\": %.6f, \"prec\": %.6f, \"rec\": %.6f, \"f1\": %.6f, \"label_mA\": {",
                   n, m.mA, m.acc, m.prec, m.rec, m.f1);
            for (int j = 0; j < g.a; j++) printf("%s\"%s\": %.6f", j ? ", " : "", g.attrs[j] ? g.attrs[j] : "?", lab[j]);
            printf("}}\n");
        } else {
            printf("samples %d, attributes %d\nmA   %.4f\nacc  %.4f\nprec %.4f\nrec  %.4f\nF1   %.4f\n", n, g.a, m.mA, m.acc, m.prec, m.rec, m.f1);
        }
    } else if (rc != VSSM_EXIT_USAGE) {
        cli_error("eval attributes: no sample could be scored");
        rc = VSSM_EXIT_INPUT;
    }
    free(lab); free(probs); free(gt);
    csv_free(&g);
    csv_free(&p);
    return rc;
}
