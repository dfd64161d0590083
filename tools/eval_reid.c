/* tools/eval_reid.c - `vssm eval reid`: CMC rank-1/5/10, mAP and mINP of a features file
 * (from `vssm reid extract`) with torchreid's Market-1501 protocol (vssm/reid.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tools/cli.h"
#include "tools/mpi_shard.h"
#include "vssm/reid.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vssm eval reid --features FEATS.safetensors [options]\n"
            "Scores re-identification embeddings: CMC rank-k, mAP and mINP of the queries against the gallery.\n"
            "example: vssm eval reid --features feats.safetensors --rerank\n"
            "torchreid's eval_market1501: per query the gallery by ascending distance (ties: gallery order),\n"
            "same pid + same camera removed, queries without a match skipped; mINP as fast-reid.\n"
            "  --metric euclidean|cosine   euclidean is squared, as torchreid (default euclidean)\n"
            "  --rerank                    k-reciprocal re-ranking (k1 20, k2 6, lambda 0.3; needs 4 (q+g)^2 bytes)\n"
            "  --k1 K --k2 K --lambda L    re-ranking parameters (with --rerank; K 1..100000, L 0..1)\n"
            "  --max-rank R                CMC length (default 50)\n"
            "  --cmc                       print the CMC curve (text) / add it (JSON)\n"
            "  --json                      one JSON object on stdout: rank1, rank5, rank10, mAP, mINP (percent)\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int vssm_eval_reid(int argc, char **argv) {
    const char *feats = NULL, *metric = "euclidean", *lambda_s = NULL;
    vssm_reid_eval_opts o = vssm_reid_eval_default_opts();
    int json = 0, cmc = 0, bad = 0, k1_set = 0, k2_set = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (cli_opt_str(argc, argv, &i, "--features", &feats, &bad) ||
            cli_opt_str(argc, argv, &i, "--metric", &metric, &bad) || cli_opt_flag(argv, i, "--rerank", &o.rerank) ||
            cli_opt_int(argc, argv, &i, "--max-rank", &o.max_rank, &bad) ||
            (cli_opt_int(argc, argv, &i, "--k1", &o.k1, &bad) && (k1_set = 1)) ||
            (cli_opt_int(argc, argv, &i, "--k2", &o.k2, &bad) && (k2_set = 1)) ||
            cli_opt_str(argc, argv, &i, "--lambda", &lambda_s, &bad) || cli_opt_flag(argv, i, "--json", &json) ||
            cli_opt_flag(argv, i, "--cmc", &cmc))
            continue;
        if (argv[i][0] != '-' && !feats) { /* FEATS alone, as --features FEATS */
            feats = argv[i];
            continue;
        }
        cli_bad_arg("eval reid", argv[i]);
        bad = 1;
    }
    int mt = vssm_reid_metric_from_name(metric);
    if (!bad && !feats) {
        cli_error("eval reid: --features FEATS.safetensors is required");
        bad = 1;
    }
    if (!bad && mt < 0) {
        cli_error("eval reid: --metric takes euclidean or cosine, got '%s'", metric);
        bad = 1;
    }
    if (!bad && o.max_rank < 1) {
        cli_error("eval reid: --max-rank must be >= 1, got %d", o.max_rank);
        bad = 1;
    }
    /* the re-ranking library's own range (eval/reid_rerank.c), checked here as a usage error */
    if (!bad && (o.k1 < 1 || o.k1 > 100000 || o.k2 < 1 || o.k2 > 100000)) {
        cli_error("eval reid: --k1 and --k2 take 1 .. 100000, got %d and %d", o.k1, o.k2);
        bad = 1;
    }
    if (!bad && lambda_s) {
        char *end;
        o.lambda = strtod(lambda_s, &end);
        if (end == lambda_s || *end || !(o.lambda >= 0 && o.lambda <= 1)) {
            cli_error("eval reid: --lambda takes 0..1, got '%s'", lambda_s);
            bad = 1;
        }
    }
    if (!bad && !o.rerank && (k1_set || k2_set || lambda_s)) {
        cli_error("eval reid: --%s only applies with --rerank", k1_set ? "k1" : k2_set ? "k2" : "lambda");
        bad = 1;
    }
    if (bad) {
        usage(stderr);
        return VSSM_EXIT_USAGE;
    }
    o.metric = (vssm_reid_metric)mt;
    /* Under mpirun rank 0 evaluates alone: the work is one distance matrix, whose rows a
     * split GEMM need not reproduce bit for bit; the other ranks wait for its exit code. */
    if (!shard_is_root()) return VSSM_EXIT_OK;

    vssm_err err = {0};
    vssm_reid_features f;
    if (vssm_reid_features_load(&f, feats, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    vssm_reid_labels q = {f.q_pid, f.q_camid, f.nq}, g = {f.g_pid, f.g_camid, f.ng};
    vssm_reid_result r;
    double t0 = now_s();
    vssm_status s = vssm_reid_evaluate_features(f.query, &q, f.gallery, &g, f.dim, &o, &r, &err);
    double secs = now_s() - t0;
    if (s != VSSM_OK) {
        cli_error("%s: %s", feats, err.msg);
        vssm_reid_features_free(&f);
        return VSSM_EXIT_INPUT;
    }
    if (json) {
        printf(
            "{\"rank1\": %.4f, \"rank5\": %.4f, \"rank10\": %.4f, \"mAP\": %.4f, \"mINP\": %.4f, \"metric\": \"%s\", "
            "\"rerank\": %s, \"queries\": %lld, \"valid_queries\": %lld, \"gallery\": %lld, \"dim\": %lld, "
            "\"seconds\": %.3f",
            100 * r.rank1, 100 * r.rank5, 100 * r.rank10, 100 * r.mAP, 100 * r.mINP, metric,
            o.rerank ? "true" : "false", (long long)r.n_query, (long long)r.n_valid, (long long)f.ng, (long long)f.dim,
            secs);
        if (cmc) {
            printf(", \"cmc\": [");
            for (int k = 0; k < r.max_rank; k++) printf("%s%.4f", k ? ", " : "", 100 * r.cmc[k]);
            printf("]");
        }
        printf("}\n");
    } else {
        printf("re-ID %s: %lld queries (%lld with a match) against %lld gallery images, %lld dims, %s distance%s, %.2f "
               "s\n",
               feats, (long long)r.n_query, (long long)r.n_valid, (long long)f.ng, (long long)f.dim, metric,
               o.rerank ? " + re-ranking" : "", secs);
        printf("  mAP     %7.2f%%\n  mINP    %7.2f%%\n  rank-1  %7.2f%%\n  rank-5  %7.2f%%\n  rank-10 %7.2f%%\n",
               100 * r.mAP, 100 * r.mINP, 100 * r.rank1, 100 * r.rank5, 100 * r.rank10);
        if (cmc)
            for (int k = 0; k < r.max_rank; k++) printf("  cmc %3d %7.2f%%\n", k + 1, 100 * r.cmc[k]);
    }
    vssm_reid_result_free(&r);
    vssm_reid_features_free(&f);
    return VSSM_EXIT_OK;
}
