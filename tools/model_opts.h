/* tools/model_opts.h - the one parser of the options model-running verbs share (--weights,
 * --arch, --key; --device, --threads, --fixed-threads, --tf32, --precision; --max-pixels; --labels; --resize, --crop,
 * --interp) and the code that turns them into a context, a classifier and its
 * preprocessing. A verb that takes only some groups says which in `accept` (the
 * segmentation verbs: model, context and limits; their own --crop is a slide window). */
#ifndef VSSM_TOOLS_MODEL_OPTS_H
#define VSSM_TOOLS_MODEL_OPTS_H

#include "vssm/classifier.h"

enum {
    MO_MODEL = 1,       /* --weights --arch --key */
    MO_CTX = 2,         /* --device --threads --fixed-threads --tf32 --precision */
    MO_LIMITS = 4,      /* --max-pixels */
    MO_LABELS = 8,      /* --labels */
    MO_PREPROCESS = 16, /* --resize --crop --interp */
    MO_ALL = 31,
};

typedef struct model_opts {
    unsigned accept; /* the MO_* groups model_opts_parse consumes (model_opts_init: MO_ALL) */
    const char *weights, *device, *arch, *key, *labels, *interp, *precision;
    int threads, fixed_threads, resize, crop, tf32;
    vssm_image_limits limits; /* --max-pixels (max_pixels 0: the library's default) */
} model_opts;

/* The one place a verb's context options are made: --device cpu|cuda (under mpirun, each
 * rank its own GPU), --threads (split over the ranks; the passes' count adapts below it,
 * adapt_threads, which model_opts_ctx turns off for --fixed-threads), --tf32. Prints the error and
 * returns 2 for an unknown device, else 0. */
int cli_ctx_opts(const char *device, int threads, int tf32, vssm_ctx_opts *co);
/* --precision f32|bf16 into co (NULL: f32); prints the error and returns 2 for another name */
int cli_precision(const char *name, vssm_ctx_opts *co);
/* cli_ctx_opts and cli_precision from a verb's parsed options */
int model_opts_ctx(const model_opts *m, vssm_ctx_opts *co);

void model_opts_init(model_opts *m);
/* Consumes argv[*i] (and its value) if it is one of the accepted options; returns 1 then. */
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
