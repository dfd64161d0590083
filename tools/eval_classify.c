/* tools/eval_classify.c - `vssm eval classify`: accuracy on an ImageFolder tree, with
 * timm's top-k convention, per-class accuracy, a confusion matrix (CSV, and a plot: PNG, SVG
 * or PDF). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tools/cli.h"
#include "tools/model_opts.h"
#include "tools/mpi_shard.h"
#include "tools/runner.h"
#include "vssm/eval.h"
#include "vssm/outfile.h"
#include "vssm/plot.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vssm eval classify --weights FILE [options] DIR\n"
            "Scores a classifier on an image dataset: top-1/top-5, per-class accuracy, confusion matrix.\n"
            "example: vssm eval classify --weights weights/fashion_mnist/vmamba_fashion.safetensors \\\n"
            "           weights/fashion_mnist/sample\n"
            "DIR is an ImageFolder tree: DIR/<class>/<images>, classes in sorted folder order.\n%s"
            "  --batch B            images per forward pass (default 8)\n"
            "  --json               the report as one JSON object on stdout\n"
            "  --confusion FILE     write the confusion matrix as CSV (rows: true class)\n"
            "  --plot FILE          plot the confusion matrix: class names, counts, colour bar;\n"
            "                       FILE.png, FILE.svg or FILE.pdf (by the extension)\n"
            "  --normalize          the plot's cells show percent of the true class\n"
            "Folders are walked recursively (each real folder once: link cycles are skipped with a note).\n"
            "Exit status: 0 every image scored; 1 some inputs failed: images, or class folders and\n"
            "  entries that could not be read (each named on stderr, counted in \"failed\"; with\n"
            "  none scored, top1/top5 are null in --json); 2 usage error, unusable weights, or no\n"
            "  class folder / no image at all.\n",
            model_opts_help);
}

typedef struct {
    vssm_cls_metrics *m;
    const img_list *l;
    int bad_target;
} eval_state;

static void on_image(void *user, int idx, const float *logits, int classes, const char *error) {
    eval_state *e = user;
    if (!logits) {
        cli_error("%s", error);
        return;
    }
    vssm_err err = {0};
    if (vssm_cls_metrics_add(e->m, logits, e->l->label[idx], &err) != VSSM_OK) e->bad_target++;
}

static void json_str(FILE *f, const char *s) { json_put_str(f, s); }

/* One CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a quote or a
 * line break (class folder names may). */
