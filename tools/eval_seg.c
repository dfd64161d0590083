/* tools/eval_seg.c - `vssm eval seg`: mIoU with mmseg 1.x's IoUMetric, either by running a
 * model over a dataset layout or by scoring existing prediction PNGs (vssm/seg_eval.h). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tools/cli.h"
#include "tools/model_opts.h"
#include "tools/mpi_shard.h"
#include "tools/runner.h"
#include "tools/seg_tool.h"
#include "vssm/seg_eval.h"
#include "vssm/segment.h"
#include "datasets/fs.h"
#include "kernels/infile.h"

static const char *usage =
    "usage: vssm eval seg --weights FILE --dataset ade20k|voc|cityscapes|pairs ROOT [--labels-dir DIR]\n"
    "                     [--split NAME] [--mode whole|slide] [--crop N --stride N] [--scale L,S] [--json]\n"
    "       vssm eval seg --pred DIR --gt DIR --classes C [--ignore-index 255] [--reduce-zero-label]\n"
    "                     [--class-names FILE] [--json]\n"
    "Scores semantic segmentation (mIoU, aAcc, mAcc, mDice): a model's on a dataset, or saved label maps.\n"
    "example: vssm eval seg --weights weights/seg_demo/vmamba_seg_demo.safetensors --dataset pairs \\\n"
    "           /tmp/segdemo/val/images --labels-dir /tmp/segdemo/val/labels\n"
    "  mmseg IoUMetric: dataset-level sums (64-bit counters); NaN classes left out of the means.\n"
    "  --pred/--gt match label PNGs by file stem. --save-pred DIR writes the model's label maps\n"
    "  (DIR may not be, or lie inside, the dataset's image or label-map folder; no label map is\n"
    "  written over an input file).\n"
    "  --ignore-index N: 0..65535 (label maps hold 8- or 16-bit values). --threads T: 0 = all cores.\n"
    "  --json: metrics that are undefined (no pixel of a class, or no image scored) are null.\n"
    "%s"
    "Exit status: 0 every image scored; 1 some images failed or are missing (each named on\n"
    "  stderr; the metrics cover the rest), including when none could be scored or no pixel\n"
    "  is labelled (every gt pixel the ignore index: metrics undefined, null in --json);\n"
    "  2 usage error, unusable weights or dataset root, or no images / label maps found at all.\n";

/* A JSON number, or null when it is not finite (JSON has no NaN / Infinity). */
static void json_num(const char *key, double v) {
    printf("\"%s\": ", key);
    if (isfinite(v))
        printf("%.4f", v);
    else
        printf("null");
}

/* ips: images per second of a model run, < 0 for scored files (no speed line); with no
 * image scored there is no speed to tell (null in JSON, no line) */
static void print_results(const vssm_seg_metrics *m, char **names, int json, double ips) {
    if (m->images == 0 && ips >= 0) ips = NAN;
    vssm_seg_summary s;
    vssm_seg_metrics_summary(m, &s);
    if (json) {
        putchar('{');
        json_num("aAcc", s.aAcc);
        printf(", ");
        json_num("mIoU", s.mIoU);
        printf(", ");
        json_num("mAcc", s.mAcc);
        printf(", ");
        json_num("mDice", s.mDice);
        printf(", \"images\": %lld, ", (long long)m->images);
        if (ips >= 0)
            printf("\"images_per_s\": %.2f, ", ips);
        else if (isnan(ips))
            printf("\"images_per_s\": null, ");
        printf("\"per_class\": [");
        for (int c = 0; c < m->classes; c++) {
            printf("%s{\"name\": ", c ? ", " : "");
            json_put_str(stdout, names[c] ? names[c] : "?");
            printf(", ");
            json_num("iou", vssm_seg_metrics_iou(m, c));
            printf(", ");
            json_num("acc", vssm_seg_metrics_acc(m, c));
            printf("}");
        }
        printf("]}\n");
        return;
    }
    printf("+--------------------------------+--------+--------+\n");
    printf("| %-30s | %6s | %6s |\n", "Class", "IoU", "Acc");
    printf("+--------------------------------+--------+--------+\n");
    for (int c = 0; c < m->classes; c++)
        printf("| %-30.30s | %6.2f | %6.2f |\n", names[c] ? names[c] : "?", vssm_seg_metrics_iou(m, c),
               vssm_seg_metrics_acc(m, c));
    printf("+--------------------------------+--------+--------+\n");
    printf("images %lld  aAcc %.2f  mIoU %.2f  mAcc %.2f  mDice %.2f\n", (long long)m->images, s.aAcc, s.mIoU, s.mAcc,
           s.mDice);
    if (ips >= 0) printf("speed      %.1f images/s (decode, preprocess, forward and scoring)\n", ips);
}

