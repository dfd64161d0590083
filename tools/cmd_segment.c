/* tools/cmd_segment.c - `vssm segment`: a label PNG (palette) per image, optionally a
 * colour overlay, with mmseg's test pipeline (vssm/segment.h).
 *
 * Outputs mirror the inputs' tree under --out (as mmseg's show-dir does), below the folder
 * all PATHs share: `segment --out o photos` writes photos/a/1.jpg to o/a/1.png, and
 * `segment --out o a b` writes a/1.jpg and b/1.jpg to o/a/1.png and o/b/1.png. Label maps
 * keep the image's stem (eval seg --pred matches them to ground truth by stem), so two
 * images of one folder with one stem (1.jpg, 1.png) would share an output: the second is
 * refused, naming the first, rather than renamed (an x.jpg.png would silently go unscored)
 * or written over it. Under mpirun each rank segments its share of the list and rank 0
 * prints the lines in list order.
 *
 * Outputs never go over inputs: an --out that is one of the PATHs (folder or file) is
 * refused before any work; an --out inside an input folder is left out of the walk (its
 * files are earlier outputs, not images to segment); and an image whose label map or
 * overlay would be one of this run's input files (through a link, or --out . x.png) is
 * refused, named. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tools/cli.h"
#include "tools/mpi_shard.h"
#include "tools/runner.h"
#include "tools/seg_tool.h"
#include "tools/model_opts.h"
#include "vssm/outfile.h"
#include "vssm/plot.h"
#include "vssm/seg_eval.h"
#include "vssm/segment.h"

static const char *usage =
    "usage: vssm segment --weights FILE --out DIR [options] [--] PATH...\n"
    "Writes a label map (a palette PNG of class indices) for each image, of files or folders (recursed).\n"
    "example: vssm segment --weights weights/seg_demo/vmamba_seg_demo.safetensors --overlay --out masks/ photos/\n"
    "  --weights FILE       segmentation weights (mmseg UPerNet/FPN .pth, or safetensors)\n"
    "  --out DIR            output folder; the inputs' tree is mirrored under it, below the folder\n"
    "                       all PATHs share (photos/a/1.jpg -> DIR/a/1.png for PATH photos). It may\n"
    "                       not be a PATH itself; inside a PATH folder (photos/masks) its files are\n"
    "                       skipped, with a note (earlier outputs, not inputs)\n"
    "  --overlay            also write <stem>_overlay.png beside each label map (image and mask\n"
    "                       blended, with a legend of the classes shown)\n"
    "  --json               one JSON object per image on stdout: path, label_map, overlay, width, height\n"
    "  --mode whole|slide   inference mode (default: the weights' setting, else whole)\n"
    "  --crop N --stride N  slide windows (sizes >= 1; the stride at most the crop)\n"
    "  --scale L,S          mmseg Resize(scale=(L, S), keep_ratio) (0,0: own size)\n"
    "  --device cpu|cuda --threads T (0: all cores) --arch NAME --key state_dict\n"
    "%s"
    "There is no --batch: images are segmented one per forward pass, at their own size.\n"
    "Folders are walked recursively (each real folder once: link cycles are skipped with a note).\n"
    "Two images of one folder with one stem (x.jpg, x.png) would share their outputs: the second\n"
    "  is refused and counted as failed, naming the first, never written over it. So is an image\n"
    "  whose output would be an input file of the run (outputs never replace inputs).\n"
    "Under mpirun each rank segments a share of the images; rank 0 prints the lines in order.\n"
    "Exit status: 0 all segmented; 1 some inputs could not be read or segmented (each named);\n"
    "  2 usage error (a bad option value, --out among the PATHs) or unusable weights.\n";

/* The output names this run has written, with the input each came from: two inputs with
 * one stem (a/x.jpg, b/x.png) or an input named like another's overlay must not overwrite
 * each other's results silently. Open addressing, grown at half full. */
typedef struct name_set {
    char **key;
    const char **from;
    size_t cap, used;
} name_set;

static size_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

/* Claims name for input src: 0 when new; 1 with *owner set when another input has it;
 * -1 when out of memory. */
