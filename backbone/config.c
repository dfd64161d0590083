/* backbone/config.c - VMamba configurations: presets, validation, sizes, costs. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "kernels/ops.h"
#include "vssm/vim.h"
#include "vssm/vmamba.h"

static const struct {
    const char *name, *forward_type;
    int C;
    int depths[4];
    float ssm_ratio, mlp_ratio;
    int d_state;
} presets[] = {
    {"vmamba-tiny", "v05_noz", 96, {2, 2, 8, 2}, 1.0f, 4.0f, 1}, /* s1l8, the README's VMamba-T */
    {"vmamba-tiny-s2l5", "v05_noz", 96, {2, 2, 5, 2}, 2.0f, 4.0f, 1},
    {"vmamba-small", "v05_noz", 96, {2, 2, 15, 2}, 2.0f, 4.0f, 1},
    {"vmamba-base", "v05_noz", 128, {2, 2, 15, 2}, 2.0f, 4.0f, 1},
    {"vmamba-small-s1l20", "v05_noz", 96, {2, 2, 20, 2}, 1.0f, 4.0f, 1},
    {"vmamba-base-s1l20", "v05_noz", 128, {2, 2, 20, 2}, 1.0f, 4.0f, 1},
    /* the first release (v0): z-gated SS2D, d_state 16, no MLP, 4x4 patch embed, patch merging */
    {"vmamba-v0-tiny", "v0", 96, {2, 2, 9, 2}, 2.0f, 0.0f, 16},
    {"vmamba-v0-small", "v0", 96, {2, 2, 27, 2}, 2.0f, 0.0f, 16},
    {"vmamba-v0-base", "v0", 128, {2, 2, 27, 2}, 2.0f, 0.0f, 16},
};

int vssm_vmamba_preset_count(void) { return (int)(sizeof presets / sizeof presets[0]); }
const char *vssm_vmamba_preset_name(int i) { return i >= 0 && i < vssm_vmamba_preset_count() ? presets[i].name : NULL; }

vssm_status vssm_vmamba_config_preset(vssm_vmamba_config *cfg, const char *name, vssm_err *err) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name) != 0) continue;
        memset(cfg, 0, sizeof *cfg);
        snprintf(cfg->arch, sizeof cfg->arch, "%s", name);
        snprintf(cfg->forward_type, sizeof cfg->forward_type, "%s", presets[i].forward_type);
        cfg->in_chans = 3;
        for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) {
            cfg->dims[s] = presets[i].C << s;
            cfg->depths[s] = presets[i].depths[s];
        }
        cfg->ssm_ratio = presets[i].ssm_ratio;
        cfg->d_state = presets[i].d_state;
        cfg->dt_rank = 0;
        cfg->mlp_ratio = presets[i].mlp_ratio;
        cfg->num_classes = 1000;
        return VSSM_OK;
    }
    char names[512] = "";
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
        strncat(names, presets[i].name, sizeof names - strlen(names) - 1);
    }
    /* the other family's too: a name reaches here from any verb that takes both */
    strncat(names, "; Vision Mamba: ", sizeof names - strlen(names) - 1);
    const char *v;
    for (int i = 0; (v = vssm_vim_preset_name(i)); i++) {
        strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
        strncat(names, v, sizeof names - strlen(names) - 1);
    }
    return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "unknown architecture '%s' (known: %s)", name, names);
}

int vssm_vmamba_d_inner(const vssm_vmamba_config *cfg, int s) { return (int)(cfg->ssm_ratio * (float)cfg->dims[s]); }
int vssm_vmamba_dt_rank(const vssm_vmamba_config *cfg, int s) {
    return cfg->dt_rank > 0 ? cfg->dt_rank : (cfg->dims[s] + 15) / 16;
}
static int mlp_hidden(const vssm_vmamba_config *cfg, int s) { return (int)((float)cfg->dims[s] * cfg->mlp_ratio); }

int vssm_vmamba_is_v0(const vssm_vmamba_config *cfg) { return !strcmp(cfg->forward_type, "v0"); }

