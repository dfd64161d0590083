/* tools/cmd_convert.c - `vssm convert IN.pth OUT.safetensors`: an official checkpoint to the
 * native format. The .pth is read by the safe reader (nothing in it is executed); the state
 * dict chosen by --key is kept (optimizer, epoch, config entries are dropped), restricted to
 * the model's own tensors (backbone, classifier, a re-ID BNNeck, and for mmseg files the
 * decode head), and written with the config (from the input's metadata, else inferred, or
 * checked against --arch) in __metadata__; the input's other metadata (labels, task, seg_*,
 * reid_*, ...) is kept.
 *
 * The output is written to a unique temp file beside OUT and loaded back, before it is
 * renamed onto OUT, by the very loaders `vssm classify` / `segment` / `reid` use (the
 * classifier when there is a classification head, else the backbone; the segmenter for a
 * UPerHead/FPNHead decode head; the re-ID model for a BNNeck). A file they would refuse is
 * refused here (exit 2, naming IN and the offending tensor) and nothing is left at OUT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/cli.h"
#include "vssm/backbone.h"
#include "vssm/classifier.h"
#include "vssm/ctx.h"
#include "vssm/infer.h"
#include "vssm/outfile.h"
#include "vssm/reid.h"
#include "vssm/segment.h"
#include "vssm/vim.h"
#include "vssm/weights.h"
#include "kernels/infile.h"

static void usage(FILE *f) {
    fprintf(f, "usage: vssm convert IN.pth OUT.safetensors [--arch NAME] [--key model|model_ema|state_dict]\n"
               "                    [--dtype f32|orig]\n"
               "Converts a checkpoint (official .pth, or safetensors) to vssm's safetensors, keeping its metadata.\n"
               "example: vssm convert vssm1_tiny_0230s_ckpt_epoch_264.pth tiny.safetensors --key model_ema\n"
               "Writes the model's tensors as safetensors with the config in the metadata. --arch checks the\n"
               "tensors against a named preset (an error names the first tensor that differs); --dtype orig keeps\n"
               "f16/bf16 tensors as they are (default: f32).\n");
}

/* "vssm: FILE: what" without repeating FILE when the message already starts with it. */
static void file_error(const char *path, const char *msg) {
    size_t n = strlen(path);
    if (!strncmp(msg, path, n) && msg[n] == ':')
        cli_error("%s", msg);
    else
        cli_error("%s: %s", path, msg);
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f)
        bits = sign | 0x7f800000u | (man << 13); /* inf / nan */
    else if (exp)
        bits = sign | ((exp + 112) << 23) | (man << 13); /* normal */
    else if (!man)
        bits = sign; /* zero */
    else {           /* subnormal */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* A float copy of t when it is F16/BF16/F64 (NULL when no copy is needed or on OOM). */
static float *to_f32(const vssm_tensor *t, int *oom) {
    if (t->dtype != VSSM_DTYPE_F16 && t->dtype != VSSM_DTYPE_BF16 && t->dtype != VSSM_DTYPE_F64) return NULL;
    size_t n = (size_t)vssm_tensor_numel(t);
    float *o = malloc(n ? n * sizeof *o : 1);
    if (!o) {
        *oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (t->dtype == VSSM_DTYPE_F64)
            o[i] = (float)((const double *)t->data)[i];
        else if (t->dtype == VSSM_DTYPE_F16)
            o[i] = half_to_float(((const uint16_t *)t->data)[i]);
        else {
            uint32_t bits = (uint32_t)((const uint16_t *)t->data)[i] << 16;
            memcpy(&o[i], &bits, 4);
        }
    }
    return o;
}

/* The tensors a model needs: backbone and classifier (and an mmseg decode head, with a Vim's
 * segmentation neck fpn1..fpn4). */
static int keep_name(const char *name, const char *prefix) {
    static const char *const roots[] = {"patch_embed.", "layers.",     "classifier.",
                                        "outnorm", /* VMamba */
                                        "cls_token",    "pos_embed",   "norm_f.",
                                        "head.",        "fpn",                                 /* Vim */
                                        "bnneck.",      "bottleneck.", "heads.bottleneck.0."}; /* re-ID BNNeck */
    size_t pl = strlen(prefix);
    if (!strncmp(name, prefix, pl))
        for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
            if (!strncmp(name + pl, roots[i], strlen(roots[i]))) return 1;
    return pl && !strncmp(name, "decode_head.", 12);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* ---- metadata: the config keys, then the input's other keys */
typedef struct meta_list {
    vssm_st_meta *m;
    int n, cap;
} meta_list;

static int meta_has(const meta_list *l, const char *k) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->m[i].key, k)) return 1;
    return 0;
}

