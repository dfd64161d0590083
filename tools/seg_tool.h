/* tools/seg_tool.h - what `vssm segment` and `vssm eval seg` share: the model, context
 * and --max-pixels options of every verb (tools/model_opts.h) and the inference mode, the
 * code that opens a segmenter from them, and the guard that keeps outputs off the inputs. */
#ifndef VSSM_TOOLS_SEG_TOOL_H
#define VSSM_TOOLS_SEG_TOOL_H

#include <stddef.h>
#include "tools/model_opts.h"
#include "vssm/segment.h"

typedef struct seg_tool_opts {
    model_opts m; /* accepts MO_MODEL | MO_CTX | MO_LIMITS */
    const char *mode;
    int crop, stride;                /* --crop N --stride N (>= 1); 0: the weights' */
    int scale_set, scale_l, scale_s; /* --scale L,S */
} seg_tool_opts;

void seg_tool_opts_init(seg_tool_opts *o);
/* Consumes argv[*i] (and its value) when it is one of the options; a malformed or out of
 * range value (--crop 0, --stride -1, --scale 64,48abc, --threads -1) is named and sets *bad. */
int seg_tool_opts_parse(seg_tool_opts *o, int argc, char **argv, int *i, int *bad);
/* prints the error and returns 2 on failure, 0 on success (a setting the library refuses,
 * such as a slide stride over the crop, is named with the library's message) */
int seg_tool_open(const seg_tool_opts *o, vssm_ctx **ctx, vssm_segmenter **sg);
/* Prints a library message (cli_error), naming the CLI's --max-pixels option where the
 * library names the API's vssm_image_limits.max_pixels. */
void seg_tool_print_err(const char *msg);

/* The files a run reads (device + inode), so that no output is written over one of them
 * (through a link, or an output folder among the inputs). */
typedef struct seg_inputs {
    struct seg_ino *v;
    size_t n;
} seg_inputs;

/* Records the existing files of paths[0..n) (and of more, when more_n > 0). 0, or -1 when
 * out of memory. */
int seg_inputs_init(seg_inputs *s, char *const *paths, size_t n, char *const *more, size_t more_n);
/* 1 when path exists and is one of the recorded files. */
int seg_inputs_has(const seg_inputs *s, const char *path);
void seg_inputs_free(seg_inputs *s);

#endif
