/* train/trainer.c - one interface over the two families' trainers (vssm/train.h,
 * vssm_trainer_*): each call goes to the VMamba trainer or the Vim trainer it wraps. */
#include <stdlib.h>
#include "vssm/train.h"

struct vssm_trainer {
    vssm_vmamba_trainer *vm; /* exactly one of the two */
    vssm_vim_trainer *vi;
};

/* *out wraps the trainer just made (s: how its creation went) */
static vssm_status wrap(vssm_status s, vssm_trainer **out, vssm_vmamba_trainer *vm, vssm_vim_trainer *vi,
                        vssm_err *err) {
    *out = NULL;
    if (s != VSSM_OK) return s;
    if (!(*out = calloc(1, sizeof **out))) {
        vssm_vmamba_trainer_free(vm);
        vssm_vim_trainer_free(vi);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    (*out)->vm = vm, (*out)->vi = vi;
    return VSSM_OK;
}

vssm_status vssm_trainer_create_vmamba(vssm_trainer **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                       const vssm_source *src, const char *prefix, const vssm_train_init *init,
                                       vssm_err *err) {
    vssm_vmamba_trainer *t = NULL;
    const vssm_status s = vssm_vmamba_trainer_create(&t, ctx, cfg, src, prefix, init, err);
    return wrap(s, out, t, NULL, err);
}

vssm_status vssm_trainer_create_vim(vssm_trainer **out, vssm_ctx *ctx, const vssm_vim_config *cfg,
                                    const vssm_source *src, const char *prefix, const vssm_train_init *init,
                                    vssm_err *err) {
    vssm_vim_trainer *t = NULL;
    const vssm_status s = vssm_vim_trainer_create(&t, ctx, cfg, src, prefix, init, err);
    return wrap(s, out, NULL, t, err);
}

void vssm_trainer_free(vssm_trainer *t) {
    if (!t) return;
    vssm_vmamba_trainer_free(t->vm);
    vssm_vim_trainer_free(t->vi);
    free(t);
}

/* the call on whichever trainer t wraps */
#define EITHER(t, fn, ...) \
    ((t)->vi ? vssm_vim_trainer_##fn((t)->vi, __VA_ARGS__) : vssm_vmamba_trainer_##fn((t)->vm, __VA_ARGS__))
#define EITHER0(t, fn) ((t)->vi ? vssm_vim_trainer_##fn((t)->vi) : vssm_vmamba_trainer_##fn((t)->vm))

const char *vssm_trainer_head_prefix(const vssm_trainer *t) { return t->vi ? "head." : "classifier.head."; }
void vssm_trainer_freeze_backbone(vssm_trainer *t, int on) { EITHER(t, freeze_backbone, on); }
vssm_status vssm_trainer_plan(vssm_trainer *t, int batch, int h, int w, vssm_err *err) {
    return EITHER(t, plan, batch, h, w, err);
}
size_t vssm_trainer_saved_bytes(const vssm_trainer *t) { return EITHER0(t, saved_bytes); }
size_t vssm_trainer_scratch_bytes(const vssm_trainer *t) { return EITHER0(t, scratch_bytes); }
void vssm_trainer_zero_grad(vssm_trainer *t) { EITHER0(t, zero_grad); }
vssm_status vssm_trainer_step(vssm_trainer *t, const float *input, const int32_t *labels, float smoothing, float *loss,
                              vssm_err *err) {
    return EITHER(t, step, input, labels, smoothing, loss, err);
}
vssm_status vssm_trainer_forward(vssm_trainer *t, const float *input, vssm_err *err) {
    return EITHER(t, forward, input, err);
}
vssm_status vssm_trainer_logits(vssm_trainer *t, float *host, vssm_err *err) { return EITHER(t, logits, host, err); }
int vssm_trainer_n_tensors(const vssm_trainer *t) { return EITHER0(t, n_tensors); }
vssm_train_tensor vssm_trainer_tensor(const vssm_trainer *t, int i) { return EITHER(t, tensor, i); }
void vssm_trainer_read(const vssm_trainer *t, int i, int grad, float *host) { EITHER(t, read, i, grad, host); }
void vssm_trainer_read_flat(const vssm_trainer *t, const float *flat, int i, float *host) {
    EITHER(t, read_flat, flat, i, host);
}
void vssm_trainer_write_flat(const vssm_trainer *t, const float *host, int i, float *flat) {
    EITHER(t, write_flat, host, i, flat);
}
float *vssm_trainer_params(vssm_trainer *t, int64_t *n) { return EITHER(t, params, n); }
float *vssm_trainer_grads(vssm_trainer *t, int64_t *n) { return EITHER(t, grads, n); }
void vssm_trainer_params_changed(vssm_trainer *t) { EITHER0(t, params_changed); }