/* Adds a copy of (k, v) unless k is already there (the first value wins); 0 on OOM. */
static int meta_put(meta_list *l, const char *k, const char *v) {
    if (meta_has(l, k)) return 1;
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 64;
        vssm_st_meta *a = realloc(l->m, (size_t)nc * sizeof *a);
        if (!a) return 0;
        l->m = a;
        l->cap = nc;
    }
    char *kc = strdup(k), *vc = strdup(v);
    if (!kc || !vc) {
        free(kc);
        free(vc);
        return 0;
    }
    l->m[l->n++] = (vssm_st_meta){kc, vc};
    return 1;
}

static void meta_list_free(meta_list *l) {
    for (int i = 0; i < l->n; i++) {
        free((char *)l->m[i].key);
        free((char *)l->m[i].value);
    }
    free(l->m);
}

/* Keys convert decides itself: never copied from the input. */
static int own_key(const char *k) {
    static const char *const own[] = {"format", "source", "source_key", "prefix", "cls_token"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (!strcmp(k, own[i])) return 1;
    return 0;
}

/* ---- checking the written file with the loaders the other verbs use */
static int has_name_prefix(const vssm_weights *w, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    for (int i = 0, n = vssm_weights_count(w); i < n; i++) {
        const char *nm = vssm_weights_name(w, i);
        if (!strncmp(nm, a, la) && !strncmp(nm + la, b, lb)) return 1;
    }
    return 0;
}

/* Loads the finished temp file TMP as `vssm classify` / `segment` / `reid` would. On a
 * refusal, err says why, with TMP's name replaced by OUT's. */
static vssm_status validate_output(const char *tmp, const char *out, const vssm_weights *w, const char *prefix,
                                   int classes, vssm_err *err) {
    vssm_ctx_opts co = vssm_ctx_default_opts(); /* CPU, all cores (the load packs weights) */
    vssm_ctx *ctx = NULL;
    vssm_status s = vssm_ctx_new(&ctx, &co, err);
    const char *what = "backbone";
    if (s == VSSM_OK && classes > 0) {
        what = "classifier";
        vssm_classifier *c = NULL;
        s = vssm_classifier_load(&c, ctx, tmp, NULL, err);
        vssm_classifier_free(c);
    } else if (s == VSSM_OK) {
        vssm_backbone *b = NULL;
        s = vssm_backbone_load_file(&b, ctx, tmp, NULL, NULL, err);
        vssm_backbone_free(b);
    }
    if (s == VSSM_OK &&
        (has_name_prefix(w, "decode_head.", "psp_modules.") || has_name_prefix(w, "decode_head.", "scale_heads."))) {
        what = "segmenter";
        vssm_segmenter *g = NULL;
        s = vssm_segmenter_load(&g, ctx, tmp, NULL, err);
        vssm_segmenter_free(g);
    }
    if (s == VSSM_OK && (has_name_prefix(w, prefix, "bnneck.") || has_name_prefix(w, prefix, "bottleneck.") ||
                         has_name_prefix(w, prefix, "heads.bottleneck.0."))) {
        what = "re-ID model";
        vssm_reid_model_opts ro = vssm_reid_model_default_opts();
        vssm_reid_model *r = NULL;
        s = vssm_reid_model_load(&r, ctx, tmp, &ro, err);
        vssm_reid_model_free(r);
    }
    vssm_ctx_free(ctx);
    if (s != VSSM_OK && err) {
        /* "TMP: msg" -> "the converted model would be refused by the classifier loader: msg" */
        char msg[VSSM_ERR_MSG_MAX];
        const char *m = err->msg;
        size_t tl = strlen(tmp);
        if (!strncmp(m, tmp, tl) && m[tl] == ':') m += tl + 1 + (m[tl + 1] == ' ');
        snprintf(msg, sizeof msg, "%s", m);
        vssm_err_set(err, s, "the converted model would be refused by the %s loader (so %s is not written): %s", what,
                     out, msg);
    }
    return s;
}

/* ---- the command, in steps: arguments, config, tensors, metadata, write + check */
typedef struct convert_args {
    const char *in, *out, *arch, *key, *dtype;
} convert_args;

/* -1: go on; else the exit code (usage printed). */
static int parse_args(int argc, char **argv, convert_args *a) {
    int bad = 0;
    *a = (convert_args){NULL, NULL, NULL, NULL, "f32"};
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return VSSM_EXIT_OK;
        }
        if (cli_opt_str(argc, argv, &i, "--arch", &a->arch, &bad) ||
            cli_opt_str(argc, argv, &i, "--key", &a->key, &bad) ||
            cli_opt_str(argc, argv, &i, "--dtype", &a->dtype, &bad))
            continue;
        if ((argv[i][0] == '-' && argv[i][1]) || (a->in && a->out)) {
            cli_bad_arg("convert", argv[i]);
            bad = 1;
        } else if (!a->in)
            a->in = argv[i];
        else
            a->out = argv[i];
    }
    if (!bad && (!a->in || !a->out)) {
        cli_error("convert: needs IN and OUT");
        bad = 1;
    }
    if (!bad && strcmp(a->dtype, "f32") && strcmp(a->dtype, "orig")) {
        cli_error("convert: --dtype must be f32 or orig");
        bad = 1;
    }
    if (bad) {
        usage(stderr);
        return VSSM_EXIT_USAGE;
    }
    /* OUT over IN would replace the checkpoint by its conversion: refused, as is an OUT that
     * cannot be written (before the input is read) */
    if (cli_same_file(a->in, a->out)) {
        cli_error("convert: OUT %s is the input file %s (write the conversion elsewhere)", a->out, a->in);
        return VSSM_EXIT_USAGE;
    }
    if (cli_check_out_file("convert", a->out, "OUT")) return VSSM_EXIT_USAGE;
    return -1;
}

