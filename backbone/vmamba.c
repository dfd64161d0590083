/* backbone/vmamba.c - the VMamba backbone: weights, activation plan, forward pass.
 *
 * Official names and shapes (prefix omitted), d = dims[s], Di = d_inner, R = dt_rank:
 *   patch_embed.0 conv(C/2, in, 3, 3)+b   .2 LN(C/2)   .5 conv(C, C/2, 3, 3)+b   .7 LN(C)
 *   layers.s.blocks.j.norm LN(d)    .op.in_proj (Di, d)    .op.conv2d (Di, 1, 3, 3)
 *     .op.x_proj_weight (4, R+2N, Di)  .op.dt_projs_weight (4, Di, R)  .op.dt_projs_bias (4, Di)
 *     .op.A_logs (4*Di, N)  .op.Ds (4*Di)  .op.out_norm LN(Di)  .op.out_proj (d, Di)
 *     .norm2 LN(d)  .mlp.fc1 (4d, d)+b  .mlp.fc2 (d, 4d)+b
 *   layers.s.downsample.1 conv(d', d, 3, 3)+b   .3 LN(d')            (s < 3)
 * The first release (forward type v0, same family: one config, one state, the same scan):
 *   patch_embed.0 conv(C, in, 4, 4)+b (stride 4)   .2 LN(C)
 *   .op.in_proj (2Di, d): x and the gate z; .op.conv2d.bias (Di); the SS2D output is
 *     out_proj(out_norm(y) * SiLU(z)); no norm2/mlp (mlp_ratio 0)
 *   layers.s.downsample.norm LN(4d)   .reduction (d', 4d) (PatchMerging2D: 2x2 gather)
 * It is a forward type of this family, not a family of its own: the config, the activation
 * plan, the features the heads read and the fused cross-scan (d_state 16 is a parameter of
 * it) are the v2 ones; only the stem, the in_proj/gate and the downsample differ.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backbone/load.h"
#include "backbone/backbone_internal.h"
#include "backbone/vmamba_internal.h"
#include "vssm/infer.h"

#define LN_EPS 1e-5f
#define MICRO_TOKENS 2048 /* tokens per micro-batch in a stage (see the forward) */

/* ---- weight enumeration: one walk over every tensor, used to size, load and count ---- */

#define VISIT(nm, xf, groups, slot, ...) VSSM_VISIT(w, nm, xf, groups, slot, __VA_ARGS__)

static int walk_ln(vssm_walker *w, const char *base, int64_t c, float **gw, float **gb) {
    char nm[256];
    snprintf(nm, sizeof nm, "%s.weight", base);
    VISIT(nm, VSSM_XF_PLAIN, 1, gw, c);
    snprintf(nm, sizeof nm, "%s.bias", base);
    VISIT(nm, VSSM_XF_PLAIN, 1, gb, c);
    return 0;
}

static int walk_conv(vssm_walker *w, const char *base, int64_t co, int64_t ci, float **cw, float **cb) {
    char nm[256];
    snprintf(nm, sizeof nm, "%s.weight", base);
    VISIT(nm, VSSM_XF_CONV, 1, cw, co, ci, 3, 3);
    snprintf(nm, sizeof nm, "%s.bias", base);
    VISIT(nm, VSSM_XF_PLAIN, 1, cb, co);
    return 0;
}

