/* tools/seg_tool.h - options `vssm segment` and `vssm eval seg` share: the model, context
 * and --max-pixels options of every verb (tools/model_opts.h) and the inference mode, and
 * the code that opens a segmenter from them. */
#ifndef VSSM_TOOLS_SEG_TOOL_H
#define VSSM_TOOLS_SEG_TOOL_H

#include "tools/model_opts.h"
#include "vssm/segment.h"

typedef struct seg_tool_opts {
    model_opts m; /* accepts MO_MODEL | MO_CTX | MO_LIMITS */
    const char *mode, *scale;
    int crop, stride;
} seg_tool_opts;

void seg_tool_opts_init(seg_tool_opts *o);
int seg_tool_opts_parse(seg_tool_opts *o, int argc, char **argv, int *i, int *bad);
/* prints the error and returns 2 on failure, 0 on success */
int seg_tool_open(const seg_tool_opts *o, vssm_ctx **ctx, vssm_segmenter **sg);

#endif