static char **make_names(int classes, const char *file, vssm_segmenter *sg, int *bad) {
    char **names = calloc((size_t)classes, sizeof(char *));
    if (!names) {
        cli_error("out of memory for %d class names", classes);
        *bad = 1;
        return NULL;
    }
    FILE *f = NULL;
    vssm_err err = {0};
    if (file && vssm_fopen_regular(&f, file, "the class names file", VSSM_TEXT_FILE_MAX, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        *bad = 1;
    }
    char line[512];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (n < classes) names[n] = strdup(line);
        n++;
    }
    if (f) fclose(f);
    if (f && n != classes) {
        cli_error("%s: %d names for %d classes", file, n, classes);
        *bad = 1;
    }
    for (int c = 0; c < classes; c++) {
        if (names[c]) continue;
        const char *m = sg ? vssm_segmenter_class_name(sg, c) : NULL;
        char b[32];
        snprintf(b, sizeof b, "class%d", c);
        if (!(names[c] = strdup(m ? m : b))) {
            cli_error("out of memory for the class names");
            *bad = 1;
        }
    }
    return names;
}

static void free_names(char **n, int c) {
    for (int i = 0; n && i < c; i++) free(n[i]);
    free(n);
}

/* Sums every rank's counters (images, per-class intersect / pred / label areas, failures)
 * into rank 0's: int64 sums, so the result is the single-process one exactly. Collective;
 * a failure ends the job (no rank may be left waiting in a collective). */
static void reduce_seg(vssm_seg_metrics *m, int *failed) {
    if (shard_size() == 1) return;
    const int64_t C = m->classes, len = 2 + 3 * C;
    int64_t *v = malloc((size_t)len * sizeof *v);
    if (shard_agree(!v)) shard_abort(VSSM_EXIT_USAGE, "eval seg: out of memory reducing the counters");
    v[0] = m->images, v[1] = *failed;
    memcpy(v + 2, m->area_inter, (size_t)C * sizeof *v);
    memcpy(v + 2 + C, m->area_pred, (size_t)C * sizeof *v);
    memcpy(v + 2 + 2 * C, m->area_label, (size_t)C * sizeof *v);
    if (shard_sum_i64(v, len) != 0) shard_abort(VSSM_EXIT_USAGE, "eval seg: reducing the ranks' counters failed");
    if (shard_is_root()) {
        m->images = v[0], *failed = (int)v[1];
        memcpy(m->area_inter, v + 2, (size_t)C * sizeof *v);
        memcpy(m->area_pred, v + 2 + C, (size_t)C * sizeof *v);
        memcpy(m->area_label, v + 2 + 2 * C, (size_t)C * sizeof *v);
    }
    free(v);
}

/* The run's verdict, said on stderr (rank 0): 0, or 1 when an image failed or nothing
 * could be scored (no image, or no labelled pixel: the metrics are undefined). */
static int report_end(const vssm_seg_metrics *m, int failed, int n) {
    if (failed && m->images == 0)
        fprintf(stderr, "vssm: %d of %d images failed (named above); none could be scored, the metrics are undefined\n",
                failed, n);
    else if (failed)
        fprintf(stderr, "vssm: %d of %d images failed (named above); metrics cover the rest\n", failed, n);
    if (m->images > 0 && vssm_seg_metrics_labelled(m) == 0) {
        fprintf(stderr,
                "vssm: no pixel of the %lld scored image%s is labelled (every ground-truth pixel is the ignore index "
                "%d%s): the metrics are undefined\n",
                (long long)m->images, m->images == 1 ? "" : "s", m->ignore_index,
                m->reduce_zero_label ? " after reduce-zero-label, which makes 0 ignored" : "");
        return VSSM_EXIT_INPUT;
    }
    return failed || m->images == 0 ? VSSM_EXIT_INPUT : VSSM_EXIT_OK;
}


