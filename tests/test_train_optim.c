/* tests/test_train_optim.c - AdamW, gradient clipping, the cosine schedule with warm-up and
 * the EMA of weights (train/optim.c) against PyTorch on 6 steps
 * (tests/reference/gen_optim_vectors.py: torch.optim.AdamW with two weight-decay groups,
 * clip_grad_norm_ clipping 3 of the 6 steps, train_fashion_mnist.py's lr_at, ModelEmaV2's
 * update). Checked after every step: the learning rate (1e-12 relative), the total norm
 * (1e-6: PyTorch sums in float), every parameter and EMA value (max|a-b|/max|b| <= 1e-6).
 * The three tensors sit in one flat array with gaps, as the trainer lays them out: a gap
 * must stay untouched. Then what those 96 floats and 6 steps do not reach (test_edges): the
 * clipping norm over several 65536-float blocks (every real model), the schedule past its
 * last step, and AdamW's eps against gradients of its size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vssm/train.h"
#include "vssm/weights.h"

#define NT 3
#define FLAT 96
#define GAP_VAL 7.0f

static vssm_weights *wf;

static void get(const char *name, size_t n, void *dst, int f64) {
    vssm_tensor t;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_weights_get(wf, name, &t, &err) == VSSM_OK && (size_t)vssm_tensor_numel(&t) == n, "%s: %s", name,
                 err.msg);
    if (f64)
        memcpy(dst, t.data, n * sizeof(double));
    else
        TEST_REQUIRE(vssm_tensor_to_f32(&t, dst, &err) == VSSM_OK, "%s: %s", name, err.msg);
}

/* in closed form, without PyTorch: the same definitions as gen_optim_vectors.py's */
static void test_edges(void) {
    /* clip_grad_norm_ over 3 blocks and a tail: the norm of the whole, every element scaled */
    const int64_t n = 3 * 65536 + 17;
    float *g = malloc((size_t)n * sizeof(float)), *g0 = malloc((size_t)n * sizeof(float));
    TEST_REQUIRE(g && g0, "out of memory");
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        g0[i] = g[i] = (float)((i * 7919 % 2003) - 1001) / 1001.0f, s += (double)g0[i] * g0[i];
    const double norm = vssm_grad_clip(g, n, 1.0), coef = 1.0 / (sqrt(s) + 1e-6);
    TEST_CHECK(fabs(norm - sqrt(s)) <= 1e-12 * sqrt(s), "clip over %lld floats: norm %.17g, want %.17g", (long long)n,
               norm, sqrt(s));
    int64_t off = -1;
    for (int64_t i = 0; i < n && off < 0; i++)
        if (g[i] != g0[i] * (float)coef) off = i;
    TEST_CHECK(off < 0, "clip over %lld floats: element %lld not scaled by %.9g", (long long)n, (long long)off, coef);
    free(g), free(g0);
    /* the cosine ends at min and stays there */
    const vssm_lr_schedule sc = {1e-3, 1e-5, 2, 10};
    TEST_CHECK(vssm_lr_at(&sc, 9) > sc.min && vssm_lr_at(&sc, 10) == sc.min && vssm_lr_at(&sc, 25) == sc.min,
               "lr past the last step: %.17g %.17g %.17g (min %g)", vssm_lr_at(&sc, 9), vssm_lr_at(&sc, 10),
               vssm_lr_at(&sc, 25), sc.min);
    /* AdamW's first step moves p by lr g / (|g| + eps) (the bias corrections cancel m and v's
     * first factors): g = eps halves the step, g = 0 leaves p, g = 1e4 eps is a full step */
    vssm_adamw o;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_adamw_init(&o, 3, 0.9, 0.999, 1e-8, 0, &err) == VSSM_OK, "adamw: %s", err.msg);
    const vssm_train_tensor t = {.name = "t", .numel = 3, .offset = 0, .decay = 0};
    float p[3] = {1, 1, 1};
    const float gr[3] = {1e-8f, 0.0f, -1e-4f};
    vssm_adamw_step(&o, p, gr, &t, 1, 0.01);
    const double want[3] = {1 - 0.01 * 1e-8 / (1e-8 + 1e-8), 1, 1 + 0.01 * 1e-4 / (1e-4 + 1e-8)};
    for (int i = 0; i < 3; i++)
        TEST_CHECK(fabs(p[i] - want[i]) <= 1e-6, "adamw first step, g %g: p %.9g, want %.9g", gr[i], p[i], want[i]);
    vssm_adamw_free(&o);
}