static int claim_name(name_set *ns, const char *name, const char *src, const char **owner) {
    if (ns->used * 2 >= ns->cap) {
        size_t nc = ns->cap ? ns->cap * 2 : 64;
        char **k = calloc(nc, sizeof *k);
        const char **f = calloc(nc, sizeof *f);
        if (!k || !f) {
            free(k);
            free(f);
            return -1;
        }
        for (size_t i = 0; i < ns->cap; i++) {
            if (!ns->key[i]) continue;
            size_t j = str_hash(ns->key[i]) & (nc - 1);
            while (k[j]) j = (j + 1) & (nc - 1);
            k[j] = ns->key[i], f[j] = ns->from[i];
        }
        free(ns->key);
        free(ns->from);
        ns->key = k, ns->from = f, ns->cap = nc;
    }
    size_t j = str_hash(name) & (ns->cap - 1);
    for (; ns->key[j]; j = (j + 1) & (ns->cap - 1))
        if (!strcmp(ns->key[j], name)) {
            *owner = ns->from[j];
            return 1;
        }
    if (!(ns->key[j] = strdup(name))) return -1;
    ns->from[j] = src;
    ns->used++;
    return 0;
}

static void name_set_free(name_set *ns) {
    for (size_t i = 0; i < ns->cap; i++) free(ns->key[i]);
    free(ns->key);
    free(ns->from);
}

/* Claims dst for src, or says why not (another input's output, out of memory) when loud:
 * 0 = go. */
static int claim_output(name_set *ns, const char *dst, const char *src, int loud) {
    const char *owner = NULL;
    int c = claim_name(ns, dst, src, &owner);
    if (c == 0) return 0;
    if (c > 0 && loud)
        cli_error("%s: not segmented: its output %s is already %s's in this run (one stem in one folder)", src, dst,
                  owner);
    else if (loud)
        cli_error("%s: out of memory", src);
    return -1;
}

/* ---- where outputs go: the inputs' tree below their common folder, mirrored under --out */

/* Path components of p, without empty and "." ones: at most max, the count returned
 * (-1 when more). comp[i] points into buf, a copy of p. */
static int split_path(const char *p, char *buf, size_t n, const char **comp, int max) {
    snprintf(buf, n, "%s", p);
    int k = 0;
    for (char *s = buf, *tok; (tok = strsep(&s, "/"));) {
        if (!*tok || !strcmp(tok, ".")) continue;
        if (k == max) return -1;
        comp[k++] = tok;
    }
    return k;
}

/* The number of leading path components shared by the folders of every PATH (a folder
 * itself, a file's parent), when they agree on being absolute; 0 when they do not. */
static int common_depth(char **paths, int n) {
    char first[4096], buf[4096];
    const char *c0[256], *c[256];
    int depth = -1, abs0 = 0;
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) continue; /* named and counted as failed elsewhere */
        int k = split_path(paths[i], depth < 0 ? first : buf, sizeof buf, depth < 0 ? c0 : c, 256);
        if (k < 0) return 0;
        if (!S_ISDIR(st.st_mode) && k > 0) k--;
        if (depth < 0) {
            depth = k, abs0 = paths[i][0] == '/';
            continue;
        }
        if ((paths[i][0] == '/') != abs0) return 0;
        int j = 0;
        while (j < depth && j < k && !strcmp(c0[j], c[j])) j++;
        depth = j;
    }
    return depth > 0 ? depth : 0;
}

/* dst = out/<path below the common folder, minus its extension>suffix; 0, or -1 with the
 * reason in why (a ".." below the common folder would leave out; a path too long). */
static int output_path(const char *out, const char *path, int depth, const char *suffix, char *dst, size_t n,
                       const char **why) {
    char buf[4096];
    const char *c[256];
    int k = split_path(path, buf, sizeof buf, c, 256);
    size_t len = (size_t)snprintf(dst, n, "%s", out);
    *why = "its output path is too long";
    if (k <= depth) return -1;
    for (int i = depth; i < k && len < n; i++) {
        if (!strcmp(c[i], "..")) {
            *why = "its path goes up ('..') below the folder the inputs share";
            return -1;
        }
        char stem[1024];
        const char *name = i < k - 1 ? c[i] : vssm_seg_path_stem(c[i], 0, stem, sizeof stem);
        len += (size_t)snprintf(dst + len, n - len, "/%s%s", name, i < k - 1 ? "" : suffix);
    }
    return len < n ? 0 : -1;
}