/* form 2: score prediction PNGs against GT PNGs, matched by stem */
static int score_dirs(const char *pred, const char *gt, int classes, int ignore, int rzl, const char *names_file,
                      int json) {
    if (classes < 1 || classes > 65536) {
        cli_error("eval seg: --classes C (1..65536) is required with --pred/--gt");
        return VSSM_EXIT_USAGE;
    }
    /* every rank lists; a rank that cannot (or lists another set) stops them all together in
     * shard_same_inputs, before any other collective: an early return here hung the others */
    int listed = 0;
    char **files = NULL;
    int n = 0, cap = 0;
    DIR *d = opendir(gt), *dp = d ? opendir(pred) : NULL;
    if (!d || !dp) {
        if (shard_is_root())
            cli_error("%s: cannot open the %s folder", d ? pred : gt, d ? "predictions" : "ground-truth");
        listed = VSSM_EXIT_USAGE;
    }
    if (dp) closedir(dp);
    struct dirent *e;
    int oom = 0;
    while (!listed && !oom && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".png")) continue;
        if (n == cap) {
            char **nf = cap < (1 << 28) ? realloc(files, sizeof(char *) * (size_t)(cap ? 2 * cap : 64)) : NULL;
            if (!nf) {
                oom = 1;
                break;
            }
            files = nf;
            cap = cap ? 2 * cap : 64;
        }
        if (!(files[n] = strdup(e->d_name)))
            oom = 1;
        else
            n++;
    }
    if (d) closedir(d);
    if (oom) {
        cli_error("%s: out of memory listing the ground truth", gt);
        listed = VSSM_EXIT_USAGE;
    }
    if (n) qsort(files, (size_t)n, sizeof *files, vssm_fs_cmp_str);
    if (!listed && !n) {
        if (shard_is_root()) cli_error("%s: no .png label maps: nothing to score", gt);
        listed = VSSM_EXIT_USAGE;
    }
    uint64_t h = SHARD_HASH0;
    for (int i = 0; i < n; i++) h = shard_hash(h, files[i], strlen(files[i]) + 1);
    if ((listed = shard_same_inputs("label maps", listed, h, n))) {
        for (int i = 0; i < n; i++) free(files[i]);
        free(files);
        return listed;
    }
    int bad = 0, failed = 0;
    char **names = make_names(classes, names_file, NULL, &bad);
    vssm_seg_metrics m;
    vssm_err err = {0};
    if (shard_agree(bad || vssm_seg_metrics_init(&m, classes, ignore, rzl, &err) != VSSM_OK)) {
        if (!bad) cli_error("%s", err.msg[0] ? err.msg : "another rank could not set up the metrics");
        free_names(names, classes);
        for (int i = 0; i < n; i++) free(files[i]);
        free(files);
        return VSSM_EXIT_USAGE;
    }
    int64_t i0, i1; /* this rank's share of the (identically sorted) list */
    shard_range(n, &i0, &i1);
    for (int i = (int)i0; i < (int)i1; i++) {
        char gp[4096], pp[4096], stem[1024];
        vssm_label_map g = {0}, p = {0};
        if (snprintf(gp, sizeof gp, "%s/%s", gt, files[i]) >= (int)sizeof gp ||
            snprintf(pp, sizeof pp, "%s/%s.png", pred, vssm_seg_path_stem(files[i], 0, stem, sizeof stem)) >=
                (int)sizeof pp) {
            cli_error("%s/%s: path too long", gt, files[i]);
            failed++;
        } else if (vssm_label_map_load(&g, gp, &err) != VSSM_OK || vssm_label_map_load(&p, pp, &err) != VSSM_OK) {
            cli_error("%s", err.msg);
            failed++;
        } else if (g.w != p.w || g.h != p.h) {
            cli_error("%s: prediction is %dx%d but the ground truth %s is %dx%d", pp, p.w, p.h, gp, g.w, g.h);
            failed++;
        } else if (vssm_seg_metrics_add_files(&m, p.data, g.data, (int64_t)g.w * g.h, g.w, pp, gp, &err) != VSSM_OK) {
            cli_error("%s", err.msg);
            failed++;
        }
        vssm_label_map_free(&g);
        vssm_label_map_free(&p);
    }
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
    reduce_seg(&m, &failed);
    int rc = VSSM_EXIT_OK;
    if (shard_is_root()) {
        print_results(&m, names, json, -1);
        rc = report_end(&m, failed, n);
    }
    vssm_seg_metrics_free(&m);
    free_names(names, classes);
    return shard_bcast_int(rc); /* rank 0 holds the sums: its verdict is every rank's */
}