static int walk_block(vssm_walker *w, const vssm_vmamba_config *cfg, int s, int j, vssm_block_w *b) {
    const int64_t d = cfg->dims[s], Di = vssm_vmamba_d_inner(cfg, s), R = vssm_vmamba_dt_rank(cfg, s);
    const int64_t N = cfg->d_state, K = VSSM_SCAN_K, hid = (int64_t)((float)d * cfg->mlp_ratio);
    const int v0 = vssm_vmamba_is_v0(cfg);
    char base[160], nm[256];
    snprintf(base, sizeof base, "layers.%d.blocks.%d", s, j);
#define NM(suffix) (snprintf(nm, sizeof nm, "%s.%s", base, suffix), nm)
    if (walk_ln(w, NM("norm"), d, &b->norm_w, &b->norm_b)) return 1;
    VISIT(NM("op.in_proj.weight"), VSSM_XF_LINEAR, 1, &b->in_proj, v0 ? 2 * Di : Di, d);
    VISIT(NM("op.conv2d.weight"), VSSM_XF_T, 1, &b->conv, Di, 1, 3, 3); /* (3, 3, Di) */
    if (v0) VISIT(NM("op.conv2d.bias"), VSSM_XF_PLAIN, 1, &b->conv_b, Di);
    VISIT(NM("op.x_proj_weight"), VSSM_XF_LINEAR, VSSM_SCAN_K, &b->x_proj, K, R + 2 * N, Di);
    VISIT(NM("op.dt_projs_weight"), VSSM_XF_DT, VSSM_SCAN_K, &b->dt_w, K, Di, R); /* (K, R, Di) [+ bf16 pairs] */
    VISIT(NM("op.dt_projs_bias"), VSSM_XF_PLAIN, 1, &b->dt_b, K, Di);
    VISIT(NM("op.A_logs"), VSSM_XF_NEG_EXP_T, VSSM_SCAN_K, &b->A, K * Di, N); /* A (K, N, Di) */
    VISIT(NM("op.Ds"), VSSM_XF_PLAIN, 1, &b->Ds, K * Di);
    if (walk_ln(w, NM("op.out_norm"), Di, &b->out_norm_w, &b->out_norm_b)) return 1;
    VISIT(NM("op.out_proj.weight"), VSSM_XF_LINEAR, 1, &b->out_proj, d, Di);
    if (hid == 0) return 0; /* v0: no MLP */
    if (walk_ln(w, NM("norm2"), d, &b->norm2_w, &b->norm2_b)) return 1;
    VISIT(NM("mlp.fc1.weight"), VSSM_XF_LINEAR, 1, &b->fc1_w, hid, d);
    VISIT(NM("mlp.fc1.bias"), VSSM_XF_PLAIN, 1, &b->fc1_b, hid);
    VISIT(NM("mlp.fc2.weight"), VSSM_XF_LINEAR, 1, &b->fc2_w, d, hid);
    VISIT(NM("mlp.fc2.bias"), VSSM_XF_PLAIN, 1, &b->fc2_b, d);
#undef NM
    return 0;
}

/* the stem: v2's two stride-2 3x3 convs, or v0's 4x4 stride-4 conv (packed as (C, in*16)) */
static int walk_stem(vssm_walker *w, const vssm_vmamba_config *cfg, vssm_vmamba *m) {
    const int64_t C = cfg->dims[0];
    if (vssm_vmamba_is_v0(cfg)) {
        VISIT("patch_embed.0.weight", VSSM_XF_LINEAR, 1, &m->pe0_w, C, cfg->in_chans, 4, 4);
        VISIT("patch_embed.0.bias", VSSM_XF_PLAIN, 1, &m->pe0_b, C);
        return walk_ln(w, "patch_embed.2", C, &m->pe2_w, &m->pe2_b);
    }
    if (walk_conv(w, "patch_embed.0", C / 2, cfg->in_chans, &m->pe0_w, &m->pe0_b)) return 1;
    if (walk_ln(w, "patch_embed.2", C / 2, &m->pe2_w, &m->pe2_b)) return 1;
    if (walk_conv(w, "patch_embed.5", C, C / 2, &m->pe5_w, &m->pe5_b)) return 1;
    return walk_ln(w, "patch_embed.7", C, &m->pe7_w, &m->pe7_b);
}

/* stage s's downsample: v2's stride-2 3x3 conv + LN, or v0's patch merging (LN(4d) + reduction) */
static int walk_down(vssm_walker *w, const vssm_vmamba_config *cfg, int s, vssm_stage_w *st) {
    const int64_t d = cfg->dims[s], d2 = cfg->dims[s + 1];
    char base[64], nm[96];
    if (vssm_vmamba_is_v0(cfg)) {
        snprintf(base, sizeof base, "layers.%d.downsample.norm", s);
        if (walk_ln(w, base, 4 * d, &st->down_ln_w, &st->down_ln_b)) return 1;
        snprintf(nm, sizeof nm, "layers.%d.downsample.reduction.weight", s);
        VISIT(nm, VSSM_XF_LINEAR, 1, &st->down_w, d2, 4 * d);
        return 0;
    }
    snprintf(base, sizeof base, "layers.%d.downsample.1", s);
    if (walk_conv(w, base, d2, d, &st->down_w, &st->down_b)) return 1;
    snprintf(base, sizeof base, "layers.%d.downsample.3", s);
    return walk_ln(w, base, d2, &st->down_ln_w, &st->down_ln_b);
}