/* mkdir -p of the folder holding file path p (inside out, which exists). */
static int make_parents(const char *p, size_t out_len) {
    char d[4096];
    snprintf(d, sizeof d, "%s", p);
    char *slash = strrchr(d, '/');
    if (!slash) return 0;
    *slash = 0;
    for (char *q = d + out_len + 1; q <= slash; q++) {
        if (*q && *q != '/') continue;
        char c = *q;
        *q = 0;
        struct stat st;
        if (mkdir(d, 0777) != 0 && (stat(d, &st) != 0 || !S_ISDIR(st.st_mode))) return -1;
        *q = c;
    }
    return 0;
}

/* ---- the run */
typedef struct seg_run {
    const img_list *l;
    char **dst, **ovl; /* per image, NULL when refused */
    vssm_segmenter *sg;
    const vssm_image_limits *lim;
    const char *out;
    int overlay, json;
    FILE *f; /* the per-image lines (shard_out_begin) */
} seg_run;

/* The outputs of every image, claimed in list order (every rank does the same, so all
 * agree); refusals are named by the rank that owns the image. Returns the number refused. */
static int plan_outputs(seg_run *r, char **paths, int n_paths, int64_t i0, int64_t i1) {
    int depth = common_depth(paths, n_paths), refused = 0;
    name_set written = {0};
    seg_inputs inputs; /* an output must not be one of the images (through a link, or --out . x.png) */
    if (seg_inputs_init(&inputs, r->l->path, (size_t)r->l->n, NULL, 0)) {
        if (shard_is_root()) cli_error("segment: out of memory listing the inputs");
        for (int i = 0; i < r->l->n; i++) r->dst[i] = NULL;
        return (int)(i1 - i0);
    }
    for (int i = 0; i < r->l->n; i++) {
        const char *src = r->l->path[i], *why = NULL;
        const int mine = i >= i0 && i < i1;
        char dst[4096], ovl[4096];
        int bad = output_path(r->out, src, depth, ".png", dst, sizeof dst, &why) ||
                  output_path(r->out, src, depth, "_overlay.png", ovl, sizeof ovl, &why);
        if (bad && mine) cli_error("%s: not segmented: %s", src, why);
        const char *hit = NULL;
        if (!bad && seg_inputs_has(&inputs, dst))
            hit = dst;
        else if (!bad && r->overlay && seg_inputs_has(&inputs, ovl))
            hit = ovl;
        if (hit && mine)
            cli_error("%s: not segmented: its output %s is an input of this run (it would be written over)", src, hit);
        bad |= hit != NULL;
        /* an image whose outputs another image of this run already has is refused */
        if (!bad)
            bad = claim_output(&written, dst, src, mine) || (r->overlay && claim_output(&written, ovl, src, mine));
        if (!bad && (!(r->dst[i] = strdup(dst)) || !(r->ovl[i] = strdup(ovl)))) {
            if (mine) cli_error("%s: out of memory", src);
            free(r->dst[i]);
            r->dst[i] = NULL;
            bad = 1;
        }
        refused += bad && mine;
    }
    name_set_free(&written);
    seg_inputs_free(&inputs);
    return refused;
}