vssm_status vssm_vmamba_config_validate(const vssm_vmamba_config *cfg, vssm_err *err) {
    const int v0 = vssm_vmamba_is_v0(cfg);
    if (!v0 && strcmp(cfg->forward_type, "v05_noz") != 0)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "unsupported forward type '%s': vssm runs v05_noz (the VMamba v2 releases) and v0 "
                            "(the first release)",
                            cfg->forward_type);
    if (cfg->in_chans < 1 || cfg->in_chans > 64)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "in_chans %d out of range [1, 64]", cfg->in_chans);
    if (!(cfg->ssm_ratio > 0 && cfg->ssm_ratio <= 16))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "ssm_ratio %g out of range (0, 16]", cfg->ssm_ratio);
    if (!((cfg->mlp_ratio > 0 || (v0 && cfg->mlp_ratio == 0)) && cfg->mlp_ratio <= 16))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "mlp_ratio %g out of range (0, 16]%s", cfg->mlp_ratio,
                            v0 ? " or 0 (no MLP)" : "");
    if (cfg->d_state < 1 || cfg->d_state > VSSM_SCAN_MAX_STATE)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "d_state %d out of range [1, %d]", cfg->d_state,
                            VSSM_SCAN_MAX_STATE);
    if (cfg->dt_rank < 0 || cfg->dt_rank > 4096)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "dt_rank %d out of range [0 (auto), 4096]", cfg->dt_rank);
    if (cfg->num_classes < 0 || cfg->num_classes > 1000000)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "num_classes %d out of range [0, 1000000]", cfg->num_classes);
    if (cfg->dims[0] < 2)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "dims[0] = %d: the patch embed needs at least 2 channels",
                            cfg->dims[0]);
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) {
        if (cfg->dims[s] < 1 || cfg->dims[s] > 65536)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "dims[%d] = %d out of range [1, 65536]", s, cfg->dims[s]);
        if (cfg->depths[s] < 0 || cfg->depths[s] > 1024)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "depths[%d] = %d out of range [0, 1024]", s, cfg->depths[s]);
        if (vssm_vmamba_d_inner(cfg, s) < 1 || (cfg->mlp_ratio > 0 && mlp_hidden(cfg, s) < 1))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                                "stage %d: ssm_ratio %g or mlp_ratio %g gives no channels for dim %d", s,
                                cfg->ssm_ratio, cfg->mlp_ratio, cfg->dims[s]);
    }
    return VSSM_OK;
}

void vssm_vmamba_stage_size(int h, int w, int stage, int *hs, int *ws) {
    for (int i = 0; i < stage + 2; i++) {
        h = (h + 1) / 2;
        w = (w + 1) / 2;
    }
    *hs = h;
    *ws = w;
}

void vssm_vmamba_config_stage_size(const vssm_vmamba_config *cfg, int h, int w, int stage, int *hs, int *ws) {
    if (!vssm_vmamba_is_v0(cfg)) {
        vssm_vmamba_stage_size(h, w, stage, hs, ws);
        return;
    }
    h /= 4; /* 4x4 stride-4 patch embed (no padding), then 2x2 merges (zero-padded) */
    w /= 4;
    for (int i = 0; i < stage; i++) {
        h = (h + 1) / 2;
        w = (w + 1) / 2;
    }
    *hs = h;
    *ws = w;
}

double vssm_vmamba_macs(const vssm_vmamba_config *cfg, int h, int w) {
    const int K = VSSM_SCAN_K, N = cfg->d_state, C = cfg->dims[0], v0 = vssm_vmamba_is_v0(cfg);
    double macs = 0;
    int h1 = (h + 1) / 2, w1 = (w + 1) / 2;
    if (!v0) macs += (double)h1 * w1 * (C / 2) * 9 * cfg->in_chans;
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) {
        int hs, ws;
        vssm_vmamba_config_stage_size(cfg, h, w, s, &hs, &ws);
        double L = (double)hs * ws, d = cfg->dims[s], di = vssm_vmamba_d_inner(cfg, s);
        double R = vssm_vmamba_dt_rank(cfg, s), hid = cfg->mlp_ratio > 0 ? mlp_hidden(cfg, s) : 0;
        if (v0)
            macs += s == 0 ? L * d * 16 * cfg->in_chans    /* 4x4 patch embed */
                           : L * 4 * cfg->dims[s - 1] * d; /* patch merging into this stage */
        else if (s == 0)
            macs += L * d * 9 * (C / 2); /* second patch-embed conv */
        else
            macs += L * 9 * cfg->dims[s - 1] * d; /* downsample into this stage */
        double blk = L * d * di * (v0 ? 2 : 1)    /* in_proj (v0: x and the gate z) */
                     + L * di * 9                 /* depthwise conv */
                     + L * di * K * (R + 2 * N)   /* x_proj */
                     + L * K * R * di             /* dt_proj */
                     + L * K * di * (9.0 * N + 1) /* scan, counted as the official flops_selective_scan_fn: 9N + D */
                     + L * di * d                 /* out_proj */
                     + 2 * L * d * hid;           /* fc1, fc2 */
        macs += blk * cfg->depths[s];
    }
    macs += (double)cfg->dims[3] * cfg->num_classes;
    return macs;
}
