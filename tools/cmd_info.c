/* tools/cmd_info.c - `vssm info FILE`: what a weights file (safetensors or .pth) holds:
 * its VMamba config (from the metadata, else inferred from the shapes), parameter count,
 * every tensor (name, dtype, shape) and the metadata. */
#include <stdio.h>
#include <string.h>
#include "tools/cli.h"
#include "vssm/infer.h"
#include "vssm/vim.h"
#include "vssm/weights.h"
#include "kernels/infile.h"

static void usage(FILE *f) {
    fprintf(f, "usage: vssm info FILE... [--key model|model_ema|state_dict] [--no-tensors]\n"
               "Shows the arch and config, parameter count, tensors (name dtype shape) and metadata.\n"
               "example: vssm info --no-tensors weights/fashion_mnist/vmamba_fashion.safetensors\n"
               "--key (.pth checkpoints only): which state dict to show; a file it does not apply to fails.\n");
}

static void print_config(const vssm_vmamba_config *c, const char *how, const char *prefix) {
    printf("arch:        %s (%s)\n", c->arch, how);
    if (prefix[0]) printf("prefix:      %s\n", prefix);
    printf("config:      forward_type %s, in_chans %d, dims %d,%d,%d,%d, depths %d,%d,%d,%d,\n"
           "             ssm_ratio %g, d_state %d, dt_rank %s%d, mlp_ratio %g, num_classes %d\n",
           c->forward_type, c->in_chans, c->dims[0], c->dims[1], c->dims[2], c->dims[3], c->depths[0], c->depths[1],
           c->depths[2], c->depths[3], (double)c->ssm_ratio, c->d_state, c->dt_rank ? "" : "auto=", c->dt_rank,
           (double)c->mlp_ratio, c->num_classes);
}

/* 1 when path is a .pth checkpoint (a zip, as vssm_weights_open tells them), 0 when not, -1
 * when it cannot be read (vssm_weights_open names the reason) */
static int is_pth(const char *path) {
    unsigned char m[4] = {0};
    FILE *f;
    if (vssm_fopen_regular(&f, path, "the weights", 0, NULL) != VSSM_OK) return -1; /* a FIFO blocked fopen */
    int z = fread(m, 1, 4, f) == 4 && !memcmp(m, "PK\x03\x04", 4);
    fclose(f);
    return z;
}