/* One image: predict, write its label map (and overlay), print its line. 0 or -1. */
static int segment_one(const seg_run *r, int i) {
    const char *src = r->l->path[i], *dst = r->dst[i], *ovl = r->ovl[i];
    vssm_err err = {0};
    vssm_image im = {0};
    if (vssm_image_load(&im, src, r->lim, &err) != VSSM_OK) {
        seg_tool_print_err(err.msg);
        return -1;
    }
    const uint8_t *pal = vssm_segmenter_palette(r->sg);
    const char *names[256] = {0};
    const int n_names = vssm_segmenter_classes(r->sg) < 256 ? vssm_segmenter_classes(r->sg) : 256;
    for (int c = 0; c < n_names; c++) names[c] = vssm_segmenter_class_name(r->sg, c);
    uint8_t *lab = malloc((size_t)im.w * im.h);
    int ok = 0;
    if (!lab || vssm_segmenter_predict(r->sg, &im, NULL, lab, &err) != VSSM_OK) {
        cli_error("%s: %s", src, lab ? err.msg : "out of memory");
    } else if (make_parents(dst, strlen(r->out)) != 0) {
        cli_error("%s: cannot create the folder for it", dst);
    } else {
        /* a signal now acts once the files are renamed into place (no PATH.XXXXXX left); the
         * overlay: image and label colours blended, a legend of the classes shown (vssm/plot.h) */
        cli_write_begin();
        if (vssm_label_png_write(dst, lab, im.w, im.h, pal, &err) != VSSM_OK)
            cli_error("%s", err.msg);
        else if (r->overlay && vssm_seg_overlay_write(ovl, &im, lab, pal, names, n_names, &err) != VSSM_OK)
            cli_error("%s", err.msg);
        else
            ok = 1;
        cli_write_end();
    }
    if (ok && r->json) {
        fprintf(r->f, "{\"path\": ");
        json_put_str(r->f, src);
        fprintf(r->f, ", \"label_map\": ");
        json_put_str(r->f, dst);
        fprintf(r->f, ", \"overlay\": ");
        if (r->overlay)
            json_put_str(r->f, ovl);
        else
            fprintf(r->f, "null");
        fprintf(r->f, ", \"width\": %d, \"height\": %d}\n", im.w, im.h);
    } else if (ok) {
        text_put_path(r->f, src);
        fputs(" -> ", r->f);
        text_put_path(r->f, dst);
        fputc('\n', r->f);
    }
    free(lab);
    vssm_image_free(&im);
    return ok ? 0 : -1;
}

/* Options; -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, seg_tool_opts *so, const char **out, int *overlay, int *json, char **paths,
                      int *n_paths) {
    int bad = 0, only_paths = 0; /* after "--": a file named -x.png is a path */
    for (int i = 1; i < argc && !bad; i++) {
        if (only_paths || !strcmp(argv[i], "--")) {
            if (only_paths) paths[(*n_paths)++] = argv[i];
            only_paths = 1;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fprintf(stdout, usage, model_opts_max_pixels_help);
            return VSSM_EXIT_OK;
        }
        if (seg_tool_opts_parse(so, argc, argv, &i, &bad) || cli_opt_str(argc, argv, &i, "--out", out, &bad) ||
            cli_opt_flag(argv, i, "--overlay", overlay) || cli_opt_flag(argv, i, "--json", json))
            continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            cli_bad_arg("segment", argv[i]);
            bad = 1;
            break;
        }
        paths[(*n_paths)++] = argv[i];
    }
    if (!bad && (!*out || !*n_paths)) {
        cli_error(!*out ? "segment: --out DIR is required" : "segment: no image files or folders given");
        bad = 1;
    }
    if (bad) {
        fprintf(stderr, usage, model_opts_max_pixels_help);
        return VSSM_EXIT_USAGE;
    }
    for (int i = 0; i < *n_paths; i++)
        if (cli_same_file(*out, paths[i])) {
            if (shard_is_root()) /* every rank finds the same: one says it */
                cli_error(
                    "segment: --out %s is the input %s itself: outputs would replace inputs (give an output folder "
                    "that is not an input)",
                    *out, paths[i]);
            return VSSM_EXIT_USAGE;
        }
    mkdir(*out, 0777); /* every rank may try; one succeeds */
    struct stat st;
    if (stat(*out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_error("%s: cannot create the output folder", *out);
        return VSSM_EXIT_USAGE;
    }
    return -1;
}

/* When --out lies inside an input folder, the files under it are earlier outputs (label
 * maps, overlays), not images to segment: they leave the list, with a note when loud. */
static void drop_outputs(img_list *l, char **paths, int n_paths, const char *out, int loud) {
    const char *holder = NULL;
    for (int i = 0; i < n_paths && !holder; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode) && cli_path_inside(out, paths[i])) holder = paths[i];
    }
    if (!holder) return;
    int k = 0, dropped = 0;
    for (int i = 0; i < l->n; i++) {
        if (cli_path_inside(l->path[i], out)) {
            free(l->path[i]);
            dropped++;
            continue;
        }
        l->path[k] = l->path[i];
        if (l->label) l->label[k] = l->label[i];
        k++;
    }
    l->n = k;
    if (dropped && loud)
        fprintf(stderr,
                "vssm: %s: the output folder, inside the input folder %s: its %d image file%s skipped (earlier "
                "outputs, not inputs)\n",
                out, holder, dropped, dropped == 1 ? "" : "s");
}

