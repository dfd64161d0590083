/* vssm/train.h - training a VMamba classifier in C (issue 20): forward that keeps what the
 * backward needs, the backward through head, blocks, downsamples and patch embed, and a
 * gradient buffer laid out like the parameters (train/vmamba_train.c).
 *
 *     vssm_vmamba_trainer *t;
 *     vssm_vmamba_trainer_new(&t, ctx, &cfg, src, "", &err);     // plain f32 master weights
 *     vssm_vmamba_trainer_plan(t, 32, 224, 224, &err);            // activations, once per (batch, size)
 *     vssm_vmamba_trainer_zero_grad(t);
 *     vssm_vmamba_trainer_step(t, images_nhwc, labels, 0.1f, &loss, &err);   // grads += d loss
 *     ... optimizer on vssm_vmamba_trainer_params / _grads, then vssm_vmamba_trainer_params_changed
 *
 * Forward types v05_noz and v0 (the first release's: z gate, conv bias, patch merging, no MLP).
 * The context must train (the CPU backend; a CUDA context is refused at create), whose device memory
 * is host memory: the flat parameter and gradient arrays may be read and written directly.
 * Deterministic, and the same bits at any thread count (kernels/BACKWARD.md).
 */
#ifndef VSSM_TRAIN_H
#define VSSM_TRAIN_H

#include "vssm/common.h"
#include "vssm/ctx.h"
#include "vssm/image.h"
#include "vssm/source.h"
#include "vssm/vim.h"
#include "vssm/vmamba.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vssm_vmamba_trainer vssm_vmamba_trainer;

/* One trainable tensor: its official name and shape; [offset, offset + numel) of the flat
 * parameter and gradient arrays holds it in the layout the backward ops use (kernels/ops.h),
 * not the official one (vssm_vmamba_trainer_read converts). decay: 0 for 1-D tensors (norms,
 * biases), A_logs, Ds and dt_projs_bias, 1 otherwise (weights/train_fashion_mnist.py's groups). */
typedef struct vssm_train_tensor {
    const char *name;
    int ndim;
    int64_t shape[5];
    int64_t numel, offset;
    int decay;
} vssm_train_tensor;

/* Backbone + classifier (cfg->num_classes >= 1) from src (official names, after prefix). */
VSSM_API vssm_status vssm_vmamba_trainer_new(vssm_vmamba_trainer **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                             const vssm_source *src, const char *prefix, vssm_err *err);
/* Where the initial values come from when not from a file. new_head: the classifier's linear
 * layer (classifier.head.*) is initialised instead of read (a new task's classes), and
 * classifier.norm too when src lacks it or holds another size. With src NULL every tensor is
 * initialised (training from scratch). The values (seeded, deterministic): linear weights
 * N(0, 0.02), x_proj and convolutions U(+-1/sqrt(fan_in)), biases 0, LayerNorm weights 1,
 * A_logs log(1..N), Ds 1, dt_projs_weight U(+-R^-0.5), dt_projs_bias softplus^-1 of a
 * log-uniform dt in [1e-3, 0.1] (the official VMamba's inits; conv biases 0 instead of
 * PyTorch's uniform). */
typedef struct vssm_train_init {
    int new_head;
    uint64_t seed;
} vssm_train_init;
/* vssm_vmamba_trainer_new with init (NULL: every tensor from src). */
VSSM_API vssm_status vssm_vmamba_trainer_create(vssm_vmamba_trainer **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                                const vssm_source *src, const char *prefix, const vssm_train_init *init,
                                                vssm_err *err);
VSSM_API void vssm_vmamba_trainer_free(vssm_vmamba_trainer *t);
/* on: the backward computes the gradients of classifier.head.* only (a linear probe; the
 * other gradients are left as they are, zero after zero_grad). */
VSSM_API void vssm_vmamba_trainer_freeze_backbone(vssm_vmamba_trainer *t, int on);
/* Plans the saved activations and the backward's scratch for (batch, h, w), once; a new
 * size re-plans. */
VSSM_API vssm_status vssm_vmamba_trainer_plan(vssm_vmamba_trainer *t, int batch, int h, int w, vssm_err *err);
/* Bytes of the planned saved activations (kept from the forward to the backward) and of the
 * scratch the backward and the op workspaces share. */