/* image i of ds predicted, scored into m (and saved under save_pred); the failures (named) */
static int score_image(vssm_segmenter *sg, const vssm_seg_dataset *ds, int i, const vssm_image_limits *lim,
                       const char *save_pred, const seg_inputs *inputs, vssm_seg_metrics *m, int32_t **pred32) {
    vssm_err err = {0};
    vssm_image im = {0};
    vssm_label_map g = {0};
    uint8_t *lab = NULL;
    int failed = 0;
    if (vssm_image_load(&im, ds->image[i], lim, &err) != VSSM_OK ||
        vssm_label_map_load(&g, ds->label[i], &err) != VSSM_OK) {
        seg_tool_print_err(err.msg);
        failed++;
    } else if (g.w != im.w || g.h != im.h) {
        cli_error("%s: label map is %dx%d but the image %s is %dx%d", ds->label[i], g.w, g.h, ds->image[i], im.w, im.h);
        failed++;
    } else {
        lab = malloc((size_t)im.w * im.h);
        int32_t *np = realloc(*pred32, sizeof(int32_t) * (size_t)im.w * im.h);
        if (np) *pred32 = np;
        if (!lab || !np) {
            cli_error("%s: out of memory for a %dx%d prediction", ds->image[i], im.w, im.h);
            failed++;
        } else if (vssm_segmenter_predict(sg, &im, NULL, lab, &err) != VSSM_OK) {
            cli_error("%s: %s", ds->image[i], err.msg);
            failed++;
        } else {
            for (size_t p = 0; p < (size_t)im.w * im.h; p++) np[p] = lab[p];
            if (vssm_seg_metrics_add(m, np, g.data, (int64_t)im.w * im.h, im.w, ds->label[i], &err) != VSSM_OK) {
                cli_error("%s", err.msg);
                failed++;
            }
            if (save_pred) {
                char dst[4096], stem[1024];
                if (snprintf(dst, sizeof dst, "%s/%s.png", save_pred,
                             vssm_seg_path_stem(ds->label[i], 0, stem, sizeof stem)) >= (int)sizeof dst) {
                    cli_error("%s: --save-pred: the output path is too long", ds->image[i]);
                    failed++;
                } else if (seg_inputs_has(inputs, dst)) { /* through a link: never over an image or label map */
                    cli_error("%s: --save-pred: not written, it is an input of this run (an image or a label map)",
                              dst);
                    failed++;
                } else {
                    cli_write_begin(); /* a signal acts once the file is in place (no PATH.XXXXXX left) */
                    if (vssm_label_png_write(dst, lab, im.w, im.h, vssm_segmenter_palette(sg), &err) != VSSM_OK) {
                        cli_error("%s", err.msg);
                        failed++;
                    }
                    cli_write_end();
                }
            }
        }
    }
    free(lab);
    vssm_image_free(&im);
    vssm_label_map_free(&g);
    return failed;
}

