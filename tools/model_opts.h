/* tools/model_opts.h - the options every model-running verb shares (--weights, --device,
 * --threads, --arch, --key, --labels, --resize, --crop, --interp) and the code that turns
 * them into a context, a classifier and its preprocessing. */
#ifndef VSSM_TOOLS_MODEL_OPTS_H
#define VSSM_TOOLS_MODEL_OPTS_H

#include "vssm/classifier.h"

typedef struct model_opts {
    const char *weights, *device, *arch, *key, *labels, *interp;
    int threads, resize, crop, tf32;
    vssm_image_limits limits; /* --max-pixels (max_pixels 0: the library's default) */
} model_opts;

/* The one place a verb's context options are made: --device cpu|cuda (under mpirun, each
 * rank its own GPU), --threads (split over the ranks), --tf32. Prints the error and
 * returns 2 for an unknown device, else 0. */
int cli_ctx_opts(const char *device, int threads, int tf32, vssm_ctx_opts *co);

void model_opts_init(model_opts *m);
/* Consumes argv[*i] (and its value) if it is one of the shared options; returns 1 then. */
int model_opts_parse(model_opts *m, int argc, char **argv, int *i, int *bad);
/* Creates the context and loads the classifier; prints the error and returns 2 (usage /
 * unusable weights) on failure, 0 on success. pp gets the file's preprocessing with the
 * --resize/--crop/--interp overrides applied. */
int model_opts_open(const model_opts *m, vssm_ctx **ctx, vssm_classifier **clf, vssm_preprocess_params *pp);
extern const char *model_opts_help;

/* --max-pixels N: images of more than N pixels (width x height, from the file's header,
 * before any pixel buffer exists) are refused as failed inputs; 0 = no limit. Consumes
 * argv[*i] and its value into lim when it is that option; returns 1 then. */
int model_opts_parse_max_pixels(int argc, char **argv, int *i, vssm_image_limits *lim, int *bad);
/* The help line for it (shared with the segmentation verbs). */
extern const char *model_opts_max_pixels_help;

#endif