VSSM_API size_t vssm_vmamba_trainer_saved_bytes(const vssm_vmamba_trainer *t);
VSSM_API size_t vssm_vmamba_trainer_scratch_bytes(const vssm_vmamba_trainer *t);
/* The same two figures for a config at (batch, h, w) on ctx, without allocating them. */
VSSM_API void vssm_vmamba_train_memory(vssm_ctx *ctx, const vssm_vmamba_config *cfg, int batch, int h, int w,
                                       size_t *saved, size_t *scratch);
VSSM_API void vssm_vmamba_trainer_zero_grad(vssm_vmamba_trainer *t);
/* Forward on input (host, (B, H, W, in_chans) NHWC, normalised) and labels (host, B, in
 * [0, classes)), loss = mean cross-entropy with label smoothing (PyTorch's), then the
 * backward: every gradient ADDED to the gradient buffer. */
VSSM_API vssm_status vssm_vmamba_trainer_step(vssm_vmamba_trainer *t, const float *input, const int32_t *labels,
                                              float smoothing, float *loss, vssm_err *err);
/* The forward alone (evaluation) on a planned batch; the logits are then read with _logits. */
VSSM_API vssm_status vssm_vmamba_trainer_forward(vssm_vmamba_trainer *t, const float *input, vssm_err *err);
/* The logits of the last step or forward (host, (B, classes)). */
VSSM_API vssm_status vssm_vmamba_trainer_logits(vssm_vmamba_trainer *t, float *host, vssm_err *err);

VSSM_API int vssm_vmamba_trainer_n_tensors(const vssm_vmamba_trainer *t);
VSSM_API vssm_train_tensor vssm_vmamba_trainer_tensor(const vssm_vmamba_trainer *t, int i);
/* Tensor i (grad 0: the parameter, 1: its gradient) in its official layout into host. */
VSSM_API void vssm_vmamba_trainer_read(const vssm_vmamba_trainer *t, int i, int grad, float *host);
/* The same conversions for any flat array laid out like the parameters (an EMA copy, a
 * checkpoint's): tensor i from flat into host (official layout), and back. */
VSSM_API void vssm_vmamba_trainer_read_flat(const vssm_vmamba_trainer *t, const float *flat, int i, float *host);
VSSM_API void vssm_vmamba_trainer_write_flat(const vssm_vmamba_trainer *t, const float *host, int i, float *flat);
/* The flat arrays (n floats each; gaps between tensors hold 0) the optimizer walks. */
VSSM_API float *vssm_vmamba_trainer_params(vssm_vmamba_trainer *t, int64_t *n);
VSSM_API float *vssm_vmamba_trainer_grads(vssm_vmamba_trainer *t, int64_t *n);
/* Call after the parameters changed: lays out the forward's copies again (packed linear and
 * conv weights, A = -exp(A_logs)). */
VSSM_API void vssm_vmamba_trainer_params_changed(vssm_vmamba_trainer *t);

/* ---- Vision Mamba (train/vim_train.c): the same interface over a Vim classifier (a class
 * token, num_classes >= 1), official names (head.weight / head.bias for the classifier). It
 * trains at its position grid (pos_embed used as it is): _plan refuses another input size.
 * init: new_head initialises head.*; src NULL every tensor, with the official Vim's inits
 * (trunc_normal 0.02 for head, pos_embed, cls_token; lecun_normal patch embed; mamba_simple's
 * dt, A_log, D; out_proj / sqrt(depth)). Decay: 0 for 1-D tensors, pos_embed, cls_token, A_log,
 * A_b_log. */
typedef struct vssm_vim_trainer vssm_vim_trainer;
VSSM_API vssm_status vssm_vim_trainer_create(vssm_vim_trainer **out, vssm_ctx *ctx, const vssm_vim_config *cfg,
                                             const vssm_source *src, const char *prefix, const vssm_train_init *init,
                                             vssm_err *err);