/* The model's family, config and prefix by the loaders' rules (0, or the exit code with the
 * error printed). */
static int describe_model(const vssm_weights *w, const convert_args *a, vssm_backbone_desc *d, vssm_err *err) {
    if (vssm_backbone_describe(vssm_weights_source(w), a->arch, d, err) == VSSM_OK) return 0;
    if (a->arch && err->status == VSSM_ERR_INVALID_ARG)
        cli_error("convert: %s", err->msg); /* an unknown preset */
    else
        file_error(a->in, err->msg);
    return VSSM_EXIT_USAGE;
}

/* The tensors kept, F32 copies made where --dtype f32 asks for them. */
typedef struct tensor_set {
    vssm_st_entry *e;
    float **copies;
    int kept, dropped;
    const char *first_dropped;
    int64_t params;
} tensor_set;

static void tensor_set_free(tensor_set *ts) {
    for (int i = 0; ts->copies && i < ts->kept; i++) free(ts->copies[i]);
    free(ts->copies);
    free(ts->e);
}

/* 0, or -1 when out of memory. */
static int collect_tensors(const vssm_weights *w, const char *prefix, int to_f32_, tensor_set *ts) {
    int n = vssm_weights_count(w), oom = 0;
    memset(ts, 0, sizeof *ts);
    ts->e = calloc((size_t)n + 1, sizeof *ts->e);
    ts->copies = calloc((size_t)n + 1, sizeof *ts->copies);
    for (int i = 0; ts->e && ts->copies && i < n && !oom; i++) {
        const char *name = vssm_weights_name(w, i);
        if (!keep_name(name, prefix)) {
            if (!ts->dropped++) ts->first_dropped = name;
            continue;
        }
        vssm_tensor t;
        vssm_err err = {0};
        vssm_weights_get(w, name, &t, &err);
        if (to_f32_ && (ts->copies[ts->kept] = to_f32(&t, &oom))) {
            t.data = ts->copies[ts->kept];
            t.dtype = VSSM_DTYPE_F32;
        }
        ts->params += vssm_tensor_numel(&t);
        ts->e[ts->kept++] = (vssm_st_entry){name, t};
    }
    return (!ts->e || !ts->copies || oom) ? -1 : 0;
}

/* The preprocessing keys (written beside the config when the input states none). */
static int is_pre_key(const char *k) {
    static const char *const pre[] = {"resize", "crop", "interpolation", "mean", "std"};
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
        if (!strcmp(k, pre[i])) return 1;
    return 0;
}

/* The metadata of the output. convert owns format, source, source_key and prefix, and
 * the config when it inferred it or --arch named it; every other key of the input is
 * copied as it is (labels, preprocessing, task, seg_*, reid_*, training notes): a file
 * converted again classifies, segments and embeds exactly as before. Preprocessing keys
 * the input does not state are written with ImageNet's values only for a file that does
 * not name its arch (an official checkpoint); one that does is read with the library's
 * defaults either way, and nothing is invented in it. Returns 0, or -1 on OOM. */