static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int write_csv(const char *path, const vssm_cls_metrics *m, const img_list *l) {
    vssm_outfile o;
    vssm_err err = {0};
    if (vssm_outfile_open(&o, path, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        return -1;
    }
    FILE *f = o.f;
    fprintf(f, "true\\pred");
    for (int c = 0; c < m->classes; c++) {
        fputc(',', f);
        csv_field(f, c < l->n_classes ? l->classes[c] : "?");
    }
    fputc('\n', f);
    for (int r = 0; r < m->classes; r++) {
        csv_field(f, r < l->n_classes ? l->classes[r] : "?");
        for (int c = 0; c < m->classes; c++) fprintf(f, ",%lld", (long long)m->confusion[(size_t)r * m->classes + c]);
        fputc('\n', f);
    }
    if (vssm_outfile_commit(&o, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        return -1;
    }
    return 0;
}

/* The confusion plot: the model's class names, else the class folders' */
static int write_plot(const char *path, const vssm_cls_metrics *m, const vssm_classifier *clf, const img_list *l,
                      int normalize) {
    const char **names = calloc((size_t)m->classes, sizeof *names);
    vssm_err err = {0};
    char title[160];
    if (!names) {
        cli_error("%s: out of memory", path);
        return -1;
    }
    for (int c = 0; c < m->classes; c++) {
        names[c] = vssm_classifier_label(clf, c);
        if (!names[c] && c < l->n_classes) names[c] = l->classes[c];
    }
    snprintf(title, sizeof title, "Confusion matrix: top-1 %.2f%% of %lld images", vssm_cls_metrics_topk(m, 1),
             (long long)m->n);
    vssm_confusion_plot_opts o = {names, title, normalize};
    int rc = vssm_plot_confusion(path, m->confusion, m->classes, &o, &err) == VSSM_OK ? 0 : -1;
    if (rc) cli_error("%s", err.msg);
    free(names);
    return rc;
}

/* Sums every rank's counters (samples, top-k, confusion, failures) into rank 0's; the
 * time is the slowest rank's. Collective; returns 0 or -1. */
static int reduce_counts(vssm_cls_metrics *m, int *failed, int *bad_target, double *secs) {
    if (shard_size() == 1) return 0;
    const int64_t nc = (int64_t)m->classes * m->classes, len = 4 + m->kmax + nc;
    int64_t *v = malloc((size_t)len * sizeof *v);
    if (shard_agree(!v)) {
        free(v);
        return -1;
    }
    v[0] = m->n, v[1] = *failed, v[2] = *bad_target, v[3] = m->n_nan;
    memcpy(v + 4, m->correct_at, (size_t)m->kmax * sizeof *v);
    memcpy(v + 4 + m->kmax, m->confusion, (size_t)nc * sizeof *v);
    int rc = shard_sum_i64(v, len);
    if (rc == 0 && shard_is_root()) {
        m->n = v[0], *failed = (int)v[1], *bad_target = (int)v[2], m->n_nan = v[3];
        memcpy(m->correct_at, v + 4, (size_t)m->kmax * sizeof *v);
        memcpy(m->confusion, v + 4 + m->kmax, (size_t)nc * sizeof *v);
    }
    free(v);
    double *t = NULL;
    int64_t tn = 0;
    if (rc == 0 && (rc = shard_gather(secs, sizeof *secs, (void **)&t, &tn)) == 0 && t)
        for (int64_t r = 0; r < tn / (int64_t)sizeof *t; r++) *secs = t[r] > *secs ? t[r] : *secs;
    free(t);
    return rc;
}

/* the options of `eval classify` */
typedef struct cls_args {
    model_opts mo;
    int batch, json, normalize;
    const char *dir, *csv, *plot;
} cls_args;

/* 0, an exit code, or -1 (--help printed) */
static int parse_cls(int argc, char **argv, cls_args *a) {
    memset(a, 0, sizeof *a);
    model_opts_init(&a->mo);
    a->batch = 8;
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return -1;
        }
        if (model_opts_parse(&a->mo, argc, argv, &i, &bad) || cli_opt_int(argc, argv, &i, "--batch", &a->batch, &bad) ||
            cli_opt_flag(argv, i, "--json", &a->json) || cli_opt_str(argc, argv, &i, "--confusion", &a->csv, &bad) ||
            cli_opt_str(argc, argv, &i, "--plot", &a->plot, &bad) ||
            cli_opt_flag(argv, i, "--normalize", &a->normalize))
            continue;
        if (argv[i][0] == '-' || a->dir) {
            cli_bad_arg("eval classify", argv[i]);
            bad = 1;
            break;
        }
        a->dir = argv[i];
    }
    if (!bad && !a->dir) {
        cli_error("eval classify: no dataset folder given");
        bad = 1;
    }
    if (!bad && (a->batch < 1 || a->batch > 4096)) {
        cli_error("eval classify: --batch takes 1..4096");
        bad = 1;
    }
    if (bad) {
        usage(stderr);
        return VSSM_EXIT_USAGE;
    }
    vssm_err perr = {0}; /* an unknown plot format is known before the run, not after it */
    if (a->plot && vssm_plot_format_of(a->plot, NULL, &perr) != VSSM_OK) {
        cli_error("eval classify: %s", perr.msg);
        return VSSM_EXIT_USAGE;
    }
    /* the outputs, before the run: writable, not an input (the weights, the labels file),
     * not in the dataset (a plot among the images would be scored next time), not each other */
    if (a->plot && a->csv && (!strcmp(a->plot, a->csv) || cli_same_file(a->plot, a->csv))) {
        cli_error("eval classify: --plot and --confusion name the same file %s", a->plot);
        return VSSM_EXIT_USAGE;
    }
    const char *ins[2] = {a->mo.weights, a->mo.labels}, *dirs[1] = {a->dir};
    int orc = 0;
    if (shard_is_root()) { /* one rank checks and says why; all agree */
        if (a->csv) orc = cli_check_output("eval classify", a->csv, "--confusion", ins, 2, dirs, 1);
        if (!orc && a->plot) orc = cli_check_output("eval classify", a->plot, "--plot", ins, 2, dirs, 1);
    }
    return shard_agree(orc);
}