VSSM_API void vssm_vim_trainer_free(vssm_vim_trainer *t);
VSSM_API void vssm_vim_trainer_freeze_backbone(vssm_vim_trainer *t, int on);
VSSM_API vssm_status vssm_vim_trainer_plan(vssm_vim_trainer *t, int batch, int h, int w, vssm_err *err);
VSSM_API size_t vssm_vim_trainer_saved_bytes(const vssm_vim_trainer *t);
VSSM_API size_t vssm_vim_trainer_scratch_bytes(const vssm_vim_trainer *t);
/* The same two figures for a config at batch (at its position grid), without allocating them. */
VSSM_API void vssm_vim_train_memory(const vssm_vim_config *cfg, int batch, size_t *saved, size_t *scratch);
VSSM_API void vssm_vim_trainer_zero_grad(vssm_vim_trainer *t);
VSSM_API vssm_status vssm_vim_trainer_step(vssm_vim_trainer *t, const float *input, const int32_t *labels,
                                           float smoothing, float *loss, vssm_err *err);
VSSM_API vssm_status vssm_vim_trainer_forward(vssm_vim_trainer *t, const float *input, vssm_err *err);
VSSM_API vssm_status vssm_vim_trainer_logits(vssm_vim_trainer *t, float *host, vssm_err *err);
VSSM_API int vssm_vim_trainer_n_tensors(const vssm_vim_trainer *t);
VSSM_API vssm_train_tensor vssm_vim_trainer_tensor(const vssm_vim_trainer *t, int i);
VSSM_API void vssm_vim_trainer_read(const vssm_vim_trainer *t, int i, int grad, float *host);
VSSM_API void vssm_vim_trainer_read_flat(const vssm_vim_trainer *t, const float *flat, int i, float *host);
VSSM_API void vssm_vim_trainer_write_flat(const vssm_vim_trainer *t, const float *host, int i, float *flat);
VSSM_API float *vssm_vim_trainer_params(vssm_vim_trainer *t, int64_t *n);
VSSM_API float *vssm_vim_trainer_grads(vssm_vim_trainer *t, int64_t *n);
VSSM_API void vssm_vim_trainer_params_changed(vssm_vim_trainer *t);

/* ---- either family (train/trainer.c): one interface over the two trainers above, each call
 * the wrapped trainer's own (what `vssm train` drives) ---- */
typedef struct vssm_trainer vssm_trainer;
VSSM_API vssm_status vssm_trainer_create_vmamba(vssm_trainer **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                                const vssm_source *src, const char *prefix, const vssm_train_init *init,
                                                vssm_err *err);
VSSM_API vssm_status vssm_trainer_create_vim(vssm_trainer **out, vssm_ctx *ctx, const vssm_vim_config *cfg,
                                             const vssm_source *src, const char *prefix, const vssm_train_init *init,
                                             vssm_err *err);
VSSM_API void vssm_trainer_free(vssm_trainer *t);
/* "classifier.head." (VMamba) or "head." (Vim): the names of the tensors a frozen backbone trains */
VSSM_API const char *vssm_trainer_head_prefix(const vssm_trainer *t);
VSSM_API void vssm_trainer_freeze_backbone(vssm_trainer *t, int on);
VSSM_API vssm_status vssm_trainer_plan(vssm_trainer *t, int batch, int h, int w, vssm_err *err);
VSSM_API size_t vssm_trainer_saved_bytes(const vssm_trainer *t);
VSSM_API size_t vssm_trainer_scratch_bytes(const vssm_trainer *t);
VSSM_API void vssm_trainer_zero_grad(vssm_trainer *t);
VSSM_API vssm_status vssm_trainer_step(vssm_trainer *t, const float *input, const int32_t *labels, float smoothing,
                                       float *loss, vssm_err *err);
VSSM_API vssm_status vssm_trainer_forward(vssm_trainer *t, const float *input, vssm_err *err);
VSSM_API vssm_status vssm_trainer_logits(vssm_trainer *t, float *host, vssm_err *err);
VSSM_API int vssm_trainer_n_tensors(const vssm_trainer *t);
VSSM_API vssm_train_tensor vssm_trainer_tensor(const vssm_trainer *t, int i);
/* read / read_flat / write_flat: tensor i in [0, n_tensors) (another i does nothing) */
VSSM_API void vssm_trainer_read(const vssm_trainer *t, int i, int grad, float *host);
VSSM_API void vssm_trainer_read_flat(const vssm_trainer *t, const float *flat, int i, float *host);
VSSM_API void vssm_trainer_write_flat(const vssm_trainer *t, const float *host, int i, float *flat);
VSSM_API float *vssm_trainer_params(vssm_trainer *t, int64_t *n);
VSSM_API float *vssm_trainer_grads(vssm_trainer *t, int64_t *n);
VSSM_API void vssm_trainer_params_changed(vssm_trainer *t);