static int info_one(const char *path, const char *key, int tensors) {
    vssm_err err = {0};
    vssm_weights *w = NULL;
    if (key && is_pth(path) == 0) { /* --key picks a state dict of a checkpoint; a safetensors file has one */
        cli_error("%s: --key applies to .pth checkpoints only, and this is not one", path);
        return 0;
    }
    vssm_weights_opts opts = {key};
    if (vssm_weights_open(&w, path, &opts, &err) != VSSM_OK) {
        size_t n = strlen(path);
        if (!strncmp(err.msg, path, n) && err.msg[n] == ':')
            cli_error("%s", err.msg);
        else
            cli_error("%s: %s", path, err.msg);
        return 0;
    }
    const vssm_source *src = vssm_weights_source(w);
    printf("file:        %s\n", path);
    vssm_vmamba_config cfg;
    char prefix[256] = "";
    const char *mp = vssm_weights_meta(w, "prefix");
    vssm_vim_config vc;
    const char *ma = vssm_weights_meta(w, "arch");
    char vprefix[256] = "";
    if ((ma && !strncmp(ma, "vim", 3) && vssm_vim_config_from_meta(src, &vc, &err) == VSSM_OK) ||
        (vssm_vmamba_find_prefix(src, prefix, sizeof prefix, NULL) != VSSM_OK &&
         vssm_vim_detect(src, vprefix, sizeof vprefix) && vssm_vim_config_infer(src, vprefix, &vc, &err) == VSSM_OK)) {
        printf("arch:        %s (Vision Mamba)\n", vc.arch);
        printf(
            "config:      embed_dim %d, depth %d, d_inner %d, d_state %d, dt_rank %d, d_conv %d, patch %d, stride %d,\n"
            "             pos grid %dx%d, num_classes %d, bimamba %s, div2 %d, class token %s\n",
            vc.embed_dim, vc.depth, vc.d_inner, vc.d_state, vc.dt_rank, vc.d_conv, vc.patch_size, vc.stride,
            vc.pos_grid_h, vc.pos_grid_w, vc.num_classes, vc.bimamba_type, vc.divide_out,
            vc.no_cls_token ? "none (segmentation backbone)" : "middle");
    } else if (vssm_vmamba_config_from_meta(src, &cfg, NULL, &err) == VSSM_OK) {
        print_config(&cfg, "from metadata", mp ? mp : "");
    } else if (vssm_vmamba_find_prefix(src, prefix, sizeof prefix, &err) == VSSM_OK &&
               vssm_vmamba_config_infer(src, prefix, &cfg, &err) == VSSM_OK) {
        print_config(&cfg, "inferred from shapes", prefix);
    } else {
        printf("arch:        unknown (%s)\n", err.msg);
    }
    int n = vssm_weights_count(w);
    int64_t params = 0, bytes = 0;
    int by_dtype[VSSM_DTYPE_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        vssm_tensor t;
        vssm_weights_get(w, vssm_weights_name(w, i), &t, &err);
        params += vssm_tensor_numel(&t);
        bytes += vssm_tensor_numel(&t) * (int64_t)vssm_dtype_size(t.dtype);
        if ((unsigned)t.dtype < VSSM_DTYPE_COUNT) by_dtype[t.dtype]++;
    }
    printf("parameters:  %lld (%.2fM) in %d tensors, %.2f MB;", (long long)params, (double)params / 1e6, n,
           (double)bytes / 1e6);
    for (int d = 0; d < VSSM_DTYPE_COUNT; d++)
        if (by_dtype[d]) printf(" %s x%d", vssm_dtype_name((vssm_dtype)d), by_dtype[d]);
    printf("\n");
    if (tensors) {
        printf("tensors:\n");
        for (int i = 0; i < n; i++) {
            vssm_tensor t;
            char sh[96];
            const char *name = vssm_weights_name(w, i);
            vssm_weights_get(w, name, &t, &err);
            printf("  %-56s %-5s %s\n", name, vssm_dtype_name(t.dtype), vssm_shape_str(t.shape, t.ndim, sh, sizeof sh));
        }
    }
    int nm = vssm_weights_meta_count(w);
    printf("metadata:%s\n", nm ? "" : "    (none)");
    for (int i = 0; i < nm; i++) {
        const char *k = vssm_weights_meta_key(w, i);
        printf("  %-16s %s\n", k, vssm_weights_meta(w, k));
    }
    vssm_weights_close(w);
    return 1;
}

VSSM_VERB(info) {
    const char *key = NULL, *files[64];
    int nf = 0, bad = 0, no_tensors = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return VSSM_EXIT_OK;
        }
        if (cli_opt_str(argc, argv, &i, "--key", &key, &bad) || cli_opt_flag(argv, i, "--no-tensors", &no_tensors))
            continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            cli_bad_arg("info", argv[i]);
            bad = 1;
        } else if (nf < 64)
            files[nf++] = argv[i];
        else {
            cli_error("info: at most 64 files");
            bad = 1;
        }
    }
    if (!bad && !nf) {
        cli_error("info: needs a FILE");
        bad = 1;
    }
    if (bad) {
        usage(stderr);
        return VSSM_EXIT_USAGE;
    }
    int ok = 0;
    for (int i = 0; i < nf; i++) {
        if (i) printf("\n");
        ok += info_one(files[i], key, !no_tensors);
    }
    if (ok == nf) return VSSM_EXIT_OK;
    return nf == 1 ? VSSM_EXIT_USAGE : VSSM_EXIT_INPUT;
}
