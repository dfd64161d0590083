/* tools/cmd_segment.c - `vssm segment`: a label PNG (palette) per image, optionally a
 * colour overlay, with mmseg's test pipeline (vssm/segment.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "tools/cli.h"
#include "tools/runner.h"
#include "tools/seg_tool.h"
#include "tools/model_opts.h"
#include "vssm/outfile.h"
#include "vssm/plot.h"
#include "vssm/seg_eval.h"
#include "vssm/segment.h"

static const char *usage =
    "usage: vssm segment --weights FILE --out DIR [--overlay] PATH...\n"
    "  --mode whole|slide   inference mode (default: the weights' setting, else whole)\n"
    "  --crop N --stride N  slide windows\n"
    "  --scale L,S          mmseg Resize(scale=(L, S), keep_ratio) (0,0: own size)\n"
    "  --overlay            also write DIR/<stem>_overlay.png (image and mask blended, with a\n"
    "                       legend of the classes shown)\n"
    "  --device cpu|cuda --threads T --arch NAME --key state_dict\n"
    "%s"
    "Folders are walked recursively (each real folder once: link cycles are skipped with a note).\n"
    "Outputs are named by file stem: an input whose outputs another input already has (a/x.jpg,\n"
    "  b/x.png) is refused and counted as failed, never written over the other's.\n"
    "Exit status: 0 all segmented; 1 some inputs could not be read or segmented (each named);\n"
    "  2 usage error or unusable weights.\n";

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
        if (!k || !f) { free(k); free(f); return -1; }
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
        if (!strcmp(ns->key[j], name)) { *owner = ns->from[j]; return 1; }
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

/* Claims dst for src, or prints why not (another input's output, out of memory): 0 = go. */
static int claim_output(name_set *ns, const char *dst, const char *src) {
    const char *owner = NULL;
    int c = claim_name(ns, dst, src, &owner);
    if (c == 0) return 0;
    if (c > 0) cli_error("%s: not segmented: its output %s is already %s's in this run (same file stem)", src, dst, owner);
    else cli_error("%s: out of memory", src);
    return -1;
}

VSSM_VERB(segment) {
    seg_tool_opts so;
    seg_tool_opts_init(&so);
    const char *out = NULL;
    int overlay = 0, bad = 0, n_paths = 0;
    vssm_image_limits lim = {0};
    char **paths = calloc((size_t)argc, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fprintf(stdout, usage, model_opts_max_pixels_help); free(paths); return VSSM_EXIT_OK; }
        if (seg_tool_opts_parse(&so, argc, argv, &i, &bad) || model_opts_parse_max_pixels(argc, argv, &i, &lim, &bad) ||
            cli_opt_str(argc, argv, &i, "--out", &out, &bad) ||
            cli_opt_flag(argv, i, "--overlay", &overlay))
            continue;
        if (argv[i][0] == '-' && argv[i][1]) { cli_error("segment: unknown option %s", argv[i]); bad = 1; break; }
        paths[n_paths++] = argv[i];
    }
    if (bad || !out || !n_paths) {
        if (!bad) cli_error(!out ? "segment: --out DIR is required" : "segment: no input images");
        fprintf(stderr, usage, model_opts_max_pixels_help);
        free(paths);
        return VSSM_EXIT_USAGE;
    }
    mkdir(out, 0777);
    struct stat st;
    if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode)) { cli_error("%s: cannot create the output folder", out); free(paths); return VSSM_EXIT_USAGE; }
    vssm_ctx *ctx;
    vssm_segmenter *sg;
    int rc = seg_tool_open(&so, &ctx, &sg);
    if (rc) { free(paths); return rc; }
    img_list l = {0};
    int failed = img_list_collect(&l, paths, n_paths), done = 0;
    name_set written = {0};
    const uint8_t *pal = vssm_segmenter_palette(sg);
    const char *names[256] = {0};
    const int n_names = vssm_segmenter_classes(sg) < 256 ? vssm_segmenter_classes(sg) : 256;
    for (int c = 0; c < n_names; c++) names[c] = vssm_segmenter_class_name(sg, c);
    for (int i = 0; i < l.n; i++) {
        vssm_err err = {0};
        vssm_image im = {0};
        char stem[1024], dst[4096], ovl[4096];
        vssm_seg_path_stem(l.path[i], 0, stem, sizeof stem);
        if (snprintf(dst, sizeof dst, "%s/%s.png", out, stem) >= (int)sizeof dst ||
            snprintf(ovl, sizeof ovl, "%s/%s_overlay.png", out, stem) >= (int)sizeof ovl) {
            cli_error("%s: output path too long", l.path[i]);
            failed++;
            continue;
        }
        /* the names are claimed first: an input whose outputs another input of this run
         * already has is refused, not written over it */
        if (claim_output(&written, dst, l.path[i]) || (overlay && claim_output(&written, ovl, l.path[i]))) { failed++; continue; }
        if (vssm_image_load(&im, l.path[i], &lim, &err) != VSSM_OK) { cli_error("%s", err.msg); failed++; continue; }
        uint8_t *lab = malloc((size_t)im.w * im.h);
        if (!lab || vssm_segmenter_predict(sg, &im, NULL, lab, &err) != VSSM_OK) {
            cli_error("%s: %s", l.path[i], lab ? err.msg : "out of memory");
            failed++;
        } else {
            if (vssm_label_png_write(dst, lab, im.w, im.h, pal, &err) != VSSM_OK) { cli_error("%s", err.msg); failed++; }
            else {
                printf("%s -> %s\n", l.path[i], dst);
                done++;
            }
            /* image and label colours blended, a legend of the classes shown (vssm/plot.h) */
            if (overlay && vssm_seg_overlay_write(ovl, &im, lab, pal, names, n_names, &err) != VSSM_OK) {
                cli_error("%s", err.msg);
                failed++;
            }
        }
        free(lab);
        vssm_image_free(&im);
    }
    name_set_free(&written);
    fprintf(stderr, "vssm: segmented %d image%s, %d failed\n", done, done == 1 ? "" : "s", failed);
    img_list_free(&l);
    vssm_segmenter_free(sg);
    vssm_ctx_free(ctx);
    free(paths);
    return failed ? VSSM_EXIT_INPUT : VSSM_EXIT_OK;
}
