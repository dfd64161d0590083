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

static void usage(FILE *f) {
    fprintf(f, "usage: vssm convert IN.pth OUT.safetensors [--arch NAME] [--key model|model_ema|state_dict]\n"
               "                    [--dtype f32|orig]\n"
               "Writes the model's tensors as safetensors with the config in the metadata. --arch checks the\n"
               "tensors against a named preset (an error names the first tensor that differs); --dtype orig keeps\n"
               "f16/bf16 tensors as they are (default: f32).\n");
}

/* "vssm: FILE: what" without repeating FILE when the message already starts with it. */
static void file_error(const char *path, const char *msg) {
    size_t n = strlen(path);
    if (!strncmp(msg, path, n) && msg[n] == ':') cli_error("%s", msg);
    else cli_error("%s: %s", path, msg);
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);            /* inf / nan */
    else if (exp) bits = sign | ((exp + 112) << 23) | (man << 13);         /* normal */
    else if (!man) bits = sign;                                            /* zero */
    else {                                                                 /* subnormal */
        int e = -1;
        do { e++; man <<= 1; } while (!(man & 0x400));
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
    if (!o) { *oom = 1; return NULL; }
    for (size_t i = 0; i < n; i++) {
        if (t->dtype == VSSM_DTYPE_F64) o[i] = (float)((const double *)t->data)[i];
        else if (t->dtype == VSSM_DTYPE_F16) o[i] = half_to_float(((const uint16_t *)t->data)[i]);
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
    static const char *const roots[] = {"patch_embed.", "layers.", "classifier.", "outnorm",     /* VMamba */
                                        "cls_token", "pos_embed", "norm_f.", "head.", "fpn",   /* Vim */
                                        "bnneck.", "bottleneck.", "heads.bottleneck.0."};      /* re-ID BNNeck */
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

/* Adds (k, v) unless k is already there (the first value wins); 0 on OOM. */
static int meta_put(meta_list *l, const char *k, const char *v) {
    if (meta_has(l, k)) return 1;
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 64;
        vssm_st_meta *a = realloc(l->m, (size_t)nc * sizeof *a);
        if (!a) return 0;
        l->m = a;
        l->cap = nc;
    }
    l->m[l->n++] = (vssm_st_meta){k, v};
    return 1;
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
    vssm_ctx_opts co = vssm_ctx_default_opts();   /* CPU, all cores (the load packs weights) */
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
    if (s == VSSM_OK && (has_name_prefix(w, "decode_head.", "psp_modules.") || has_name_prefix(w, "decode_head.", "scale_heads."))) {
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
        vssm_err_set(err, s, "the converted model would be refused by the %s loader (so %s is not written): %s", what, out, msg);
    }
    return s;
}

VSSM_VERB(convert) {
    const char *in = NULL, *out = NULL, *arch = NULL, *key = NULL, *dtype = "f32";
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return VSSM_EXIT_OK; }
        if (cli_opt_str(argc, argv, &i, "--arch", &arch, &bad) || cli_opt_str(argc, argv, &i, "--key", &key, &bad) ||
            cli_opt_str(argc, argv, &i, "--dtype", &dtype, &bad))
            continue;
        if (argv[i][0] == '-' && argv[i][1]) { cli_error("convert: unknown option '%s'", argv[i]); bad = 1; }
        else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else { cli_error("convert: unexpected argument '%s'", argv[i]); bad = 1; }
    }
    if (!bad && (!in || !out)) { cli_error("convert: needs IN and OUT"); bad = 1; }
    if (!bad && strcmp(dtype, "f32") && strcmp(dtype, "orig")) { cli_error("convert: --dtype must be f32 or orig"); bad = 1; }
    if (bad) { usage(stderr); return VSSM_EXIT_USAGE; }

    vssm_err err = {0};
    vssm_weights *w = NULL;
    vssm_weights_opts opts = {key};
    /* .pth by content (zip magic); anything else goes to the generic opener (safetensors) */
    unsigned char magic[4] = {0};
    FILE *f = fopen(in, "rb");
    int is_zip = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "PK\x03\x04", 4);
    if (f) fclose(f);
    vssm_status st = is_zip ? vssm_pth_open(&w, in, &opts, &err) : vssm_weights_open(&w, in, &opts, &err);
    if (st != VSSM_OK) { file_error(in, err.msg); return VSSM_EXIT_USAGE; }
    const vssm_source *src = vssm_weights_source(w);
    char prefix[256];
    vssm_vmamba_config cfg;
    vssm_vim_config vcfg;
    char tmp[256];
    int cfg_from_meta = 0;
    /* a Vim has no VMamba patch embed but Vim tensor names */
    const int is_vim = vssm_vmamba_find_prefix(src, tmp, sizeof tmp, NULL) != VSSM_OK && vssm_vim_detect(src, prefix, sizeof prefix);
    if (is_vim) {
        if (vssm_vim_config_infer(src, prefix, &vcfg, &err) != VSSM_OK) {
            file_error(in, err.msg);
            vssm_weights_close(w);
            return VSSM_EXIT_USAGE;
        }
        if (arch) {
            vssm_vim_config stated;
            if (vssm_vim_config_preset(&stated, arch, &err) != VSSM_OK) {
                cli_error("convert: %s", err.msg);
                vssm_weights_close(w);
                return VSSM_EXIT_USAGE;
            }
            if (stated.embed_dim != vcfg.embed_dim || stated.depth != vcfg.depth || stated.d_state != vcfg.d_state ||
                stated.patch_size != vcfg.patch_size || stated.stride != vcfg.stride) {
                cli_error("%s: the file is not %s: embed_dim %d depth %d d_state %d patch %d stride %d, %s has %d %d %d %d %d",
                          in, arch, vcfg.embed_dim, vcfg.depth, vcfg.d_state, vcfg.patch_size, vcfg.stride, arch,
                          stated.embed_dim, stated.depth, stated.d_state, stated.patch_size, stated.stride);
                vssm_weights_close(w);
                return VSSM_EXIT_USAGE;
            }
            snprintf(vcfg.arch, sizeof vcfg.arch, "%s", stated.arch);
        }
    } else {
        vssm_preprocess_params mpp;
        if (vssm_vmamba_find_prefix(src, prefix, sizeof prefix, &err) != VSSM_OK) {
            file_error(in, err.msg);
            vssm_weights_close(w);
            return VSSM_EXIT_USAGE;
        }
        /* a file that states its config (one of ours, or converted before) keeps it, arch
         * name and preprocessing included; the loaders below check it against the tensors */
        if (!arch && vssm_vmamba_config_from_meta(src, &cfg, &mpp, NULL) == VSSM_OK) {
            cfg_from_meta = 1;
        } else if (vssm_vmamba_config_infer(src, prefix, &cfg, &err) != VSSM_OK) {
            file_error(in, err.msg);
            vssm_weights_close(w);
            return VSSM_EXIT_USAGE;
        }
    }
    if (arch && !is_vim) {
        vssm_vmamba_config stated;
        if (vssm_vmamba_config_preset(&stated, arch, &err) != VSSM_OK) {
            cli_error("convert: %s", err.msg);
            vssm_weights_close(w);
            return VSSM_EXIT_USAGE;
        }
        stated.num_classes = cfg.num_classes;   /* the arch names the backbone; classes come from the file */
        if (vssm_vmamba_config_check(&stated, src, prefix, &err) != VSSM_OK) {
            file_error(in, err.msg);
            vssm_weights_close(w);
            return VSSM_EXIT_USAGE;
        }
        cfg = stated;
    }

    int n = vssm_weights_count(w), kept = 0, dropped = 0, oom = 0;
    vssm_st_entry *e = calloc((size_t)n + 1, sizeof *e);
    float **copies = calloc((size_t)n + 1, sizeof *copies);
    const char *first_dropped = NULL;
    int64_t params = 0;
    for (int i = 0; e && copies && i < n && !oom; i++) {
        const char *name = vssm_weights_name(w, i);
        if (!keep_name(name, prefix)) { if (!dropped++) first_dropped = name; continue; }
        vssm_tensor t;
        vssm_weights_get(w, name, &t, &err);
        if (!strcmp(dtype, "f32") && (copies[kept] = to_f32(&t, &oom))) {
            t.data = copies[kept];
            t.dtype = VSSM_DTYPE_F32;
        }
        params += vssm_tensor_numel(&t);
        e[kept].name = name;
        e[kept].t = t;
        kept++;
    }
    int rc = VSSM_EXIT_OK;
    meta_list ml = {0};
    if (!e || !copies || oom) {
        cli_error("%s: out of memory", in);
        rc = VSSM_EXIT_USAGE;
    } else {
        vssm_preprocess_params pp;
        vssm_preprocess_default(&pp);
        vssm_config_meta cm;
        vssm_vim_meta vm;
        int ok = 1;
        /* preprocessing: the input's when it states it, else ImageNet's */
        static const char *const pre[] = {"resize", "crop", "interpolation", "mean", "std"};
        if (is_vim) {
            vssm_vmamba_config pcfg;   /* only for the preprocessing keys */
            memset(&pcfg, 0, sizeof pcfg);
            vssm_vmamba_config_to_meta(&pcfg, &pp, &cm);
            vssm_vim_config_to_meta(&vcfg, &vm);
            for (int i = 0; i < vm.n; i++) ok &= meta_put(&ml, vm.key[i], vm.value[i]);
        } else {
            vssm_vmamba_config_to_meta(&cfg, &pp, &cm);
            for (int i = 0; i < cm.n; i++) {
                int is_pre = 0;
                for (int k = 0; k < 5; k++) is_pre |= !strcmp(cm.key[i], pre[k]);
                if (!is_pre) ok &= meta_put(&ml, cm.key[i], cm.value[i]);
            }
        }
        for (int k = 0; k < 5; k++) {
            const char *v = vssm_weights_meta(w, pre[k]);
            if (v) ok &= meta_put(&ml, pre[k], v);
        }
        for (int i = 0; i < cm.n; i++)
            for (int k = 0; k < 5; k++)
                if (!strcmp(cm.key[i], pre[k])) ok &= meta_put(&ml, cm.key[i], cm.value[i]);
        ok &= meta_put(&ml, "format", "vssm");
        ok &= meta_put(&ml, "source", base_name(in));
        if (prefix[0]) ok &= meta_put(&ml, "prefix", prefix);
        if (key) ok &= meta_put(&ml, "source_key", key);
        /* everything else the input states (labels, task, seg_*, reid_*, training notes) */
        for (int i = 0, n_in = vssm_weights_meta_count(w); i < n_in; i++) {
            const char *k = vssm_weights_meta_key(w, i);
            if (!own_key(k)) ok &= meta_put(&ml, k, vssm_weights_meta(w, k));
        }
        vssm_outfile of;
        if (!ok) {
            cli_error("%s: out of memory", in);
            rc = VSSM_EXIT_USAGE;
        } else if (vssm_outfile_open(&of, out, &err) != VSSM_OK) {
            file_error(out, err.msg);
            rc = VSSM_EXIT_USAGE;
        } else if (vssm_safetensors_write_to(&of, e, kept, ml.m, ml.n, &err) != VSSM_OK) {
            vssm_outfile_abort(&of);
            file_error(out, err.msg);
            rc = VSSM_EXIT_USAGE;
        } else if (validate_output(of.tmp, out, w, prefix, is_vim ? vcfg.num_classes : cfg.num_classes, &err) != VSSM_OK) {
            vssm_outfile_abort(&of);
            file_error(in, err.msg);
            rc = VSSM_EXIT_USAGE;
        } else if (vssm_outfile_commit(&of, &err) != VSSM_OK) {
            file_error(out, err.msg);
            rc = VSSM_EXIT_USAGE;
        } else {
            printf("%s: %d tensors, %lld parameters, arch %s%s -> %s\n", in, kept, (long long)params,
                   is_vim ? vcfg.arch : cfg.arch, cfg_from_meta ? " (from its metadata)" : "", out);
            if (dropped)
                fprintf(stderr, "vssm: %s: dropped %d tensor%s outside the model (first: %s)\n", in, dropped,
                        dropped == 1 ? "" : "s", first_dropped);
        }
    }
    free(ml.m);
    for (int i = 0; copies && i < kept; i++) free(copies[i]);
    free(copies);
    free(e);
    vssm_weights_close(w);
    return rc;
}