/* m may hold NULL block arrays (counting only): slots then point at a dummy. */
int vssm_vmamba_walk(vssm_walker *w, const void *config, void *model) {
    const vssm_vmamba_config *cfg = config;
    vssm_vmamba *m = model;
    if (walk_stem(w, cfg, m)) return 1;
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) {
        vssm_block_w dummy;
        for (int j = 0; j < cfg->depths[s]; j++)
            if (walk_block(w, cfg, s, j, m->stage[s].blocks ? &m->stage[s].blocks[j] : &dummy)) return 1;
        if (s + 1 < VSSM_VMAMBA_STAGES && walk_down(w, cfg, s, &m->stage[s])) return 1;
    }
    return 0;
}

int64_t vssm_vmamba_param_count(const vssm_vmamba_config *cfg) {
    vssm_vmamba m;
    memset(&m, 0, sizeof m);
    return vssm_load_param_count(vssm_vmamba_walk, cfg, &m) +
           (cfg->num_classes > 0 ? 2LL * cfg->dims[3] + (int64_t)cfg->num_classes * (cfg->dims[3] + 1) : 0);
}

void vssm_vmamba_free(vssm_vmamba *m) {
    if (!m) return;
    if (m->arena) vssm_op_free(m->ctx, m->arena);
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) free(m->stage[s].blocks);
    free(m);
}

vssm_status vssm_vmamba_load(vssm_vmamba **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg, const vssm_source *src,
                             const char *prefix, vssm_err *err) {
    *out = NULL;
    vssm_status s = vssm_vmamba_config_validate(cfg, err);
    if (s != VSSM_OK) return s;
    vssm_vmamba *m = calloc(1, sizeof *m);
    if (!m) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    m->cfg = *cfg;
    m->ctx = ctx;
    for (int i = 0; i < VSSM_VMAMBA_STAGES; i++) {
        if (cfg->depths[i] == 0) continue;
        m->stage[i].blocks = calloc((size_t)cfg->depths[i], sizeof(vssm_block_w));
        if (!m->stage[i].blocks) {
            vssm_vmamba_free(m);
            return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        }
    }
    const vssm_load_spec ls = {vssm_vmamba_walk, cfg, m, "VMamba", NULL};
    void *arena = NULL;
    if ((s = vssm_load_weights(ctx, src, prefix, &ls, &arena, &m->arena_bytes, &m->n_params, err)) != VSSM_OK) {
        vssm_vmamba_free(m);
        return s;
    }
    m->arena = arena;
    *out = m;
    return VSSM_OK;
}

const vssm_vmamba_config *vssm_vmamba_get_config(const vssm_vmamba *m) { return &m->cfg; }
vssm_ctx *vssm_vmamba_ctx(const vssm_vmamba *m) { return m->ctx; }

/* ---- activations: planned once per (model, batch, h, w) ---- */

void vssm_vmamba_state_free(vssm_vmamba_state *st) {
    if (!st) return;
    vssm_ctx *ctx = st->m->ctx;
    float *bufs[] = {st->in, st->pe_mid, st->ln, st->xi, st->u, st->y, st->hid, st->merge, st->tap_pe, st->tap_b0};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vssm_op_free(ctx, bufs[i]);
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) vssm_op_free(ctx, st->feat[s]);
    vssm_op_free(ctx, st->ws_mem);
    free(st);
}

static void *state_alloc(vssm_vmamba_state *st, size_t bytes, int *fail) {
    void *p = vssm_op_alloc(st->m->ctx, bytes ? bytes : 1);
    if (!p) *fail = 1;
    st->bytes += bytes;
    return p;
}

