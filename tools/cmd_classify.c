/* tools/cmd_classify.c - `vssm classify`: labels for image files and folders. Under mpirun
 * each rank classifies its share of the list (whole batch windows, tools/mpi_shard.h) and
 * rank 0 prints every rank's lines in list order: stdout is a single process's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tools/cli.h"
#include "tools/model_opts.h"
#include "tools/mpi_shard.h"
#include "tools/runner.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vssm classify --weights FILE [options] [--] PATH...\n"
            "Prints the top classes of each image, of files or folders (recursed, sorted).\n"
            "example: vssm classify --weights weights/fashion_mnist/vmamba_fashion.safetensors --topk 3 \\\n"
            "           weights/fashion_mnist/sample\n%s"
            "  --topk K             classes to show per image (default 5)\n"
            "  --batch B            images per forward pass (default 8)\n"
            "  --json               one JSON object per image on stdout\n"
            "Folders are walked recursively (each real folder once: link cycles are skipped with a note;\n"
            "  hidden entries, names starting with '.', are skipped).\n"
            "Under mpirun each rank classifies a share of the images; rank 0 prints the lines in order.\n"
            "Exit status: 0 all classified; 1 some inputs could not be read or classified (each\n"
            "  named on stderr), or none found; 2 usage error or unusable weights.\n",
            model_opts_help);
}

typedef struct {
    vssm_classifier *clf;
    const img_list *l;
    int topk, json;
    int ok, nan; /* images classified; of them, with a NaN logit (a diverged model) */
    FILE *f;     /* the lines (shard_out_begin) */
} out_state;

/* a number for JSON: null where it is not finite (JSON has no NaN) */
static void json_num(FILE *f, const char *fmt, double v) {
    if (isfinite(v))
        fprintf(f, fmt, v);
    else
        fprintf(f, "null");
}

static void on_image(void *user, int idx, const float *logits, int classes, const char *error) {
    out_state *o = user;
    if (!logits) {
        cli_error("%s", error);
        return;
    }
    double *p = malloc((size_t)classes * sizeof(double));
    if (!p) {
        cli_error("%s: out of memory for %d probabilities", o->l->path[idx], classes);
        return;
    }
    o->ok++;
    for (int c = 0; c < classes; c++)
        if (isnan(logits[c])) {
            o->nan++;
            break;
        }
    int k = o->topk < classes ? o->topk : classes;
    int top[64];
    softmax(logits, classes, p);
    topk_indices(logits, classes, k, top);
    if (o->json) {
        fprintf(o->f, "{\"path\": ");
        json_put_str(o->f, o->l->path[idx]);
        fprintf(o->f, ", \"topk\": [");
        for (int j = 0; j < k; j++) {
            const char *lb = vssm_classifier_label(o->clf, top[j]);
            fprintf(o->f, "%s{\"index\": %d, \"label\": ", j ? ", " : "", top[j]);
            if (lb)
                json_put_str(o->f, lb);
            else
                fprintf(o->f, "null");
            fprintf(o->f, ", \"prob\": ");
            json_num(o->f, "%.6g", p[top[j]]);
            fprintf(o->f, ", \"logit\": ");
            json_num(o->f, "%.9g", logits[top[j]]);
            fprintf(o->f, "}");
        }
        fprintf(o->f, "]}\n");
    } else {
        text_put_path(o->f, o->l->path[idx]);
        fputc(':', o->f);
        for (int j = 0; j < k; j++) {
            const char *lb = vssm_classifier_label(o->clf, top[j]);
            fprintf(o->f, "%s %d", j ? " |" : "", top[j]);
            if (lb) fprintf(o->f, " %s", lb);
            fprintf(o->f, " %.4f", p[top[j]]);
        }
        fprintf(o->f, "\n");
    }
    free(p);
}