static void print_json(const cls_args *a, const vssm_cls_metrics *m, const img_list *l, int failed, double ips) {
    const int classes = m->classes, k5 = m->kmax < 5 ? m->kmax : 5;
    printf("{\"dataset\": ");
    json_str(stdout, a->dir);
    printf(", \"images\": %lld, \"failed\": %d, \"nan_logits\": %lld, \"classes\": %d, ", (long long)m->n, failed,
           (long long)m->n_nan, classes);
    if (m->n > 0)
        printf("\"top1\": %.4f, \"top5\": %.4f, ", vssm_cls_metrics_topk(m, 1), vssm_cls_metrics_topk(m, 5));
    else
        printf("\"top1\": null, \"top5\": null, "); /* nothing scored: undefined, not 0 */
    printf("\"top5_k\": %d, \"images_per_s\": %.2f, \"per_class\": [", k5, ips);
    for (int c = 0; c < classes; c++) {
        double acc = vssm_cls_metrics_class_acc(m, c);
        printf("%s{\"name\": ", c ? ", " : "");
        if (c < l->n_classes)
            json_str(stdout, l->classes[c]);
        else
            printf("null");
        printf(", \"images\": %lld, \"acc\": ", (long long)vssm_cls_metrics_class_count(m, c));
        if (isnan(acc))
            printf("null}");
        else
            printf("%.4f}", acc);
    }
    printf("], \"confusion\": [");
    for (int r = 0; r < classes; r++) {
        printf("%s[", r ? ", " : "");
        for (int c = 0; c < classes; c++)
            printf("%s%lld", c ? ", " : "", (long long)m->confusion[(size_t)r * classes + c]);
        printf("]");
    }
    printf("]}\n");
}

static void print_table(const cls_args *a, const vssm_cls_metrics *m, const img_list *l, int failed, double ips) {
    const int classes = m->classes, k5 = m->kmax < 5 ? m->kmax : 5;
    printf("dataset    %s: %lld images scored, %d failed, %d classes\n", a->dir, (long long)m->n, failed, classes);
    printf("top-1      %.3f\n", vssm_cls_metrics_topk(m, 1));
    printf("top-%d      %.3f\n", k5, vssm_cls_metrics_topk(m, 5));
    printf("per class  (top-1 %%, images)\n");
    for (int c = 0; c < classes; c++) {
        double acc = vssm_cls_metrics_class_acc(m, c);
        printf("  %-24s %7.2f  %lld\n", c < l->n_classes ? l->classes[c] : "?", isnan(acc) ? NAN : acc,
               (long long)vssm_cls_metrics_class_count(m, c));
    }
    printf("speed      %.1f images/s (decode, preprocess and forward)\n", ips);
}

/* this rank's share of the list, in whole batch windows (the batches a single process
 * forms); the counters are summed on rank 0 (exact int64). Returns the failed images. */
static int score_share(vssm_classifier *clf, const img_list *l, const run_opts *ro, vssm_cls_metrics *m,
                       int *bad_target, double *secs) {
    int64_t b, e;
    shard_range_units(l->n, ro->batch, &b, &e);
    img_list part = {l->path + b, l->label + b, (int)(e - b), (int)(e - b), l->classes, l->n_classes};
    eval_state es = {m, &part, 0};
    int failed = run_classifier(clf, &part, ro, on_image, &es, secs);
    if (reduce_counts(m, &failed, &es.bad_target, secs) != 0)
        shard_abort(VSSM_EXIT_USAGE, "eval classify: reducing the ranks' counters failed");
    *bad_target = es.bad_target;
    return failed;
}