vssm_status vssm_vmamba_state_new(vssm_vmamba_state **out, vssm_vmamba *m, int batch, int h, int w, vssm_err *err) {
    *out = NULL;
    if (batch < 1 || batch > 65536)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "batch size %d out of range [1, 65536]", batch);
    if (h < 1 || w < 1 || h > VSSM_INPUT_MAX_SIDE || w > VSSM_INPUT_MAX_SIDE)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "input size %dx%d out of range [1, %d]", h, w,
                            VSSM_INPUT_MAX_SIDE);
    const vssm_vmamba_config *cfg = &m->cfg;
    const int v0 = vssm_vmamba_is_v0(cfg);
    if (v0 && (h < 4 || w < 4))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "input size %dx%d: the 4x4 patch embed of a v0 VMamba needs 4x4 "
                            "or more",
                            h, w);
    vssm_vmamba_state *st = calloc(1, sizeof *st);
    if (!st) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    st->m = m;
    st->B = batch;
    st->H = h;
    st->W = w;
    st->h1 = (h + 1) / 2;
    st->w1 = (w + 1) / 2;
    size_t max_ld = 0, max_di = 0, max_hid = 0, max_merge = 0, ws = 0, f = sizeof(float);
    if (!v0) {
        ws = vssm_op_conv3x3s2_workspace(m->ctx, batch, h, w, cfg->in_chans);
        size_t w2 = vssm_op_conv3x3s2_workspace(m->ctx, batch, st->h1, st->w1, cfg->dims[0] / 2);
        if (w2 > ws) ws = w2;
    }
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) {
        vssm_vmamba_config_stage_size(cfg, h, w, s, &st->hs[s], &st->ws[s]);
        size_t L = (size_t)batch * st->hs[s] * st->ws[s];
        size_t d = cfg->dims[s], di = vssm_vmamba_d_inner(cfg, s), hid = (size_t)((float)d * cfg->mlp_ratio);
        if (L * d > max_ld) max_ld = L * d;
        if (L * di > max_di) max_di = L * di;
        if (L * hid > max_hid) max_hid = L * hid;
        size_t sw = vssm_op_scan_workspace(m->ctx, batch, st->hs[s], st->ws[s], (int)di, vssm_vmamba_dt_rank(cfg, s),
                                           cfg->d_state);
        if (sw > ws) ws = sw;
        if (s + 1 < VSSM_VMAMBA_STAGES && !v0) {
            size_t cw = vssm_op_conv3x3s2_workspace(m->ctx, batch, st->hs[s], st->ws[s], (int)d);
            if (cw > ws) ws = cw;
        }
        if (s > 0 && v0) {
            size_t mg = (size_t)batch * st->hs[s] * st->ws[s] * 4 * cfg->dims[s - 1];
            if (mg > max_merge) max_merge = mg;
        }
    }
    int fail = 0;
    size_t pe = v0 ? (size_t)st->hs[0] * st->ws[0] * 16 * cfg->in_chans : (size_t)st->h1 * st->w1 * (cfg->dims[0] / 2);
    st->in = state_alloc(st, (size_t)batch * h * w * cfg->in_chans * f, &fail);
    st->pe_mid = state_alloc(st, (size_t)batch * pe * f, &fail);
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++)
        st->feat[s] = state_alloc(st, (size_t)batch * st->hs[s] * st->ws[s] * cfg->dims[s] * f, &fail);
    st->ln = state_alloc(st, max_ld * f, &fail);
    st->xi = state_alloc(st, max_di * (v0 ? 2 : 1) * f, &fail);
    st->u = state_alloc(st, max_di * f, &fail);
    st->y = state_alloc(st, max_di * f, &fail);
    st->hid = state_alloc(st, max_hid * f, &fail);
    st->merge = v0 ? state_alloc(st, max_merge * f, &fail) : NULL;
    st->ws_mem = state_alloc(st, ws, &fail);
    if (fail) {
        size_t need = st->bytes;
        vssm_vmamba_state_free(st);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory planning %.1f MB of activations for batch %d at %dx%d",
                            need / 1e6, batch, h, w);
    }
    *out = st;
    return VSSM_OK;
}

size_t vssm_vmamba_state_bytes(const vssm_vmamba_state *st) { return st->bytes; }
void vssm_vmamba_state_set_micro_tokens(vssm_vmamba_state *st, int64_t tokens) { st->micro_tokens = tokens; }

/* ---- forward ---- */

/* x = x + SS2D(norm(x)); x = x + MLP(norm2(x)), for B images of one stage's residual
 * stream starting at x. v0: in_proj gives x and the gate z side by side (xi, 2Di columns),
 * the conv has a bias, SS2D's output is out_proj(out_norm(y) * SiLU(z)), and there is no MLP. */