/* ---- the optimizer (train/optim.c): PyTorch's semantics, host memory, deterministic ---- */

/* torch.optim.AdamW (amsgrad off): per element, in float, with the step's scalars in double:
 *   p *= 1 - lr wd (decayed tensors only);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)            (t = step, from 1) */
typedef struct vssm_adamw {
    double beta1, beta2, eps, weight_decay;
    int64_t step, n;
    float *m, *v; /* (n) each, zero at first */
} vssm_adamw;
VSSM_API vssm_status vssm_adamw_init(vssm_adamw *o, int64_t n, double beta1, double beta2, double eps,
                                     double weight_decay, vssm_err *err);
VSSM_API void vssm_adamw_free(vssm_adamw *o);
/* One step over the flat params/grads at learning rate lr; each tensor of the table (its
 * offset, numel, decay flag) is updated, gaps are left alone. */
VSSM_API void vssm_adamw_step(vssm_adamw *o, float *params, const float *grads, const vssm_train_tensor *tensors,
                              int n_tensors, double lr);
/* torch.nn.utils.clip_grad_norm_(max_norm, norm 2): the total 2-norm of g (n floats, summed
 * in double, in order) is returned; when max_norm > 0, g *= min(1, max_norm / (norm + 1e-6)). */
VSSM_API double vssm_grad_clip(float *g, int64_t n, double max_norm);
/* The learning rate of weights/train_fashion_mnist.py: linear warm-up to base over `warmup`
 * steps (base (step + 1) / warmup), then cosine from base to min over the remaining steps:
 * min + (base - min) (1 + cos(pi (step - warmup) / max(1, total - warmup))) / 2. */
typedef struct vssm_lr_schedule {
    double base, min;
    int64_t warmup, total;
} vssm_lr_schedule;
VSSM_API double vssm_lr_at(const vssm_lr_schedule *s, int64_t step);
/* EMA of weights (timm's ModelEmaV2): ema = decay ema + (1 - decay) p, n floats. */
VSSM_API void vssm_ema_update(float *ema, const float *p, int64_t n, double decay);

/* ---- training augmentations (train/augment.c), deterministic given the generator ---- */

/* splitmix64: the generator the augmentations draw from (state advanced in place). */
VSSM_API uint64_t vssm_rng_next(uint64_t *state);
/* torchvision's RandomResizedCrop(size, scale=(smin, 1), ratio=(3/4, 4/3)): up to 10 tries of
 * an area fraction in [smin, 1] and a log-uniform aspect ratio, else the whole image's
 * central crop clamped to the ratio range; the box resized to size x size with interp.
 * flip: then mirrored left-right with probability 1/2. dst is allocated. */
VSSM_API vssm_status vssm_random_resized_crop(const vssm_image *src, int size, double smin, int flip,
                                              vssm_interp interp, uint64_t *rng, vssm_image *dst, vssm_err *err);
/* the box that crop draws from a W x H image (torchvision's get_params): box = x, y, w, h,
 * inside the image; rng advanced as vssm_random_resized_crop advances it before its flip.
 * VSSM_ERR_INVALID_ARG (nothing drawn) for W or H < 1 or smin outside (0, 1]. */
VSSM_API vssm_status vssm_random_resized_crop_box(int W, int H, double smin, uint64_t *rng, int box[4], vssm_err *err);
/* torchvision's RandomCrop(size of src, padding=pad, fill=0) on uint8 (the padding black):
 * offsets ox, oy uniform in [0, 2 pad], dst (src's size) = the zero-padded image's window at
 * (ox, oy); flip: then mirrored left-right with probability 1/2 (weights/train_fashion_mnist.py's
 * augment). dst is allocated. */
VSSM_API vssm_status vssm_pad_crop(const vssm_image *src, int pad, int flip, uint64_t *rng, vssm_image *dst,
                                   vssm_err *err);

#ifdef __cplusplus
}
#endif

#endif