/* form 1: run a model over a dataset layout */
static int run_dataset(const seg_tool_opts *so, const vssm_image_limits *lim, const char *layout, const char *root,
                       const char *labels_dir, const char *split, int ignore, int rzl_flag, const char *names_file,
                       const char *save_pred, int json) {
    int lay = vssm_seg_layout_from_name(layout);
    if (lay < 0) {
        cli_error("--dataset takes ade20k, voc, cityscapes or pairs, got '%s'", layout);
        return VSSM_EXIT_USAGE;
    }
    if (!root) {
        cli_error("eval seg: the dataset ROOT folder is required");
        return VSSM_EXIT_USAGE;
    }
    vssm_err err = {0};
    vssm_seg_dataset ds;
    /* every rank lists; one that cannot (or lists another set) stops them all together in
     * shard_same_inputs, before any other collective: an early return here hung the others */
    int listed = 0;
    if (vssm_seg_dataset_open(&ds, (vssm_seg_layout)lay, root, split, labels_dir, &err) != VSSM_OK) {
        if (shard_is_root()) cli_error("%s", err.msg);
        listed = VSSM_EXIT_USAGE;
    }
    if (!listed && save_pred) { /* never into the dataset's folders: the ground truth would be written over */
        const char *dirs[2] = {ds.label_dir, ds.image_dir}, *what[2] = {"label maps", "images"};
        for (int k = 0; k < 2 && !listed; k++)
            if (dirs[k] && (cli_same_file(save_pred, dirs[k]) || cli_path_inside(save_pred, dirs[k]))) {
                if (shard_is_root()) /* every rank finds the same: one says it */
                    cli_error("eval seg: --save-pred %s %s the dataset's %s folder %s: predictions would be written "
                              "among (or over) the inputs; give another folder",
                              save_pred, cli_same_file(save_pred, dirs[k]) ? "is" : "is inside", what[k], dirs[k]);
                listed = VSSM_EXIT_USAGE;
            }
        struct stat sst; /* created like segment's --out; every rank may try, one succeeds */
        if (!listed) mkdir(save_pred, 0777);
        if (!listed && (stat(save_pred, &sst) != 0 || !S_ISDIR(sst.st_mode))) {
            cli_error("%s: cannot create the --save-pred folder", save_pred);
            listed = VSSM_EXIT_USAGE;
        }
    }
    uint64_t h = SHARD_HASH0;
    for (int i = 0; i < ds.n; i++) {
        h = shard_hash(h, ds.image[i], strlen(ds.image[i]) + 1);
        h = shard_hash(h, ds.label[i] ? ds.label[i] : "", ds.label[i] ? strlen(ds.label[i]) + 1 : 1);
    }
    if ((listed = shard_same_inputs("images", listed, h, ds.n))) {
        vssm_seg_dataset_free(&ds);
        return listed;
    }
    vssm_ctx *ctx = NULL;
    vssm_segmenter *sg = NULL;
    cli_defer_begin(); /* every rank loaded, or none goes on; one rank says why */
    int rc = seg_tool_open(so, &ctx, &sg);
    rc = shard_agree_say(rc, cli_defer_end());
    if (rc) {
        vssm_segmenter_free(sg);
        vssm_ctx_free(ctx);
        vssm_seg_dataset_free(&ds);
        return rc;
    }
    const int classes = vssm_segmenter_classes(sg);
    int rzl = rzl_flag ? 1 : ds.reduce_zero_label;
    if (!rzl_flag && lay == VSSM_SEG_LAYOUT_PAIRS && vssm_segmenter_reduce_zero_label(sg) > 0) rzl = 1;
    int bad = 0, failed = 0;
    char **names = make_names(classes, names_file, sg, &bad);
    vssm_seg_metrics m;
    if (shard_agree(bad || vssm_seg_metrics_init(&m, classes, ignore, rzl, &err) != VSSM_OK)) {
        if (!bad) cli_error("%s", err.msg[0] ? err.msg : "another rank could not set up the metrics");
        free_names(names, classes);
        vssm_segmenter_free(sg);
        vssm_ctx_free(ctx);
        vssm_seg_dataset_free(&ds);
        return VSSM_EXIT_USAGE;
    }
    for (int k = 0; k < ds.n_missing && shard_is_root(); k++) cli_error("%s", ds.missing[k]);
    failed += shard_is_root() ? ds.n_missing : 0; /* counted once, by rank 0 */
    seg_inputs inputs = {0};
    if (save_pred && seg_inputs_init(&inputs, ds.image, (size_t)ds.n, ds.label, (size_t)ds.n)) {
        cli_error("eval seg: out of memory listing the inputs");
        save_pred = NULL; /* nothing written, every image counted as failed below */
        failed += shard_is_root() ? ds.n : 0;
    }
    int32_t *pred32 = NULL;
    int64_t i0, i1; /* this rank's share of the (identically sorted) dataset */
    shard_range(ds.n, &i0, &i1);
    const int progress = isatty(2) && shard_is_root();
    const double t0 = run_clock();
    for (int i = (int)i0; i < (int)i1; i++) {
        if (progress && i > i0) run_progress(i - (int)i0, (int)(i1 - i0), t0);
        failed += score_image(sg, &ds, i, lim, save_pred, &inputs, &m, &pred32);
    }
    free(pred32);
    seg_inputs_free(&inputs);
    if (progress) run_progress((int)(i1 - i0), (int)(i1 - i0), t0);
    const double secs = shard_max_double(run_clock() - t0); /* the slowest rank's */
    reduce_seg(&m, &failed);
    rc = VSSM_EXIT_OK;
    if (shard_is_root()) {
        print_results(&m, names, json, secs > 0 ? (double)ds.n / secs : 0.0);
        rc = report_end(&m, failed, ds.n + ds.n_missing);
    }
    vssm_seg_metrics_free(&m);
    free_names(names, classes);
    vssm_segmenter_free(sg);
    vssm_ctx_free(ctx);
    vssm_seg_dataset_free(&ds);
    return shard_bcast_int(rc); /* rank 0 holds the sums: its verdict is every rank's */
}