static void vss_block(vssm_vmamba *m, vssm_vmamba_state *st, int s, const vssm_block_w *b, float *x, int B) {
    vssm_ctx *ctx = m->ctx;
    const vssm_vmamba_config *cfg = &m->cfg;
    const int H = st->hs[s], W = st->ws[s], d = cfg->dims[s], v0 = vssm_vmamba_is_v0(cfg);
    const int Di = vssm_vmamba_d_inner(cfg, s), hid = (int)((float)d * cfg->mlp_ratio);
    const int64_t M = (int64_t)B * H * W;

    /* each LayerNorm with the product after it (norm_proj: one pass where that pays) */
    const vssm_norm_proj_args n1 = {.x = x,
                                    .M = M,
                                    .K = d,
                                    .gamma = b->norm_w,
                                    .beta = b->norm_b,
                                    .eps = LN_EPS,
                                    .xn = st->ln,
                                    .wp = b->in_proj,
                                    .N = v0 ? 2 * Di : Di,
                                    .y = st->xi};
    vssm_op_norm_proj(ctx, &n1);
    if (v0)
        vssm_op_dwconv3x3_bias(ctx, st->xi, 2 * Di, B, H, W, Di, b->conv, b->conv_b, VSSM_ACT_SILU, st->u);
    else
        vssm_op_dwconv3x3(ctx, st->xi, B, H, W, Di, b->conv, VSSM_ACT_SILU, st->u);
    const int R = vssm_vmamba_dt_rank(cfg, s);
    /* the dt projections' bf16 pairs after the (K, R, Di) floats in bf16 contexts (VSSM_XF_DT) */
    const float *dt_w2 = vssm_op_dt_pack_numel(ctx, VSSM_SCAN_K, R, Di) ? b->dt_w + (size_t)VSSM_SCAN_K * R * Di : NULL;
    vssm_scan_args a = {B, H, W, Di, R, cfg->d_state, st->u, b->x_proj, b->dt_w, b->dt_b, b->A, b->Ds, st->y, dt_w2};
    vssm_op_ss2d_scan(ctx, &a, st->ws_mem);
    /* x += out_proj(out_norm(y)); v0: xi still holds z: out_norm(y) * SiLU(z), in place */
    const vssm_norm_proj_args n2 = {.x = st->y,
                                    .M = M,
                                    .K = Di,
                                    .gamma = b->out_norm_w,
                                    .beta = b->out_norm_b,
                                    .eps = LN_EPS,
                                    .z = v0 ? st->xi + Di : NULL,
                                    .ldz = 2 * Di,
                                    .xn = v0 ? st->y : st->xi,
                                    .wp = b->out_proj,
                                    .N = d,
                                    .accumulate = 1,
                                    .y = x};
    vssm_op_norm_proj(ctx, &n2);
    if (hid == 0) return;

    const vssm_mlp_args mlp = {.x = x,
                               .M = M,
                               .K = d,
                               .gamma = b->norm2_w,
                               .beta = b->norm2_b,
                               .eps = LN_EPS,
                               .w1p = b->fc1_w,
                               .b1 = b->fc1_b,
                               .N = hid,
                               .act = VSSM_ACT_GELU,
                               .w2p = b->fc2_w,
                               .b2 = b->fc2_b,
                               .xn = st->ln,
                               .h = st->hid};
    vssm_op_mlp(ctx, &mlp);
}

/* image -> stage 0's input feat[0]: v2: conv s2 -> LN -> GELU -> conv s2 -> LN; v0: 4x4
 * patches -> linear -> LN */
static void patch_embed(vssm_vmamba *m, vssm_vmamba_state *st) {
    vssm_ctx *ctx = m->ctx;
    const vssm_vmamba_config *cfg = &m->cfg;
    const int B = st->B, C = cfg->dims[0], in = cfg->in_chans;
    const int64_t M0 = (int64_t)B * st->hs[0] * st->ws[0];
    if (vssm_vmamba_is_v0(cfg)) {
        const int64_t rows = (int64_t)st->hs[0] * st->ws[0]; /* patches per image */
        const vssm_patch_args pa = {B, st->H, st->W, in, 4, 4, rows, 0, -1, st->in, st->pe_mid};
        vssm_op_patchify(ctx, &pa);
        vssm_op_linear_packed(ctx, st->pe_mid, M0, 16 * in, m->pe0_w, m->pe0_b, C, VSSM_ACT_NONE, 0, st->feat[0]);
        vssm_op_layernorm(ctx, st->feat[0], M0, C, m->pe2_w, m->pe2_b, LN_EPS, VSSM_ACT_NONE, st->feat[0]);
        return;
    }
    /* the fields in vssm_stem_args' order: sizes, x, first conv, its LayerNorm, second conv, its LayerNorm */
    const vssm_stem_args sa = {B,        st->H,    st->W,      in,          C / 2,     C,        st->in,
                               m->pe0_w, m->pe0_b, m->pe2_w,   m->pe2_b,    m->pe5_w,  m->pe5_b, m->pe7_w,
                               m->pe7_b, LN_EPS,   st->pe_mid, st->feat[0], st->ws_mem};
    vssm_op_stem_v2(ctx, &sa);
}

