#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/cli.h"
#include "tools/model_opts.h"
#include "tools/mpi_shard.h"

#define MAX_PIXELS_HELP                                                              \
    "  --max-pixels N       refuse images over N pixels (default 178956970, PIL's\n" \
    "                       decompression-bomb limit; 0 = no limit)\n"

const char *model_opts_help =
    "  --weights FILE       model weights (.safetensors or official .pth)\n"
    "  --arch NAME          state the architecture (checked against the tensors)\n"
    "  --key model|model_ema  which state dict of a training checkpoint\n"
    "  --labels FILE        class names, one per line\n"
    "  --device cpu|cuda    (default cpu)   --threads T (default: all cores)   --tf32\n"
    "  --fixed-threads      every pass at T threads (default: T at most, each pass's count\n"
    "                       chosen by timing: fewer when another process holds a core)\n"
    "  --precision f32|bf16 (default f32) bf16: CPU products in bf16 with fp32 sums (a CPU\n"
    "                       with avx512_bf16; AMX where present), the rest in fp32\n"
    "  --resize N --crop N  override the file's preprocessing (0 0: each image at its own size)\n"
    "  --interp bicubic|bilinear\n" MAX_PIXELS_HELP;

const char *model_opts_max_pixels_help = MAX_PIXELS_HELP;

int model_opts_parse_max_pixels(int argc, char **argv, int *i, vssm_image_limits *lim, int *bad) {
    const char *s = NULL;
    if (!cli_opt_str(argc, argv, i, "--max-pixels", &s, bad)) return 0;
    if (*bad) return 1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0) {
        cli_error("option --max-pixels needs a pixel count >= 0 (0: no limit), got '%s'", s);
        *bad = 1;
        return 1;
    }
    lim->max_pixels = v == 0 ? -1 : (int64_t)v;
    return 1;
}

void model_opts_init(model_opts *m) {
    memset(m, 0, sizeof *m);
    m->accept = MO_ALL;
    m->device = "cpu";
    m->resize = -1;
    m->crop = -1;
}

int model_opts_parse(model_opts *m, int argc, char **argv, int *i, int *bad) {
    const unsigned a = m->accept;
    return ((a & MO_MODEL) && (cli_opt_str(argc, argv, i, "--weights", &m->weights, bad) ||
                               cli_opt_str(argc, argv, i, "--arch", &m->arch, bad) ||
                               cli_opt_str(argc, argv, i, "--key", &m->key, bad))) ||
           ((a & MO_CTX) && (cli_opt_str(argc, argv, i, "--device", &m->device, bad) ||
                             cli_opt_int(argc, argv, i, "--threads", &m->threads, bad) ||
                             cli_opt_flag(argv, *i, "--fixed-threads", &m->fixed_threads) ||
                             cli_opt_str(argc, argv, i, "--precision", &m->precision, bad) ||
                             cli_opt_flag(argv, *i, "--tf32", &m->tf32))) ||
           ((a & MO_LIMITS) && model_opts_parse_max_pixels(argc, argv, i, &m->limits, bad)) ||
           ((a & MO_LABELS) && cli_opt_str(argc, argv, i, "--labels", &m->labels, bad)) ||
           ((a & MO_PREPROCESS) && (cli_opt_int(argc, argv, i, "--resize", &m->resize, bad) ||
                                    cli_opt_int(argc, argv, i, "--crop", &m->crop, bad) ||
                                    cli_opt_str(argc, argv, i, "--interp", &m->interp, bad)));
}

int cli_ctx_opts(const char *device, int threads, int tf32, vssm_ctx_opts *co) {
    *co = vssm_ctx_default_opts();
    if (threads < 0 || threads > 4096) { /* -5 once meant "all cores", silently */
        cli_error("--threads takes 0 (all cores) .. 4096, got %d", threads);
        return VSSM_EXIT_USAGE;
    }
    co->n_threads = shard_threads(threads);
    co->adapt_threads = 1; /* the passes' thread count by timing (vssm/ctx.h); --fixed-threads: off */
    co->allow_tf32 = tf32;
    if (device && !strcmp(device, "cuda")) {
        co->device = VSSM_DEVICE_CUDA;
        co->device_index = shard_device_index();
    } else if (device && strcmp(device, "cpu") != 0) {
        cli_error("unknown device '%s' (cpu or cuda)", device);
        return VSSM_EXIT_USAGE;
    }
    return 0;
}

int cli_precision(const char *name, vssm_ctx_opts *co) {
    if (!name || !strcmp(name, "f32") || !strcmp(name, "fp32"))
        co->precision = VSSM_PRECISION_F32;
    else if (!strcmp(name, "bf16"))
        co->precision = VSSM_PRECISION_BF16;
    else {
        cli_error("unknown precision '%s' (f32 or bf16)", name);
        return VSSM_EXIT_USAGE;
    }
    return 0;
}

int model_opts_ctx(const model_opts *m, vssm_ctx_opts *co) {
    if (cli_ctx_opts(m->device, m->threads, m->tf32, co) || cli_precision(m->precision, co)) return VSSM_EXIT_USAGE;
    co->adapt_threads = !m->fixed_threads;
    return 0;
}

int model_opts_open(const model_opts *m, vssm_ctx **ctx, vssm_classifier **clf, vssm_preprocess_params *pp) {
    *ctx = NULL;
    *clf = NULL;
    if (!m->weights) {
        cli_error("--weights FILE is required");
        return VSSM_EXIT_USAGE;
    }
    vssm_ctx_opts co;
    if (model_opts_ctx(m, &co)) return VSSM_EXIT_USAGE;
    if (m->resize < -1 || m->crop < -1 || m->resize > 16384 || m->crop > 16384) {
        cli_error("--resize and --crop take 0 (off) .. 16384");
        return VSSM_EXIT_USAGE;
    }
    vssm_err err = {0};
    if (vssm_ctx_new(ctx, &co, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    vssm_classifier_opts o = {m->arch, m->key, m->labels};
    if (vssm_classifier_load(clf, *ctx, m->weights, &o, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        vssm_ctx_free(*ctx);
        *ctx = NULL;
        return VSSM_EXIT_USAGE;
    }
    *pp = vssm_classifier_preprocess(*clf);
    if (m->resize >= 0) pp->resize = m->resize;
    if (m->crop >= 0) pp->crop = m->crop;
    if (m->interp) {
        int it = vssm_interp_from_name(m->interp);
        if (it < 0) {
            cli_error("--interp takes bicubic or bilinear, got '%s'", m->interp);
            vssm_classifier_free(*clf);
            vssm_ctx_free(*ctx);
            return VSSM_EXIT_USAGE;
        }
        pp->interp = (vssm_interp)it;
    }
    return 0;
}
