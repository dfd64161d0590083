/* tests/test_train_optim.c - AdamW, gradient clipping, the cosine schedule with warm-up and
 * the EMA of weights (train/optim.c) against PyTorch on 6 steps
 * (tests/reference/gen_optim_vectors.py: torch.optim.AdamW with two weight-decay groups,
 * clip_grad_norm_ clipping 3 of the 6 steps, train_fashion_mnist.py's lr_at, ModelEmaV2's
 * update). Checked after every step: the learning rate (1e-12 relative), the total norm
 * (1e-6: PyTorch sums in float), every parameter and EMA value (max|a-b|/max|b| <= 1e-6).
 * The three tensors sit in one flat array with gaps, as the trainer lays them out: a gap
 * must stay untouched. */
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

int main(void) {
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
