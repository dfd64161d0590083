/* train/optim.c - AdamW, gradient clipping, the learning-rate schedule and the EMA of weights
 * (vssm/train.h), with PyTorch's semantics. Loops over host memory (the CPU backend's device
 * memory), split over OpenMP's default thread count: every element is computed alone (AdamW,
 * EMA) or in fixed blocks summed in order (the norm), so the bits do not depend on it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vssm/train.h"

vssm_status vssm_adamw_init(vssm_adamw *o, int64_t n, double beta1, double beta2, double eps, double weight_decay,
                            vssm_err *err) {
    memset(o, 0, sizeof *o);
    if (n < 1 || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0) || !(weight_decay >= 0))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "AdamW: n %lld, betas (%g, %g), eps %g, weight decay %g out of "
                            "range",
                            (long long)n, beta1, beta2, eps, weight_decay);
    o->m = calloc((size_t)n, sizeof(float));
    o->v = calloc((size_t)n, sizeof(float));
    if (!o->m || !o->v) {
        vssm_adamw_free(o);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for %.1f MB of AdamW state", 8.0 * n / 1e6);
    }
    o->beta1 = beta1, o->beta2 = beta2, o->eps = eps, o->weight_decay = weight_decay, o->n = n;
    return VSSM_OK;
}

void vssm_adamw_free(vssm_adamw *o) {
    if (!o) return;
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

void vssm_adamw_step(vssm_adamw *o, float *params, const float *grads, const vssm_train_tensor *tensors, int n_tensors,
                     double lr) {
    o->step++;
    const double bc1 = 1 - pow(o->beta1, (double)o->step), bc2 = sqrt(1 - pow(o->beta2, (double)o->step));
    /* PyTorch's scalars, rounded to float where its float kernels round them */
    const float b1 = (float)o->beta1, a1 = (float)(1 - o->beta1), b2 = (float)o->beta2, a2 = (float)(1 - o->beta2);
    const float step_size = (float)(lr / bc1), bc2f = (float)bc2, eps = (float)o->eps;
    const float shrink = (float)(1 - lr * o->weight_decay);
    float *mm = o->m, *vv = o->v;
#pragma omp parallel
    for (int t = 0; t < n_tensors; t++) {
        const vssm_train_tensor *ti = &tensors[t];
        float *p = params + ti->offset, *m = mm + ti->offset, *v = vv + ti->offset;
        const float *g = grads + ti->offset;
        const float sh = ti->decay ? shrink : 1.0f; /* p * 1 is p */
#pragma omp for schedule(static) nowait
        for (int64_t i = 0; i < ti->numel; i++) {
            p[i] *= sh;
            m[i] = m[i] * b1 + a1 * g[i];
            v[i] = v[i] * b2 + a2 * (g[i] * g[i]);
            p[i] -= step_size * (m[i] / (sqrtf(v[i]) / bc2f + eps));
        }
    }
}

#define CLIP_BLOCK 65536 /* the norm's squares are summed per block of floats, then the blocks in order */

double vssm_grad_clip(float *g, int64_t n, double max_norm) {
    const int64_t nb = (n + CLIP_BLOCK - 1) / CLIP_BLOCK;
    double s = 0, one[1], *part = nb > 1 ? malloc((size_t)nb * sizeof(double)) : one;
    if (!part) { /* no room for the block sums: the same blocks, one thread */
        for (int64_t b = 0; b < nb; b++) {
            double q = 0;
            for (int64_t i = b * CLIP_BLOCK; i < n && i < (b + 1) * CLIP_BLOCK; i++) q += (double)g[i] * g[i];
            s += q;
        }
    } else {
#pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < nb; b++) {
            double q = 0;
            for (int64_t i = b * CLIP_BLOCK; i < n && i < (b + 1) * CLIP_BLOCK; i++) q += (double)g[i] * g[i];
            part[b] = q;
        }
        for (int64_t b = 0; b < nb; b++) s += part[b];
        if (part != one) free(part);
    }
    const double norm = sqrt(s);
    if (max_norm > 0) {
        const double coef = max_norm / (norm + 1e-6);
        if (coef < 1) {
            const float cf = (float)coef;
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < n; i++) g[i] *= cf;
        }
    }
    return norm;
}

double vssm_lr_at(const vssm_lr_schedule *s, int64_t step) {
    if (step < s->warmup) return s->base * (double)(step + 1) / (double)s->warmup;
    const int64_t span = s->total - s->warmup > 1 ? s->total - s->warmup : 1;
    double p = (double)(step - s->warmup) / (double)span;
    p = p > 1 ? 1 : p;
    return s->min + (s->base - s->min) * 0.5 * (1.0 + cos(M_PI * p));
}

/* ema = ema decay + (1 - decay) p, as timm's ModelEmaV2; left alone where p == ema, so a
 * frozen tensor keeps its bits (the sum, without FMA, moved them by an ulp: test_train_vim_cli
 * failed in portable -DVSSM_NATIVE=OFF builds) */
void vssm_ema_update(float *ema, const float *p, int64_t n, double decay) {
    const float d = (float)decay, a = (float)(1 - decay);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) ema[i] = p[i] == ema[i] ? ema[i] : ema[i] * d + a * p[i];
}