VSSM_VERB(classify) {
    model_opts m;
    model_opts_init(&m);
    int topk = 5, batch = 8, json = 0, bad = 0, npaths = 0;
    char **paths = calloc((size_t)argc, sizeof(char *));
    int only_paths = 0; /* after "--": a file named -x.png is a path */
    for (int i = 1; i < argc && !bad; i++) {
        if (only_paths) {
            paths[npaths++] = argv[i];
            continue;
        }
        if (!strcmp(argv[i], "--")) {
            only_paths = 1;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            free(paths);
            return 0;
        }
        if (model_opts_parse(&m, argc, argv, &i, &bad) || cli_opt_int(argc, argv, &i, "--topk", &topk, &bad) ||
            cli_opt_int(argc, argv, &i, "--batch", &batch, &bad) || cli_opt_flag(argv, i, "--json", &json))
            continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            cli_bad_arg("classify", argv[i]);
            bad = 1;
            break;
        }
        paths[npaths++] = argv[i];
    }
    if (!bad && npaths == 0) {
        cli_error("classify: no image files or folders given");
        bad = 1;
    }
    if (!bad && (topk < 1 || topk > 64)) {
        cli_error("classify: --topk takes 1..64");
        bad = 1;
    }
    if (!bad && (batch < 1 || batch > 4096)) {
        cli_error("classify: --batch takes 1..4096");
        bad = 1;
    }
    if (bad) {
        usage(stderr);
        free(paths);
        return VSSM_EXIT_USAGE;
    }

    vssm_ctx *ctx = NULL;
    vssm_classifier *clf = NULL;
    run_opts ro = {batch, shard_threads(m.threads), {0}, isatty(2) && shard_is_root(), m.limits};
    cli_defer_begin(); /* every rank loaded, or none goes on; one rank says why */
    int rc = model_opts_open(&m, &ctx, &clf, &ro.pp);
    rc = shard_agree_say(rc, cli_defer_end());
    if (rc) {
        vssm_classifier_free(clf);
        vssm_ctx_free(ctx);
        free(paths);
        return rc;
    }
    img_list l = {0};
    int missing = img_list_collect(&l, paths, npaths, !shard_is_root());
    if ((rc = shard_same_inputs("images", 0, img_list_hash(&l), l.n))) { /* every rank lists the same */
        img_list_free(&l);
        vssm_classifier_free(clf);
        vssm_ctx_free(ctx);
        free(paths);
        return rc;
    }
    int64_t b, e; /* this rank's share, in whole batch windows (the batches one process forms) */
    shard_range_units(l.n, batch, &b, &e);
    img_list part = {l.path + b, l.label + b, (int)(e - b), (int)(e - b), NULL, 0};
    shard_out so;
    out_state os = {clf, &part, topk, json, 0, 0, shard_out_begin(&so)};
    int64_t counts[3] = {0, 0, 0}; /* classified, failed, with NaN logits: summed over the ranks */
    if (l.n == 0 && shard_is_root())
        cli_error("classify: no images found in %s%s", paths[0], npaths > 1 ? " or the other paths given" : "");
    else if (l.n > 0)
        counts[1] = run_classifier(clf, &part, &ro, on_image, &os, NULL);
    counts[0] = os.ok, counts[2] = os.nan;
    counts[1] += shard_out_end(&so) != 0; /* this rank's lines lost: a failure; both calls are collective */
    if (shard_sum_i64(counts, 3)) counts[1] += 1;
    int total_failed = (int)counts[1] + missing;
    if (shard_is_root() && counts[2])
        fprintf(stderr,
                "vssm: warning: the model gave NaN logits for %lld image%s (a diverged or broken model: their "
                "labels mean nothing)\n",
                (long long)counts[2], counts[2] == 1 ? "" : "s");
    if (shard_is_root())
        fprintf(stderr, "vssm: classified %lld image%s, %d failed\n", (long long)counts[0], counts[0] == 1 ? "" : "s",
                total_failed);
    img_list_free(&l);
    vssm_classifier_free(clf);
    vssm_ctx_free(ctx);
    free(paths);
    /* rank 0 holds the sums: its verdict is every rank's */
    return shard_bcast_int((total_failed || counts[0] == 0) ? VSSM_EXIT_INPUT : VSSM_EXIT_OK);
}