static int build_meta(meta_list *ml, const vssm_weights *w, const convert_args *a, const vssm_backbone_desc *d) {
    vssm_preprocess_params pp;
    vssm_preprocess_default(&pp);
    vssm_config_meta pm; /* ImageNet's preprocessing keys */
    vssm_vmamba_config none;
    memset(&none, 0, sizeof none);
    vssm_vmamba_config_to_meta(&none, &pp, &pm);
    int ok = meta_put(ml, "format", "vssm") && meta_put(ml, "source", base_name(a->in));
    if (d->prefix[0]) ok &= meta_put(ml, "prefix", d->prefix);
    if (a->key) ok &= meta_put(ml, "source_key", a->key);
    /* the first value of a key wins: convert's config when it decided it, else the input's */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 || !d->from_meta)
            for (int i = 0; i < d->n_meta; i++) ok &= meta_put(ml, d->meta_key[i], d->meta_value[i]);
        for (int i = 0, n = vssm_weights_meta_count(w); pass == 0 && i < n; i++) {
            const char *k = vssm_weights_meta_key(w, i);
            if (!own_key(k)) ok &= meta_put(ml, k, vssm_weights_meta(w, k));
        }
    }
    for (int i = 0; !vssm_weights_meta(w, "arch") && i < pm.n; i++)
        if (is_pre_key(pm.key[i])) ok &= meta_put(ml, pm.key[i], pm.value[i]);
    return ok ? 0 : -1;
}

/* Writes the tensors and metadata to a temp file beside OUT, loads it back as the other
 * verbs would, then renames it onto OUT. Returns 0 or the exit code (error printed). */
static int write_checked_(const convert_args *a, const vssm_weights *w, const vssm_backbone_desc *d,
                          const tensor_set *ts, const meta_list *ml) {
    vssm_err err = {0};
    vssm_outfile of;
    if (vssm_outfile_open(&of, a->out, &err) != VSSM_OK) {
        file_error(a->out, err.msg);
        return VSSM_EXIT_USAGE;
    }
    if (vssm_safetensors_write_to(&of, ts->e, ts->kept, ml->m, ml->n, &err) != VSSM_OK) {
        vssm_outfile_abort(&of);
        file_error(a->out, err.msg);
        return VSSM_EXIT_USAGE;
    }
    if (validate_output(of.tmp, a->out, w, d->prefix, d->num_classes, &err) != VSSM_OK) {
        vssm_outfile_abort(&of);
        file_error(a->in, err.msg);
        return VSSM_EXIT_USAGE;
    }
    if (vssm_outfile_commit(&of, &err) != VSSM_OK) {
        file_error(a->out, err.msg);
        return VSSM_EXIT_USAGE;
    }
    return 0;
}

/* write_checked_ as one output write: Ctrl-C waits until the temp file is renamed or removed */
static int write_checked(const convert_args *a, const vssm_weights *w, const vssm_backbone_desc *d,
                         const tensor_set *ts, const meta_list *ml) {
    cli_write_begin();
    int rc = write_checked_(a, w, d, ts, ml);
    cli_write_end();
    return rc;
}

/* Opens IN: a .pth by content (zip magic); anything else goes to the generic opener. */
static vssm_status open_input(vssm_weights **w, const convert_args *a, vssm_err *err) {
    vssm_weights_opts opts = {a->key};
    unsigned char magic[4] = {0};
    FILE *f;
    vssm_status st = vssm_fopen_regular(&f, a->in, "the input", 0, err); /* a FIFO blocked fopen */
    if (st != VSSM_OK) return st;
    int is_zip = fread(magic, 1, 4, f) == 4 && !memcmp(magic, "PK\x03\x04", 4);
    fclose(f);
    if (!is_zip && a->key) /* a safetensors file holds one state dict: --key would be ignored */
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "--key applies to .pth checkpoints only, and this is not one");
    return is_zip ? vssm_pth_open(w, a->in, &opts, err) : vssm_weights_open(w, a->in, &opts, err);
}

VSSM_VERB(convert) {
    convert_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    vssm_err err = {0};
    vssm_weights *w = NULL;
    if (open_input(&w, &a, &err) != VSSM_OK) {
        file_error(a.in, err.msg);
        return VSSM_EXIT_USAGE;
    }
    vssm_backbone_desc d;
    tensor_set ts = {0};
    meta_list ml = {0};
    rc = describe_model(w, &a, &d, &err);
    if (!rc && (collect_tensors(w, d.prefix, !strcmp(a.dtype, "f32"), &ts) || build_meta(&ml, w, &a, &d))) {
        cli_error("%s: out of memory", a.in);
        rc = VSSM_EXIT_USAGE;
    }
    if (!rc) rc = write_checked(&a, w, &d, &ts, &ml);
    if (!rc) {
        printf("%s: %d tensors, %lld parameters, arch %s%s -> %s\n", a.in, ts.kept, (long long)ts.params, d.arch,
               d.from_meta ? " (from its metadata)" : "", a.out);
        if (ts.dropped)
            fprintf(stderr, "vssm: %s: dropped %d tensor%s outside the model (first: %s)\n", a.in, ts.dropped,
                    ts.dropped == 1 ? "" : "s", ts.first_dropped);
    }
    meta_list_free(&ml);
    tensor_set_free(&ts);
    vssm_weights_close(w);
    return rc;
}