int vssm_eval_classify(int argc, char **argv) {
    cls_args a;
    int rc = parse_cls(argc, argv, &a);
    if (rc) return rc < 0 ? VSSM_EXIT_OK : rc;
    img_list l = {0};
    int unreadable = 0; /* class folders, sub-folders or entries that could not be read */
    int listed = img_list_imagefolder(&l, a.dir, &unreadable, !shard_is_root()) != 0 ? VSSM_EXIT_USAGE : 0;
    if (!listed && l.n == 0) {
        if (shard_is_root()) cli_error("%s: no images found under the class folders", a.dir);
        listed = VSSM_EXIT_USAGE;
    }
    if ((rc = shard_same_inputs("images", listed, img_list_hash(&l), l.n))) { /* every rank lists the same */
        img_list_free(&l);
        return rc;
    }
    vssm_ctx *ctx = NULL;
    vssm_classifier *clf = NULL;
    vssm_cls_metrics m = {0};
    run_opts ro = {a.batch, shard_threads(a.mo.threads), {0}, isatty(2) && shard_is_root(), a.mo.limits};
    cli_defer_begin(); /* every rank loaded, or none goes on; one rank says why */
    rc = model_opts_open(&a.mo, &ctx, &clf, &ro.pp);
    rc = shard_agree_say(rc, cli_defer_end());
    int classes = rc ? 0 : vssm_classifier_classes(clf), failed = 0, bad_target = 0;
    vssm_err err = {0};
    if (!rc && shard_agree(vssm_cls_metrics_init(&m, classes, 5, &err) != VSSM_OK)) {
        cli_error("%s", err.msg[0] ? err.msg : "another rank could not set up the metrics");
        rc = VSSM_EXIT_USAGE;
    }
    if (!rc && l.n_classes != classes && shard_is_root())
        fprintf(stderr,
                "vssm: warning: %s has %d class folders but the model has %d classes; folder i is scored as class i\n",
                a.dir, l.n_classes, classes);
    double secs = 0;
    if (!rc) failed = score_share(clf, &l, &ro, &m, &bad_target, &secs);
    /* every rank listed the same tree and saw the same unreadable entries: count them once */
    if (!rc && shard_is_root()) failed += unreadable;
    if (!rc && !shard_is_root())
        rc = failed || bad_target ? VSSM_EXIT_INPUT : VSSM_EXIT_OK; /* joins in main */
    else if (!rc) {                                                 /* rank 0 reports */
        if (bad_target)
            fprintf(stderr, "vssm: %d images belong to class folders beyond the model's %d classes (not scored)\n",
                    bad_target, classes);
        if (m.n_nan)
            fprintf(stderr,
                    "vssm: warning: the model gave NaN logits for %lld of %lld images (a diverged or broken model; "
                    "NaN ranks below every number, all-NaN rows predict class 0)\n",
                    (long long)m.n_nan, (long long)m.n);
        double ips = secs > 0 ? (double)(l.n - (failed - unreadable)) / secs : 0;
        if (a.json) /* images beyond the model's classes were not scored: failed, as the help says */
            print_json(&a, &m, &l, failed + bad_target, ips);
        else
            print_table(&a, &m, &l, failed + bad_target, ips);
        int werr = 0;
        cli_write_begin(); /* Ctrl-C waits for the renames */
        if (a.csv) werr |= write_csv(a.csv, &m, &l) != 0;
        if (a.plot) werr |= write_plot(a.plot, &m, clf, &l, a.normalize) != 0;
        cli_write_end();
        rc = (failed || bad_target || werr) ? VSSM_EXIT_INPUT : VSSM_EXIT_OK;
    }
    vssm_cls_metrics_free(&m);
    vssm_classifier_free(clf);
    vssm_ctx_free(ctx);
    img_list_free(&l);
    return rc;
}