int vssm_eval_seg(int argc, char **argv) {
    seg_tool_opts so;
    seg_tool_opts_init(&so);
    const char *pred = NULL, *gt = NULL, *names = NULL, *layout = NULL, *labels_dir = NULL, *split = NULL, *save = NULL,
               *root = NULL;
    int classes = 0, ignore = 255, rzl = 0, json = 0, bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fprintf(stdout, usage, model_opts_max_pixels_help);
            return VSSM_EXIT_OK;
        }
        if (seg_tool_opts_parse(&so, argc, argv, &i, &bad) || cli_opt_str(argc, argv, &i, "--pred", &pred, &bad) ||
            cli_opt_str(argc, argv, &i, "--gt", &gt, &bad) ||
            cli_opt_str(argc, argv, &i, "--class-names", &names, &bad) ||
            cli_opt_str(argc, argv, &i, "--dataset", &layout, &bad) ||
            cli_opt_str(argc, argv, &i, "--labels-dir", &labels_dir, &bad) ||
            cli_opt_str(argc, argv, &i, "--split", &split, &bad) ||
            cli_opt_str(argc, argv, &i, "--save-pred", &save, &bad) ||
            cli_opt_int(argc, argv, &i, "--classes", &classes, &bad) ||
            cli_opt_int(argc, argv, &i, "--ignore-index", &ignore, &bad) ||
            cli_opt_flag(argv, i, "--reduce-zero-label", &rzl) || cli_opt_flag(argv, i, "--json", &json))
            continue;
        if (argv[i][0] == '-') {
            cli_bad_arg("eval seg", argv[i]);
            bad = 1;
            break;
        }
        if (root) {
            cli_error("eval seg: one dataset ROOT only (got '%s' and '%s')", root, argv[i]);
            bad = 1;
            break;
        }
        root = argv[i];
    }
    if (!bad && (ignore < 0 || ignore > 65535)) {
        cli_error("option --ignore-index needs a label value 0..65535, got %d", ignore);
        bad = 1;
    }
    if (bad) {
        fprintf(stderr, usage, model_opts_max_pixels_help);
        return VSSM_EXIT_USAGE;
    }
    if (pred || gt) {
        if (!pred || !gt) {
            cli_error("eval seg: --pred and --gt go together");
            fprintf(stderr, usage, model_opts_max_pixels_help);
            return VSSM_EXIT_USAGE;
        }
        return score_dirs(pred, gt, classes, ignore, rzl, names, json);
    }
    if (!so.m.weights || !layout) {
        cli_error("eval seg: give --weights and --dataset, or --pred and --gt");
        fprintf(stderr, usage, model_opts_max_pixels_help);
        return VSSM_EXIT_USAGE;
    }
    return run_dataset(&so, &so.m.limits, layout, root, labels_dir, split, ignore, rzl, names, save, json);
}
