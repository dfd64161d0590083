/* tools/cmd_convert.c - `vssm convert IN.pth OUT.safetensors`: an official checkpoint to the
 * native format. The .pth is read by the safe reader (nothing in it is executed); the state
 * dict chosen by --key is kept (optimizer, epoch, config entries are dropped), restricted to
 * the model's own tensors (backbone, classifier, and for mmseg files the decode head), and
 * written with the config (inferred, or checked against --arch) in __metadata__. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/cli.h"
#include "vssm/infer.h"
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
                                        "cls_token", "pos_embed", "norm_f.", "head.", "fpn"};  /* Vim */
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
    } else if (vssm_vmamba_find_prefix(src, prefix, sizeof prefix, &err) != VSSM_OK ||
               vssm_vmamba_config_infer(src, prefix, &cfg, &err) != VSSM_OK) {
        file_error(in, err.msg);
        vssm_weights_close(w);
        return VSSM_EXIT_USAGE;
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
    if (!e || !copies || oom) {
        cli_error("%s: out of memory", in);
        rc = VSSM_EXIT_USAGE;
    } else {
        vssm_preprocess_params pp;
        vssm_preprocess_default(&pp);
        vssm_config_meta cm;
        vssm_vim_meta vm;
        vssm_st_meta meta[VSSM_CONFIG_META_MAX + VSSM_VIM_META_MAX + 4];
        int nm = 0;
        if (is_vim) {
            vssm_vmamba_config pcfg;   /* only for the preprocessing keys */
            memset(&pcfg, 0, sizeof pcfg);
            vssm_vmamba_config_to_meta(&pcfg, &pp, &cm);
            vssm_vim_config_to_meta(&vcfg, &vm);
            for (int i = 0; i < vm.n; i++) meta[nm++] = (vssm_st_meta){vm.key[i], vm.value[i]};
            for (int i = 0; i < cm.n; i++) {
                static const char *const pre[] = {"resize", "crop", "interpolation", "mean", "std"};
                for (int k = 0; k < 5; k++)
                    if (!strcmp(cm.key[i], pre[k])) meta[nm++] = (vssm_st_meta){cm.key[i], cm.value[i]};
            }
        } else {
            vssm_vmamba_config_to_meta(&cfg, &pp, &cm);
            for (int i = 0; i < cm.n; i++) meta[nm++] = (vssm_st_meta){cm.key[i], cm.value[i]};
        }
        meta[nm++] = (vssm_st_meta){"format", "vssm"};
        meta[nm++] = (vssm_st_meta){"source", base_name(in)};
        if (prefix[0]) meta[nm++] = (vssm_st_meta){"prefix", prefix};
        if (key) meta[nm++] = (vssm_st_meta){"source_key", key};
        if (vssm_safetensors_write(out, e, kept, meta, nm, &err) != VSSM_OK) {
            file_error(out, err.msg);
            rc = VSSM_EXIT_USAGE;
        } else {
            printf("%s: %d tensors, %lld parameters, arch %s -> %s\n", in, kept, (long long)params, is_vim ? vcfg.arch : cfg.arch, out);
            if (dropped)
                fprintf(stderr, "vssm: %s: dropped %d tensor%s outside the model (first: %s)\n", in, dropped,
                        dropped == 1 ? "" : "s", first_dropped);
        }
    }
    for (int i = 0; copies && i < kept; i++) free(copies[i]);
    free(copies);
    free(e);
    vssm_weights_close(w);
    return rc;
}