/* feat[s] -> feat[s + 1]: v2: conv s2 -> LN; v0: 2x2 gather -> LN(4d) -> reduction */
static void downsample(vssm_vmamba *m, vssm_vmamba_state *st, int s) {
    vssm_ctx *ctx = m->ctx;
    const vssm_vmamba_config *cfg = &m->cfg;
    const vssm_stage_w *sw = &m->stage[s];
    const int B = st->B, d = cfg->dims[s], d2 = cfg->dims[s + 1];
    const int64_t Mn = (int64_t)B * st->hs[s + 1] * st->ws[s + 1];
    if (vssm_vmamba_is_v0(cfg)) {
        vssm_op_patch_merge(ctx, st->feat[s], B, st->hs[s], st->ws[s], d, st->merge);
        vssm_op_layernorm(ctx, st->merge, Mn, 4 * d, sw->down_ln_w, sw->down_ln_b, LN_EPS, VSSM_ACT_NONE, st->merge);
        vssm_op_linear_packed(ctx, st->merge, Mn, 4 * d, sw->down_w, NULL, d2, VSSM_ACT_NONE, 0, st->feat[s + 1]);
        return;
    }
    vssm_op_conv3x3s2(ctx, st->feat[s], B, st->hs[s], st->ws[s], d, sw->down_w, sw->down_b, d2, st->feat[s + 1],
                      st->ws_mem);
    vssm_op_layernorm(ctx, st->feat[s + 1], Mn, d2, sw->down_ln_w, sw->down_ln_b, LN_EPS, VSSM_ACT_NONE,
                      st->feat[s + 1]);
}

vssm_status vssm_vmamba_forward(vssm_vmamba *m, vssm_vmamba_state *st, const float *input, vssm_err *err) {
    if (!m || !st || !input) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_vmamba_forward: NULL argument");
    if (st->m != m)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_vmamba_forward: state belongs to another model");
    vssm_ctx *ctx = m->ctx;
    const vssm_vmamba_config *cfg = &m->cfg;
    const int B = st->B, C = cfg->dims[0];
    size_t in_bytes = (size_t)B * st->H * st->W * cfg->in_chans * sizeof(float);
    if (vssm_op_upload(ctx, st->in, input, in_bytes) != 0)
        return vssm_err_set(err, VSSM_ERR_DEVICE, "uploading the input to the device failed");

    patch_embed(m, st);
    const int64_t M0 = (int64_t)B * st->hs[0] * st->ws[0];
    size_t l0 = (size_t)M0 * C * sizeof(float);
    if (st->tap_pe) vssm_op_copy(ctx, st->tap_pe, st->feat[0], l0);

    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) {
        const vssm_stage_w *sw = &m->stage[s];
        /* CPU: micro-batches of about MICRO_TOKENS tokens: a big batch runs its early, large
         * stages image by image (working set in cache, GEMMs already tall) and its late,
         * small stages together (taller GEMMs), so no batch is slower per image than 1.
         * A GPU wants the opposite: the whole batch per launch (image by image, every
         * kernel ran at batch 1: VMamba-T batch 32 took 37.5 ms, not 20.6; H200, session 11). */
        const int64_t L = (int64_t)st->hs[s] * st->ws[s];
        const int64_t mt = st->micro_tokens > 0                      ? st->micro_tokens
                           : vssm_ctx_device(ctx) == VSSM_DEVICE_CPU ? MICRO_TOKENS
                                                                     : (int64_t)B * L;
        const int64_t mb64 = mt / L;
        const int mb = mb64 < 1 ? 1 : mb64 > B ? B : (int)mb64;
        const size_t slab = (size_t)L * cfg->dims[s];
        for (int b0 = 0; b0 < B; b0 += mb) {
            const int nb = B - b0 < mb ? B - b0 : mb;
            for (int j = 0; j < cfg->depths[s]; j++) {
                vss_block(m, st, s, &sw->blocks[j], st->feat[s] + slab * b0, nb);
                if (s == 0 && j == 0 && st->tap_b0)
                    vssm_op_copy(ctx, st->tap_b0 + slab * b0, st->feat[0] + slab * b0, slab * nb * sizeof(float));
            }
        }
        if (s + 1 < VSSM_VMAMBA_STAGES) downsample(m, st, s);
    }
    return vssm_op_status(ctx, "the forward pass", err);
}

