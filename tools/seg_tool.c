/* tools/seg_tool.c - see seg_tool.h */
#include <stdio.h>
#include <string.h>
#include "tools/cli.h"
#include "tools/model_opts.h"
#include "tools/seg_tool.h"
#include "tools/mpi_shard.h"

void seg_tool_opts_init(seg_tool_opts *o) {
    memset(o, 0, sizeof *o);
    model_opts_init(&o->m);
    o->m.accept = MO_MODEL | MO_CTX | MO_LIMITS;
    o->crop = o->stride = -1;
}

int seg_tool_opts_parse(seg_tool_opts *o, int argc, char **argv, int *i, int *bad) {
    return model_opts_parse(&o->m, argc, argv, i, bad) || cli_opt_str(argc, argv, i, "--mode", &o->mode, bad) ||
           cli_opt_str(argc, argv, i, "--scale", &o->scale, bad) ||
           cli_opt_int(argc, argv, i, "--crop", &o->crop, bad) ||
           cli_opt_int(argc, argv, i, "--stride", &o->stride, bad);
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
    if (o->crop >= 0) pp.crop = o->crop;
    if (o->stride >= 0) pp.stride = o->stride;
    if (o->scale && sscanf(o->scale, "%d,%d", &pp.scale_long, &pp.scale_short) != 2) {
        vssm_err_set(&err, VSSM_ERR_INVALID_ARG, "--scale takes L,S (e.g. 2048,512 or 0,0), got '%s'", o->scale);
        goto fail;
    }
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
