/* tools/cmd_classify.c - `vssm classify`: labels for image files and folders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tools/cli.h"
#include "tools/model_opts.h"
#include "tools/runner.h"

static void usage(FILE *f) {
    fprintf(f, "usage: vssm classify --weights FILE [options] PATH...\n"
               "Classifies image files and folders (recursed, sorted).\n%s"
               "  --topk K             classes to show per image (default 5)\n"
               "  --batch B            images per forward pass (default 8)\n"
               "  --json               one JSON object per image on stdout\n"
               "Folders are walked recursively (each real folder once: link cycles are skipped with a note).\n"
               "Exit status: 0 all classified; 1 some inputs could not be read or classified (each\n"
               "  named on stderr), or none found; 2 usage error or unusable weights.\n", model_opts_help);
}

typedef struct {
    vssm_classifier *clf;
    const img_list *l;
    int topk, json;
    int ok;
} out_state;

static void json_str(const char *s) { json_put_str(stdout, s); }

static void on_image(void *user, int idx, const float *logits, int classes, const char *error) {
    out_state *o = user;
    if (!logits) { fprintf(stderr, "vssm: %s\n", error); return; }
    o->ok++;
    int k = o->topk < classes ? o->topk : classes;
    int top[64];
    double *p = malloc((size_t)classes * sizeof(double));
    softmax(logits, classes, p);
    topk_indices(logits, classes, k, top);
    if (o->json) {
        printf("{\"path\": ");
        json_str(o->l->path[idx]);
        printf(", \"topk\": [");
        for (int j = 0; j < k; j++) {
            const char *lb = vssm_classifier_label(o->clf, top[j]);
            printf("%s{\"index\": %d, \"label\": ", j ? ", " : "", top[j]);
            if (lb) json_str(lb);
            else printf("null");
            printf(", \"prob\": %.6g, \"logit\": %.9g}", p[top[j]], logits[top[j]]);
        }
        printf("]}\n");
    } else {
        printf("%s:", o->l->path[idx]);
        for (int j = 0; j < k; j++) {
            const char *lb = vssm_classifier_label(o->clf, top[j]);
            printf("%s %d", j ? " |" : "", top[j]);
            if (lb) printf(" %s", lb);
            printf(" %.4f", p[top[j]]);
        }
        printf("\n");
    }
    free(p);
}

VSSM_VERB(classify) {
    model_opts m;
    model_opts_init(&m);
    int topk = 5, batch = 8, json = 0, bad = 0, npaths = 0;
    char **paths = calloc((size_t)argc, sizeof(char *));
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); free(paths); return 0; }
        if (model_opts_parse(&m, argc, argv, &i, &bad) || cli_opt_int(argc, argv, &i, "--topk", &topk, &bad) ||
            cli_opt_int(argc, argv, &i, "--batch", &batch, &bad) || cli_opt_flag(argv, i, "--json", &json))
            continue;
        if (argv[i][0] == '-' && argv[i][1]) { cli_error("classify: unknown option '%s'", argv[i]); bad = 1; break; }
        paths[npaths++] = argv[i];
    }
    if (!bad && npaths == 0) { cli_error("classify: no image files or folders given"); bad = 1; }
    if (!bad && (topk < 1 || topk > 64)) { cli_error("classify: --topk takes 1..64"); bad = 1; }
    if (!bad && (batch < 1 || batch > 4096)) { cli_error("classify: --batch takes 1..4096"); bad = 1; }
    if (bad) { usage(stderr); free(paths); return VSSM_EXIT_USAGE; }

    vssm_ctx *ctx;
    vssm_classifier *clf;
    run_opts ro = {batch, m.threads, {0}, isatty(2), m.limits};
    int rc = model_opts_open(&m, &ctx, &clf, &ro.pp);
    if (rc) { free(paths); return rc; }
    img_list l = {0};
    int missing = img_list_collect(&l, paths, npaths);
    out_state os = {clf, &l, topk, json, 0};
    int failed = 0;
    if (l.n == 0)
        cli_error("classify: no images found in %s%s", paths[0],
                  npaths > 1 ? " or the other paths given" : "");
    else failed = run_classifier(clf, &l, &ro, on_image, &os, NULL);
    fflush(stdout);
    int total_failed = failed + missing;
    fprintf(stderr, "vssm: classified %d image%s, %d failed\n", os.ok, os.ok == 1 ? "" : "s", total_failed);
    img_list_free(&l);
    vssm_classifier_free(clf);
    vssm_ctx_free(ctx);
    free(paths);
    return (total_failed || os.ok == 0) ? VSSM_EXIT_INPUT : VSSM_EXIT_OK;
}