vssm_tensor vssm_vmamba_feature(const vssm_vmamba_state *st, int s) {
    vssm_tensor t;
    memset(&t, 0, sizeof t);
    if (s < 0 || s >= VSSM_VMAMBA_STAGES) return t;
    t.data = st->feat[s];
    t.dtype = VSSM_DTYPE_F32;
    t.ndim = 4;
    t.shape[0] = st->B;
    t.shape[1] = st->hs[s];
    t.shape[2] = st->ws[s];
    t.shape[3] = st->m->cfg.dims[s];
    t.device = vssm_ctx_device(st->m->ctx);
    return t;
}

vssm_status vssm_vmamba_state_keep_taps(vssm_vmamba_state *st, vssm_err *err) {
    if (st->tap_pe) return VSSM_OK;
    const size_t l0 = (size_t)st->B * st->hs[0] * st->ws[0] * st->m->cfg.dims[0] * sizeof(float);
    int fail = 0;
    st->tap_pe = state_alloc(st, l0, &fail);
    st->tap_b0 = state_alloc(st, l0, &fail);
    if (!fail) return VSSM_OK;
    vssm_op_free(st->m->ctx, st->tap_pe);
    vssm_op_free(st->m->ctx, st->tap_b0);
    st->tap_pe = st->tap_b0 = NULL;
    return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for the debug taps");
}

vssm_tensor vssm_vmamba_tap(const vssm_vmamba_state *st, const char *name) {
    vssm_tensor t = vssm_vmamba_feature(st, 0);
    if (!strcmp(name, "patch_embed"))
        t.data = st->tap_pe;
    else if (!strcmp(name, "block0"))
        t.data = st->tap_b0;
    else
        memset(&t, 0, sizeof t);
    return t;
}


/* ======================================================================= the backbone table */

static int vm_detect(const vssm_source *src, char *prefix, size_t n) {
    return vssm_vmamba_find_prefix(src, prefix, n, NULL) == VSSM_OK;
}

/* config + preprocessing from a stated arch (checked against the tensors; classes from the
 * file), the metadata, or the shapes */
static vssm_status vm_resolve(const vssm_source *src, const char *arch, vssm_backbone_spec *sp, vssm_err *err) {
    vssm_status s;
    vssm_vmamba_config *cfg = &sp->cfg.vmamba;
    if ((s = vssm_vmamba_find_prefix(src, sp->prefix, sizeof sp->prefix, err)) != VSSM_OK) return s;
    const int has_meta = src->meta && src->meta(src->user, "dims");
    if (arch) {
        vssm_vmamba_config inferred;
        if ((s = vssm_vmamba_config_preset(cfg, arch, err)) != VSSM_OK) return s;
        cfg->num_classes = vssm_vmamba_config_infer(src, sp->prefix, &inferred, NULL) == VSSM_OK ? inferred.num_classes
                                                                                                 : 0;
        if ((s = vssm_vmamba_config_check(cfg, src, sp->prefix, err)) != VSSM_OK) return s;
        vssm_vmamba_config ignored;
        if (has_meta) vssm_vmamba_config_from_meta(src, &ignored, &sp->pp, NULL);
        return VSSM_OK;
    }
    sp->from_meta = has_meta;
    if (has_meta) return vssm_vmamba_config_from_meta(src, cfg, &sp->pp, err);
    return vssm_vmamba_config_infer(src, sp->prefix, cfg, err);
}

static void vm_describe(const vssm_backbone_spec *sp, vssm_backbone_desc *d) {
    const vssm_vmamba_config *c = &sp->cfg.vmamba;
    snprintf(d->arch, sizeof d->arch, "%s", c->arch);
    d->num_classes = c->num_classes;
    vssm_config_meta cm;
    vssm_vmamba_config_to_meta(c, NULL, &cm); /* the config keys only */
    for (int i = 0; i < cm.n && d->n_meta < VSSM_BACKBONE_META_MAX; i++, d->n_meta++) {
        snprintf(d->meta_key[d->n_meta], sizeof d->meta_key[0], "%s", cm.key[i]);
        snprintf(d->meta_value[d->n_meta], sizeof d->meta_value[0], "%s", cm.value[i]);
    }
}

