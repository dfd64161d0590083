/* tools/seg_tool.c - see seg_tool.h */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "tools/cli.h"
#include "tools/model_opts.h"
#include "tools/seg_tool.h"
#include "tools/mpi_shard.h"

void seg_tool_opts_init(seg_tool_opts *o) {
    memset(o, 0, sizeof *o);
    model_opts_init(&o->m);
    o->m.accept = MO_MODEL | MO_CTX | MO_LIMITS;
}

/* A whole decimal integer (no sign other than '-', no trailing text) in int range. */
static int parse_int(const char *s, const char **end_out, int *v) {
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || x < -2147483647L || x > 2147483647L || (*s != '-' && (*s < '0' || *s > '9'))) return -1;
    *v = (int)x;
    *end_out = end;
    return 0;
}

/* --crop N / --stride N: a window side or step of at least 1 pixel */
static int opt_side(int argc, char **argv, int *i, const char *opt, int *out, int *bad) {
    const char *s = NULL;
    if (!cli_opt_str(argc, argv, i, opt, &s, bad)) return 0;
    if (*bad) return 1;
    const char *end;
    int v;
    if (parse_int(s, &end, &v) || *end || v < 1) {
        cli_error("option %s needs a size in pixels >= 1 (slide windows), got '%s'", opt, s);
        *bad = 1;
        return 1;
    }
    *out = v;
    return 1;
}

int seg_tool_opts_parse(seg_tool_opts *o, int argc, char **argv, int *i, int *bad) {
    const char *s = NULL;
    if (cli_opt_str(argc, argv, i, "--threads", &s, bad)) { /* model_opts would take a negative count */
        const char *end;
        if (!*bad && (parse_int(s, &end, &o->m.threads) || *end || o->m.threads < 0)) {
            cli_error("option --threads needs a thread count >= 0 (0: all cores), got '%s'", s);
            *bad = 1;
        }
        return 1;
    }
    if (cli_opt_str(argc, argv, i, "--scale", &s, bad)) {
        const char *end;
        if (!*bad && (parse_int(s, &end, &o->scale_l) || *end != ',' || parse_int(end + 1, &end, &o->scale_s) || *end ||
                      o->scale_l < 0 || o->scale_s < 0)) {
            cli_error("option --scale takes L,S: two sizes >= 0 (e.g. 2048,512, or 0,0 for each image's own size), "
                      "got '%s'",
                      s);
            *bad = 1;
        }
        o->scale_set = !*bad;
        return 1;
    }
    return model_opts_parse(&o->m, argc, argv, i, bad) || cli_opt_str(argc, argv, i, "--mode", &o->mode, bad) ||
           opt_side(argc, argv, i, "--crop", &o->crop, bad) || opt_side(argc, argv, i, "--stride", &o->stride, bad);
}

void seg_tool_print_err(const char *msg) {
    static const char api[] = "raise vssm_image_limits.max_pixels";
    const char *p = strstr(msg, api);
    if (!p) {
        cli_error("%s", msg);
        return;
    }
    cli_error("%.*sraise the limit with --max-pixels N (0: no limit)%s", (int)(p - msg), msg, p + sizeof api - 1);
}

int seg_tool_open(const seg_tool_opts *o, vssm_ctx **ctx, vssm_segmenter **sg) {
    *ctx = NULL;
    *sg = NULL;
    if (!o->m.weights) {
        cli_error("--weights FILE is required");
        return VSSM_EXIT_USAGE;
    }
    vssm_ctx_opts co;
    if (model_opts_ctx(&o->m, &co)) return VSSM_EXIT_USAGE;
    vssm_err err = {0};
    if (vssm_ctx_new(ctx, &co, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    vssm_segmenter_opts so = {o->m.arch, o->m.key};
    if (vssm_segmenter_load(sg, *ctx, o->m.weights, &so, &err) != VSSM_OK) goto fail;
    vssm_seg_preprocess pp = vssm_segmenter_get_preprocess(*sg);
    if (o->mode) {
        if (!strcmp(o->mode, "whole"))
            pp.mode = VSSM_SEG_MODE_WHOLE;
        else if (!strcmp(o->mode, "slide"))
            pp.mode = VSSM_SEG_MODE_SLIDE;
        else {
            vssm_err_set(&err, VSSM_ERR_INVALID_ARG, "--mode takes whole or slide, got '%s'", o->mode);
            goto fail;
        }
    }
    if (o->crop > 0) pp.crop = o->crop;
    if (o->stride > 0) pp.stride = o->stride;
    if (o->scale_set) pp.scale_long = o->scale_l, pp.scale_short = o->scale_s;
    /* the library checks the whole setting (a stride over the crop leaves pixels no window covers) */
    if (vssm_segmenter_set_preprocess(*sg, &pp, &err) != VSSM_OK) goto fail;
    return 0;
fail:
    cli_error("%s", err.msg);
    vssm_segmenter_free(*sg);
    vssm_ctx_free(*ctx);
    *sg = NULL;
    *ctx = NULL;
    return VSSM_EXIT_USAGE;
}

/* ---- the inputs' identities */
struct seg_ino {
    dev_t dev;
    ino_t ino;
};

static int ino_cmp(const void *a, const void *b) {
    const struct seg_ino *x = a, *y = b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

int seg_inputs_init(seg_inputs *s, char *const *paths, size_t n, char *const *more, size_t more_n) {
    s->n = 0;
    s->v = malloc((n + more_n + 1) * sizeof *s->v);
    if (!s->v) return -1;
    for (size_t i = 0; i < n + more_n; i++) {
        struct stat st;
        if (stat(i < n ? paths[i] : more[i - n], &st) == 0) s->v[s->n++] = (struct seg_ino){st.st_dev, st.st_ino};
    }
    if (s->n) qsort(s->v, s->n, sizeof *s->v, ino_cmp);
    return 0;
}

int seg_inputs_has(const seg_inputs *s, const char *path) {
    struct stat st;
    if (!s->n || stat(path, &st) != 0) return 0;
    struct seg_ino k = {st.st_dev, st.st_ino};
    return bsearch(&k, s->v, s->n, sizeof *s->v, ino_cmp) != NULL;
}

void seg_inputs_free(seg_inputs *s) {
    free(s->v);
    s->v = NULL;
    s->n = 0;
}