/* Segments this rank's share [i0, i1); counts[0] += segmented, counts[1] += failed. */
static void run_share(seg_run *r, int64_t i0, int64_t i1, int64_t *counts) {
    const int progress = isatty(2) && shard_is_root();
    const double t0 = run_clock();
    for (int64_t i = i0; i < i1; i++) {
        if (r->dst[i]) counts[segment_one(r, (int)i) == 0 ? 0 : 1]++;
        if (progress) run_progress((int)(i - i0 + 1), (int)(i1 - i0), t0);
    }
}

VSSM_VERB(segment) {
    seg_tool_opts so;
    seg_tool_opts_init(&so);
    const char *out = NULL;
    int overlay = 0, json = 0, n_paths = 0;
    char **paths = calloc((size_t)argc, sizeof(char *));
    int rc = paths ? parse_args(argc, argv, &so, &out, &overlay, &json, paths, &n_paths) : VSSM_EXIT_USAGE;
    if (rc >= 0) {
        free(paths);
        return rc;
    }
    vssm_ctx *ctx = NULL;
    vssm_segmenter *sg = NULL;
    cli_defer_begin(); /* every rank loaded, or none goes on; one rank says why */
    rc = seg_tool_open(&so, &ctx, &sg);
    rc = shard_agree_say(rc, cli_defer_end());
    if (rc) {
        vssm_segmenter_free(sg);
        vssm_ctx_free(ctx);
        free(paths);
        return rc;
    }
    img_list l = {0};
    const int missing = img_list_collect(&l, paths, n_paths, !shard_is_root());
    if ((rc = shard_same_inputs("images", 0, img_list_hash(&l), l.n))) { /* every rank lists the same */
        img_list_free(&l);
        vssm_segmenter_free(sg);
        vssm_ctx_free(ctx);
        free(paths);
        return rc;
    }
    drop_outputs(&l, paths, n_paths, out, shard_is_root());
    int64_t i0, i1, counts[2] = {0, 0}; /* segmented, failed: summed over the ranks */
    shard_range(l.n, &i0, &i1);
    shard_out sout;
    seg_run r = {&l,
                 calloc((size_t)l.n + 1, sizeof(char *)),
                 calloc((size_t)l.n + 1, sizeof(char *)),
                 sg,
                 &so.m.limits,
                 out,
                 overlay,
                 json,
                 shard_out_begin(&sout)};
    const double t0 = run_clock();
    if (l.n == 0 && shard_is_root())
        cli_error("segment: no images found in %s%s", paths[0], n_paths > 1 ? " or the other paths given" : "");
    if (!r.dst || !r.ovl) {
        cli_error("out of memory for %d output names", l.n);
        counts[1] = i1 - i0;
    } else {
        counts[1] = plan_outputs(&r, paths, n_paths, i0, i1);
        run_share(&r, i0, i1, counts);
    }
    const double secs = shard_max_double(run_clock() - t0);
    counts[1] += shard_out_end(&sout) != 0; /* this rank's lines lost: a failure; both calls are collective */
    if (shard_sum_i64(counts, 2)) counts[1]++;
    if (shard_is_root()) {
        fprintf(stderr, "vssm: segmented %lld image%s, %lld failed", (long long)counts[0], counts[0] == 1 ? "" : "s",
                (long long)counts[1]);
        if (missing) fprintf(stderr, "; %d path%s could not be read", missing, missing == 1 ? "" : "s");
        fputc('\n', stderr);
        if (counts[0] > 0) /* none segmented: no speed to tell */
            fprintf(stderr, "vssm: speed %.1f images/s (decode, preprocess, forward and writing)\n",
                    secs > 0 ? (double)(counts[0] + counts[1]) / secs : 0.0);
    }
    for (int i = 0; r.dst && r.ovl && i < l.n; i++) {
        free(r.dst[i]);
        free(r.ovl[i]);
    }
    free(r.dst);
    free(r.ovl);
    img_list_free(&l);
    vssm_segmenter_free(sg);
    vssm_ctx_free(ctx);
    free(paths);
    /* rank 0 holds the sums: its verdict is every rank's */
    return shard_bcast_int(counts[1] || missing || counts[0] == 0 ? VSSM_EXIT_INPUT : VSSM_EXIT_OK);
}