int main(void) {
    test_edges();
    char *path = test_data_path("train/optim_steps.safetensors");
    vssm_err err = {0};
    TEST_REQUIRE(vssm_weights_open(&wf, path, NULL, &err) == VSSM_OK, "%s: %s", path, err.msg);
    const int steps = atoi(vssm_weights_meta(wf, "steps"));
    const char *names[NT] = {"w", "b", "a"};
    vssm_train_tensor tt[NT] = {{.name = "w", .numel = 35, .offset = 0, .decay = 1},
                                {.name = "b", .numel = 11, .offset = 48, .decay = 0},
                                {.name = "a", .numel = 12, .offset = 64, .decay = 0}};
    float p[FLAT], g[FLAT], ema[FLAT], want[64];
    double lrs[16], norms[16];
    TEST_REQUIRE(steps >= 1 && steps <= 16, "steps %d", steps);
    get("lr", (size_t)steps, lrs, 1);
    get("norm", (size_t)steps, norms, 1);
    for (int i = 0; i < FLAT; i++) p[i] = GAP_VAL, g[i] = 0;
    char nm[64];
    for (int t = 0; t < NT; t++) {
        snprintf(nm, sizeof nm, "init.%s", names[t]);
        get(nm, (size_t)tt[t].numel, p + tt[t].offset, 0);
    }
    memcpy(ema, p, sizeof p);
    vssm_adamw o;
    TEST_REQUIRE(vssm_adamw_init(&o, FLAT, 0.9, 0.999, 1e-8, strtod(vssm_weights_meta(wf, "weight_decay"), NULL),
                                 &err) == VSSM_OK,
                 "adamw: %s", err.msg);
    const vssm_lr_schedule sched = {strtod(vssm_weights_meta(wf, "base_lr"), NULL),
                                    strtod(vssm_weights_meta(wf, "min_lr"), NULL),
                                    atoi(vssm_weights_meta(wf, "warmup")), steps};
    const double clip = strtod(vssm_weights_meta(wf, "clip"), NULL), decay = strtod(vssm_weights_meta(wf, "ema"), NULL);
    double worst_p = 0, worst_e = 0;
    for (int k = 0; k < steps; k++) {
        for (int t = 0; t < NT; t++) {
            snprintf(nm, sizeof nm, "grad%d.%s", k, names[t]);
            get(nm, (size_t)tt[t].numel, g + tt[t].offset, 0);
        }
        const double norm = vssm_grad_clip(g, FLAT, clip), lr = vssm_lr_at(&sched, k);
        TEST_CHECK(fabs(lr - lrs[k]) <= 1e-12 * lrs[k], "step %d: lr %.17g, PyTorch script %.17g", k, lr, lrs[k]);
        TEST_CHECK(fabs(norm - norms[k]) <= 1e-6 * norms[k], "step %d: norm %.9g, PyTorch %.9g", k, norm, norms[k]);
        vssm_adamw_step(&o, p, g, tt, NT, lr);
        vssm_ema_update(ema, p, FLAT, decay);
        for (int t = 0; t < NT; t++) {
            snprintf(nm, sizeof nm, "param%d.%s", k, names[t]);
            get(nm, (size_t)tt[t].numel, want, 0);
            const double ep = test_rel_err(p + tt[t].offset, want, (size_t)tt[t].numel);
            snprintf(nm, sizeof nm, "ema%d.%s", k, names[t]);
            get(nm, (size_t)tt[t].numel, want, 0);
            const double ee = test_rel_err(ema + tt[t].offset, want, (size_t)tt[t].numel);
            TEST_CHECK(ep <= 1e-6 && ee <= 1e-6, "step %d, %s: params rel err %.3g, EMA %.3g (> 1e-6)", k, names[t], ep,
                       ee);
            worst_p = fmax(worst_p, ep), worst_e = fmax(worst_e, ee);
        }
    }
    int gaps_ok = 1;
    for (int i = 35; i < 48; i++) gaps_ok &= p[i] == GAP_VAL;
    for (int i = 76; i < FLAT; i++) gaps_ok &= p[i] == GAP_VAL;
    TEST_CHECK(gaps_ok, "the gaps between tensors were written");
    printf("%d steps: params worst rel err %.2e, EMA %.2e\n", steps, worst_p, worst_e);
    vssm_adamw_free(&o);
    TEST_CHECK(vssm_adamw_init(&o, FLAT, 1.0, 0.999, 1e-8, 0, &err) == VSSM_ERR_INVALID_ARG, "beta1 = 1 refused");
    vssm_weights_close(wf);
    free(path);
    return test_finish("test_train_optim");
}