static vssm_status vm_load(void **m, vssm_ctx *ctx, vssm_backbone_spec *sp, const vssm_source *src,
                           const vssm_backbone_opts *opts, vssm_err *err) {
    (void)opts;
    vssm_vmamba *vm = NULL;
    vssm_status s = vssm_vmamba_load(&vm, ctx, &sp->cfg.vmamba, src, sp->prefix, err);
    *m = vm;
    return s;
}

static void vm_free(void *m) { vssm_vmamba_free((vssm_vmamba *)m); }
static const vssm_vmamba_config *vm_cfg(const void *m) { return vssm_vmamba_get_config((const vssm_vmamba *)m); }
static const char *vm_arch(const void *m) { return vm_cfg(m)->arch; }
static vssm_ctx *vm_ctx(const void *m) { return vssm_vmamba_ctx((const vssm_vmamba *)m); }
static int vm_in_chans(const void *m) { return vm_cfg(m)->in_chans; }
static int vm_min_side(const void *m) { return vssm_vmamba_is_v0(vm_cfg(m)) ? 4 : 1; }
static int vm_num_classes(const void *m) { return vm_cfg(m)->num_classes; }
static vssm_cls_input vm_cls_input(const void *m) {
    (void)m;
    return VSSM_CLS_POOLED;
}
static int vm_stages(const void *m) {
    (void)m;
    return VSSM_VMAMBA_STAGES;
}
static int vm_stage_channels(const void *m, int s) { return vm_cfg(m)->dims[s]; }
static int vm_stage_stride(const void *m, int s) {
    (void)m;
    return 4 << s;
}
/* v2: the centre of the stride-2 3x3 conv chain; v0: of the stride x stride cell a 4x4 patch
 * embed and 2x2 merges cover */
static double vm_stage_offset(const void *m, int s) { return vssm_vmamba_is_v0(vm_cfg(m)) ? (4 << s) / 2.0 : 0.5; }
static void vm_stage_size(const void *m, int h, int w, int s, int *hs, int *ws) {
    vssm_vmamba_config_stage_size(vm_cfg(m), h, w, s, hs, ws);
}
static double vm_macs(const void *m, int h, int w) { return vssm_vmamba_macs(vm_cfg(m), h, w); }
static int64_t vm_params(const void *m) { return vssm_vmamba_param_count(vm_cfg(m)); }
static size_t vm_weight_bytes(const void *m) { return ((const vssm_vmamba *)m)->arena_bytes; }
static vssm_status vm_state_new(void **st, void *m, int batch, int h, int w, vssm_err *err) {
    vssm_vmamba_state *s = NULL;
    vssm_status r = vssm_vmamba_state_new(&s, (vssm_vmamba *)m, batch, h, w, err);
    *st = s;
    return r;
}
static void vm_state_free(void *st) { vssm_vmamba_state_free((vssm_vmamba_state *)st); }
static size_t vm_state_bytes(const void *st) { return vssm_vmamba_state_bytes((const vssm_vmamba_state *)st); }
static vssm_status vm_forward(void *m, void *st, const float *x, vssm_err *err) {
    return vssm_vmamba_forward((vssm_vmamba *)m, (vssm_vmamba_state *)st, x, err);
}
static vssm_tensor vm_feature(const void *m, const void *st, int s) {
    (void)m;
    return vssm_vmamba_feature((const vssm_vmamba_state *)st, s);
}

const vssm_backbone_impl vssm_vmamba_impl = {
    .kind = VSSM_BACKBONE_VMAMBA,
    .name = "VMamba",
    .arch_prefix = "vmamba",
    .detect = vm_detect,
    .resolve = vm_resolve,
    .load = vm_load,
    .free = vm_free,
    .describe = vm_describe,
    .arch = vm_arch,
    .ctx = vm_ctx,
    .in_chans = vm_in_chans,
    .min_side = vm_min_side,
    .num_classes = vm_num_classes,
    .cls_input = vm_cls_input,
    .stages = vm_stages,
    .stage_channels = vm_stage_channels,
    .stage_stride = vm_stage_stride,
    .stage_offset = vm_stage_offset,
    .stage_size = vm_stage_size,
    .macs = vm_macs,
    .params = vm_params,
    .weight_bytes = vm_weight_bytes,
    .state_new = vm_state_new,
    .state_free = vm_state_free,
    .state_bytes = vm_state_bytes,
    .forward = vm_forward,
    .feature = vm_feature,
    .cls_token = NULL,
};
