#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmamba_vectors.h"

static int parse_ints(const char *s, int *out, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = (int)strtol(s, &end, 10);
        if (end == s) return 0;
        s = *end == ',' ? end + 1 : end;
    }
    return 1;
}

static const char *meta(vssm_weights *wf, const char *k) {
    const char *v = vssm_weights_meta(wf, k);
    return v ? v : "";
}

int vvec_load_cfg(vssm_weights *wf, vssm_vmamba_config *cfg, int *B, int *H, int *W) {
    const char *dims = vssm_weights_meta(wf, "stage_dims"), *depths = vssm_weights_meta(wf, "depths");
    if (!dims || !depths) return 0;
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->arch, "custom");
    snprintf(cfg->forward_type, sizeof cfg->forward_type, "%s", meta(wf, "forward_type"));
    cfg->in_chans = 3;
    if (!parse_ints(dims, cfg->dims, 4) || !parse_ints(depths, cfg->depths, 4)) return 0;
    cfg->ssm_ratio = strtof(meta(wf, "ssm_ratio"), NULL);
    cfg->d_state = atoi(meta(wf, "d_state"));
    cfg->mlp_ratio = strtof(meta(wf, "mlp_ratio"), NULL);
    cfg->num_classes = atoi(meta(wf, "num_classes"));
    *B = atoi(meta(wf, "batch"));
    *H = atoi(meta(wf, "height"));
    *W = atoi(meta(wf, "width"));
    return 1;
}

float *vvec_nhwc(vssm_weights *wf, const char *name, int64_t shape_out[4]) {
    vssm_tensor t;
    vssm_err err = {0};
    if (vssm_weights_get(wf, name, &t, &err) != VSSM_OK || t.ndim != 4) return NULL;
    const int64_t B = t.shape[0], C = t.shape[1], H = t.shape[2], W = t.shape[3];
    size_t n = (size_t)vssm_tensor_numel(&t);
    float *tmp = malloc(n * 4), *out = malloc(n * 4);
    if (!tmp || !out || vssm_tensor_to_f32(&t, tmp, &err) != VSSM_OK) {
        free(tmp);
        free(out);
        return NULL;
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) out[((b * H + h) * W + w) * C + c] = tmp[((b * C + c) * H + h) * W + w];
    free(tmp);
    if (shape_out) memcpy(shape_out, t.shape, 4 * sizeof(int64_t));
    return out;
}
